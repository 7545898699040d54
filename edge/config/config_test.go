package config

import (
	"math/bits"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// clearEnv keeps a developer's own DALABA_* variables out of a test: an
// empty variable overrides nothing.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{EnvBrokerURL, EnvBrokerPassword, EnvDataDir} {
		t.Setenv(k, "")
	}
}

// A provisioned box's identity, as `dalaba-cloud box add` prints it.
const identity = `box_id: v1
township_key: huS1GmUlkx0LKJBt2GLbKIKBo49rIhq9nCTqv09gajI=
broker:
    url: tcp://127.0.0.1:18830
    username: v1
    password: secret
`

func TestExampleIsTheDefaultsPlusIdentity(t *testing.T) {
	clearEnv(t)
	got, err := Load("../../configs/edge.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("the example does not validate: %v", err)
	}
	// The identity is what the example must set, as every real file does.
	for key, v := range map[string]string{"box_id": got.BoxID, "township_key": got.TownshipKey,
		"broker.url": got.Broker.URL, "broker.username": got.Broker.Username, "broker.password": got.Broker.Password} {
		if v == "" {
			t.Errorf("the example leaves %s empty", key)
		}
	}
	want := Default()
	want.BoxID, want.TownshipKey = got.BoxID, got.TownshipKey
	want.Broker.URL, want.Broker.Username, want.Broker.Password = got.Broker.URL, got.Broker.Username, got.Broker.Password
	if got != want {
		t.Errorf("configs/edge.example.yaml differs from the defaults beyond identity:\n got %+v\nwant %+v", got, want)
	}
}

func TestProvisionedConfigLoads(t *testing.T) {
	clearEnv(t)
	cfg, err := Load(write(t, identity))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.SocketPath() != "/var/lib/dalaba/dalaba-edge.sock" || len(cfg.PublicKey()) != 32 || cfg.Outbox.Window != 4 {
		t.Errorf("derived values: socket %q, key %d bytes, window %d", cfg.SocketPath(), len(cfg.PublicKey()), cfg.Outbox.Window)
	}
}

func TestEmptyFileIsTheDefaults(t *testing.T) {
	clearEnv(t)
	cfg, err := Load(write(t, "# nothing yet\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg != Default() {
		t.Errorf("got %+v", cfg)
	}
}

func TestLoadRefusesBadFilesNamingTheLine(t *testing.T) {
	clearEnv(t)
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown top-level key", "box_id: v1\nbox_name: x\n", []string{"line 2", "box_name"}},
		{"unknown nested key", "box_id: v1\noutbox:\n  window: 2\n  windw: 3\n", []string{"line 4", "windw"}},
		{"duration that is not one", "health_interval: soon\n", []string{"line 1", "soon"}},
		{"number that is not one", "outbox:\n  window: four\n", []string{"line 2", "four"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(write(t, c.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q: %v", w, err)
				}
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("a missing file was accepted")
	}
}

func TestValidateNamesEachBadKey(t *testing.T) {
	valid := func() Config {
		c := Default()
		c.BoxID, c.TownshipKey, c.Broker.URL = "v1", "huS1GmUlkx0LKJBt2GLbKIKBo49rIhq9nCTqv09gajI=", "tls://township.example:8883"
		return c
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("the valid base fails: %v", err)
	}
	cases := []struct {
		key    string
		change func(*Config)
	}{
		{"box_id", func(c *Config) { c.BoxID = "Village/1" }},
		{"township_key", func(c *Config) { c.TownshipKey = "c2hvcnQ=" }},
		{"broker.url", func(c *Config) { c.Broker.URL = "http://township:80" }},
		{"broker.url", func(c *Config) { c.Broker.URL = "tcp://township" }},
		{"broker.url", func(c *Config) { c.Broker.URL = "" }},
		{"broker.ca_file", func(c *Config) { c.Broker.CAFile = "/nonexistent/ca.pem" }},
		{"broker.ca_file", func(c *Config) { c.Broker.URL, c.Broker.CAFile = "tcp://township:1883", "config_test.go" }},
		{"broker.keepalive", func(c *Config) { c.Broker.KeepAlive = 500 * time.Millisecond }},
		{"broker.connect_timeout", func(c *Config) { c.Broker.ConnectTimeout = 0 }},
		{"data_dir", func(c *Config) { c.DataDir = "" }},
		{"local_api", func(c *Config) { c.DataDir = "/" + strings.Repeat("d", 120) }},
		{"outbox.max_bytes", func(c *Config) { c.Outbox.MaxBytes = 1000 }},
		{"outbox.batch_events", func(c *Config) { c.Outbox.BatchEvents = 0 }},
		{"outbox.batch_bytes", func(c *Config) { c.Outbox.BatchBytes = 4 << 20 }},
		{"outbox.window", func(c *Config) { c.Outbox.Window = 65 }},
		{"outbox.ack_timeout", func(c *Config) { c.Outbox.AckTimeout = time.Millisecond }},
		{"health_interval", func(c *Config) { c.HealthInterval = 0 }},
		{"log.level", func(c *Config) { c.Log.Level = "loud" }},
		{"log.format", func(c *Config) { c.Log.Format = "xml" }},
		{"relay.listen", func(c *Config) { c.Relay.Listen = "0.0.0.0:8554" }},
		{"relay.anonymous", func(c *Config) { c.Relay.Anonymous, c.Relay.Username, c.Relay.Password = true, "nvr", "x" }},
		{"relay.password", func(c *Config) { c.Relay.Password = "x" }},
		{"relay.linger", func(c *Config) { c.Relay.Linger = 2 * time.Hour }},
		{"relay.rtp_port", func(c *Config) { c.Relay.RTPPort = 8001 }},
		{"relay.rtp_port", func(c *Config) { c.Relay.RTPPort = 554 }},
		{"relay.rtp_port", func(c *Config) { c.Relay.RTPPort, c.Relay.UDP = 8000, false }},
		{"relay.rtp_port", func(c *Config) { c.Relay.RTPPort, c.WebRTC.UDPPortMin, c.WebRTC.UDPPortMax = 40010, 40000, 40100 }},
		{"webrtc.udp_port_min", func(c *Config) { c.WebRTC.UDPPortMin = 40000 }},
		{"webrtc.udp_port_min", func(c *Config) { c.WebRTC.UDPPortMin, c.WebRTC.UDPPortMax = 40100, 40000 }},
		{"webrtc.udp_port_min", func(c *Config) { c.WebRTC.UDPPortMin, c.WebRTC.UDPPortMax = 80, 100 }},
		{"webrtc.udp_port_min-udp_port_max", func(c *Config) { c.WebRTC.UDPPortMin, c.WebRTC.UDPPortMax = 40000, 40009 }},
		{"webrtc.session_timeout", func(c *Config) { c.WebRTC.SessionTimeout = 0 }},
		{"webrtc.disconnected_timeout", func(c *Config) { c.WebRTC.DisconnectedTimeout = time.Millisecond }},
		{"webrtc.max_viewers", func(c *Config) { c.WebRTC.MaxViewers = 0 }},
		{"webrtc.max_pages", func(c *Config) { c.WebRTC.MaxPages = 65 }},
		{"webrtc.page_idle_timeout", func(c *Config) { c.WebRTC.PageIdleTimeout = 0 }},
		{"webrtc.page_max_duration", func(c *Config) { c.WebRTC.PageMaxDuration = 48 * time.Hour }},
		{"metrics.listen", func(c *Config) { c.Metrics.Listen = "9101" }},
		{"metrics.token", func(c *Config) { c.Metrics.Token = "0123456789abcdef" }},
		{"metrics.token", func(c *Config) { c.Metrics.Listen, c.Metrics.Token = "127.0.0.1:9101", "short" }},
		{"diag.log_lines", func(c *Config) { c.Diag.LogLines = 10 }},
		{"diag.log_bytes", func(c *Config) { c.Diag.LogBytes = 1 << 30 }},
		{"diag.log_level", func(c *Config) { c.Diag.LogLevel = "trace" }},
		{"diag.probe_timeout", func(c *Config) { c.Diag.ProbeTimeout = time.Hour }},
	}
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			cfg := valid()
			c.change(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.key) {
				t.Errorf("err = %v, want one naming %s", err, c.key)
			}
		})
	}
}

// A 32-bit box refuses an outbox that its bbolt file could not map; a
// 64-bit one takes it. make test-armv7 runs this on armv7.
func TestOutboxCapFitsTheAddressSpace(t *testing.T) {
	c := Default()
	c.BoxID, c.TownshipKey, c.Broker.URL = "v1", "huS1GmUlkx0LKJBt2GLbKIKBo49rIhq9nCTqv09gajI=", "tls://township.example:8883"
	c.Outbox.MaxBytes = MaxOutbox32
	if err := c.Validate(); err != nil {
		t.Fatalf("an outbox of %d bytes: %v", c.Outbox.MaxBytes, err)
	}
	c.Outbox.MaxBytes = 4 << 30
	err := c.Validate()
	if bits.UintSize == 32 {
		if err == nil || !strings.Contains(err.Error(), "outbox.max_bytes") {
			t.Fatalf("a 32-bit box took a 4 GiB outbox: err = %v", err)
		}
	} else if err != nil {
		t.Fatalf("a 64-bit box refused a 4 GiB outbox: %v", err)
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	cfg := Default() // no identity at all
	cfg.Outbox.Window = 0
	cfg.Log.Level = "loud"
	err := cfg.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"box_id", "township_key", "broker.url", "outbox.window", "log.level"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
	if n := len(strings.Split(err.Error(), "\n")); n != 5 {
		t.Errorf("%d lines, want one per problem:\n%v", n, err)
	}
}

// A relay reachable beyond the box asks its readers for credentials,
// unless the file says plainly that anyone may watch.
func TestRelayBeyondLoopbackWantsCredentials(t *testing.T) {
	clearEnv(t)
	cases := []struct {
		name, relay string
		ok          bool
	}{
		{"the default, loopback", "", true},
		{"loopback by name", "  listen: localhost:8554\n", true},
		{"IPv6 loopback", "  listen: \"[::1]:8554\"\n", true},
		{"the LAN without credentials", "  listen: 0.0.0.0:8554\n", false},
		{"every interface without credentials", "  listen: \":8554\"\n", false},
		{"a LAN address without credentials", "  listen: 192.168.1.2:8554\n", false},
		{"the LAN with a username only", "  listen: 0.0.0.0:8554\n  username: nvr\n", false},
		{"the LAN with credentials", "  listen: 0.0.0.0:8554\n  username: nvr\n  password: s3cret\n", true},
		{"the LAN, anonymous said plainly", "  listen: 0.0.0.0:8554\n  anonymous: true\n", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Load(write(t, identity+"relay:\n"+c.relay))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			if c.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !c.ok && (err == nil || !strings.Contains(err.Error(), "relay.username and relay.password") || !strings.Contains(err.Error(), "relay.anonymous: true")) {
				t.Fatalf("err = %v, want one asking for credentials or relay.anonymous", err)
			}
		})
	}
}

// A firewalled village pins its ports: the relay's RTP pair and the range
// its WebRTC sessions bind.
func TestPinnedPorts(t *testing.T) {
	clearEnv(t)
	cfg, err := Load(write(t, identity+"relay:\n  rtp_port: 8000\nwebrtc:\n  udp_port_min: 40000\n  udp_port_max: 40099\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Relay.RTPPort != 8000 || cfg.WebRTC.UDPPortMin != 40000 || cfg.WebRTC.UDPPortMax != 40099 {
		t.Fatalf("ports read as %+v %+v", cfg.Relay, cfg.WebRTC)
	}
	// Every problem of the two sections at once.
	cfg.Relay.RTPPort, cfg.WebRTC.UDPPortMax, cfg.WebRTC.MaxPages, cfg.WebRTC.SessionTimeout = 7, 0, 0, time.Hour
	err = cfg.Validate()
	for _, want := range []string{"relay.rtp_port 7", "webrtc.udp_port_min and udp_port_max 40000-0", "webrtc.max_pages 0", "webrtc.session_timeout 1h"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestEnvironmentOverridesTheFile(t *testing.T) {
	file := identity + "data_dir: /srv/dalaba\n"
	cases := []struct {
		name, env, value string
		get              func(Config) string
		want             string
	}{
		{"broker url", EnvBrokerURL, "tls://township:8883", func(c Config) string { return c.Broker.URL }, "tls://township:8883"},
		{"broker password", EnvBrokerPassword, "from-env", func(c Config) string { return c.Broker.Password }, "from-env"},
		{"data dir", EnvDataDir, "/data", func(c Config) string { return c.DataDir }, "/data"},
		{"empty leaves the file's", EnvDataDir, "", func(c Config) string { return c.DataDir }, "/srv/dalaba"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clearEnv(t)
			t.Setenv(c.env, c.value)
			cfg, err := Load(write(t, file))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.get(cfg); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// The metrics endpoint is off unless configured; beyond loopback, only a
// scraper with the token reads it.
func TestMetricsBeyondLoopbackWantsAToken(t *testing.T) {
	clearEnv(t)
	cases := []struct {
		name, metrics string
		ok            bool
	}{
		{"off, the default", "", true},
		{"loopback, no token", "  listen: 127.0.0.1:9101\n", true},
		{"the LAN without a token", "  listen: 0.0.0.0:9101\n", false},
		{"a LAN address without a token", "  listen: 192.168.1.2:9101\n", false},
		{"the LAN with a token", "  listen: 192.168.1.2:9101\n  token: 0123456789abcdef\n", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Load(write(t, identity+"metrics:\n"+c.metrics))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			if c.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !c.ok && (err == nil || !strings.Contains(err.Error(), "set metrics.token")) {
				t.Fatalf("err = %v, want one asking for metrics.token", err)
			}
		})
	}
}

// What support reads of the configuration holds no secret, and says which
// keys it left out.
func TestRedactedHoldsNoSecret(t *testing.T) {
	clearEnv(t)
	cfg, err := Load(write(t, identity+"relay:\n  listen: 0.0.0.0:8554\n  username: nvr\n  password: relay-pass-9\n"+
		"metrics:\n  listen: 0.0.0.0:9101\n  token: metrics-token-0123456\n"))
	if err != nil {
		t.Fatal(err)
	}
	out, keys, err := cfg.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"relay-pass-9", "metrics-token-0123456", "password: secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("the redacted config shows %q:\n%s", secret, out)
		}
	}
	if got := strings.Join(keys, ","); got != "broker.password,relay.password,metrics.token" {
		t.Errorf("redacted keys %s", got)
	}
	for _, want := range []string{"box_id: v1", "username: nvr", "listen: 0.0.0.0:9101", "keepalive: 30s"} {
		if !strings.Contains(out, want) {
			t.Errorf("the redacted config lacks %q:\n%s", want, out)
		}
	}
	if cfg.Broker.Password != "secret" {
		t.Error("Redacted changed the config itself")
	}
	// What it renders reads back as the same config, the secrets aside.
	back, err := Load(write(t, out))
	if err != nil {
		t.Fatal(err)
	}
	back.Broker.Password, back.Relay.Password, back.Metrics.Token = cfg.Broker.Password, cfg.Relay.Password, cfg.Metrics.Token
	if back != cfg {
		t.Errorf("read back %+v\nwant %+v", back, cfg)
	}
}

// Every key whose name speaks of a secret is marked secret, so a new one
// cannot reach support's screen by being forgotten.
func TestEverySecretKeyIsMarked(t *testing.T) {
	var walk func(t reflect.Type, prefix string)
	walk = func(rt reflect.Type, prefix string) {
		for f := range rt.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Time]() {
				walk(f.Type, prefix+name+".")
				continue
			}
			secretish := strings.Contains(name, "password") || strings.Contains(name, "token") || strings.Contains(name, "secret")
			if secretish && f.Tag.Get("secret") != "true" {
				t.Errorf("%s%s is not tagged secret:\"true\"", prefix, name)
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
}
