package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cloud.yaml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// noEnv keeps the developer's own DALABA_* variables out of a test.
func noEnv(t *testing.T) {
	t.Setenv(EnvDataDir, "")
	t.Setenv(EnvMQTTURL, "")
	t.Setenv(EnvStoreDSN, "")
	t.Setenv(EnvReplica, "")
}

func TestExampleEqualsDefaults(t *testing.T) {
	noEnv(t)
	got, err := Load("../../configs/cloud.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("configs/cloud.example.yaml differs from the defaults:\n got %+v\nwant %+v", got, want)
	}
}

func TestDefaultsAreValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	noEnv(t)
	got, err := Load(write(t, ""))
	if err != nil || !reflect.DeepEqual(got, Default()) {
		t.Fatalf("empty file: %+v, %v", got, err)
	}
}

func TestFileOverridesDefaults(t *testing.T) {
	noEnv(t)
	got, err := Load(write(t, "data_dir: /srv/dalaba\nmqtt:\n  listen: 127.0.0.1:8883\ndesired:\n  validity: 48h\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.DataDir, want.MQTT.Listen, want.Desired.Validity = "/srv/dalaba", "127.0.0.1:8883", 48*time.Hour
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestUnknownKeyNamesLine(t *testing.T) {
	_, err := Load(write(t, "data_dir: /x\nhttp:\n  listen: 127.0.0.1:1\n  lisen: typo\n"))
	if err == nil || !strings.Contains(err.Error(), "line 4") || !strings.Contains(err.Error(), "lisen") {
		t.Fatalf("err = %v, want the unknown key and its line", err)
	}
}

func TestValidateReportsEverything(t *testing.T) {
	noEnv(t)
	_, err := Load(write(t, `data_dir: ""
http: {listen: nope}
mqtt: {embedded: false, url: "ftp://x", username: "", client_id: plainid, public_url: "tcp://nohost"}
desired: {validity: 1m}
log: {level: loud, format: xml}
`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"data_dir", "http.listen", "mqtt.url", "mqtt.username", "client_id", "public_url", "desired.validity", "log.level", "log.format"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

func TestValidateEmbedded(t *testing.T) {
	cases := []validateCase{
		{"defaults", func(*Config) {}, ""},
		{"port zero", func(c *Config) { c.MQTT.Listen = "127.0.0.1:0" }, ""},
		{"bad listen", func(c *Config) { c.MQTT.Listen = "1883" }, "mqtt.listen"},
		{"cert without key", func(c *Config) { c.MQTT.CertFile = "c.pem" }, "cert_file and mqtt.key_file"},
		{"url ignored when embedded", func(c *Config) { c.MQTT.URL = "nonsense" }, ""},
		{"presence timeout ignored when embedded", func(c *Config) { c.MQTT.PresenceTimeout = 0 }, ""},
		{"no messages per second", func(c *Config) { c.MQTT.BoxLimit.MessagesPerSecond = 0 }, "mqtt.box_limit.messages_per_second"},
		{"no message burst", func(c *Config) { c.MQTT.BoxLimit.MessageBurst = -1 }, "mqtt.box_limit.message_burst"},
		{"byte burst below the largest packet", func(c *Config) { c.MQTT.BoxLimit.ByteBurst = 1 << 20 }, "mqtt.box_limit.byte_burst"},
		{"byte rate too slow for the largest packet", func(c *Config) { c.MQTT.BoxLimit.BytesPerSecond = 64 << 10 }, "mqtt.box_limit.bytes_per_second"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestValidateExternal(t *testing.T) {
	external := func(c *Config) { c.MQTT.Embedded, c.MQTT.URL = false, "tcp://10.0.0.5:1883" }
	cases := []validateCase{
		{"defaults", func(*Config) {}, ""},
		{"box limit ignored with an external broker", func(c *Config) { c.MQTT.BoxLimit.MessagesPerSecond = 0 }, ""},
		{"presence timeout below a second", func(c *Config) { c.MQTT.PresenceTimeout = 500 * time.Millisecond }, "mqtt.presence_timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			external(&c)
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	t.Setenv(EnvDataDir, "/srv/dalaba")
	t.Setenv(EnvMQTTURL, "tcp://10.0.0.5:1883")
	got, err := Load(write(t, "data_dir: /from/file\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got.DataDir != "/srv/dalaba" || got.MQTT.URL != "tcp://10.0.0.5:1883" || got.MQTT.Embedded {
		t.Errorf("env not applied over the file: %+v", got)
	}
}

func TestReadDoesNotValidate(t *testing.T) {
	noEnv(t)
	cfg, err := Read(write(t, "data_dir: \"\"\n"))
	if err != nil {
		t.Fatalf("Read validated: %v", err)
	}
	if cfg.Validate() == nil {
		t.Fatal("Validate accepted an empty data_dir")
	}
}

func TestPublicBrokerURL(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		edit  func(*Config)
		bound string
		want  string
	}{
		{"wildcard host becomes this host", func(*Config) {}, "0.0.0.0:41883", "tcp://" + host + ":41883"},
		{"listen when nothing is bound yet", func(c *Config) { c.MQTT.Listen = "10.2.0.1:1883" }, "", "tcp://10.2.0.1:1883"},
		{"bound address wins over listen", func(c *Config) { c.MQTT.Listen = "127.0.0.1:0" }, "127.0.0.1:5555", "tcp://127.0.0.1:5555"},
		{"tls when a certificate is set", func(c *Config) { c.MQTT.CertFile, c.MQTT.KeyFile = "c", "k" }, "10.1.1.1:8883", "tls://10.1.1.1:8883"},
		{"external broker", func(c *Config) { c.MQTT.Embedded = false; c.MQTT.URL = "tcp://broker:1883" }, "", "tcp://broker:1883"},
		{"explicit", func(c *Config) { c.MQTT.PublicURL = "tls://township.example.cn:8883" }, "0.0.0.0:1", "tls://township.example.cn:8883"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			tc.edit(&cfg)
			if got := cfg.PublicBrokerURL(tc.bound); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPublicHTTPURL(t *testing.T) {
	host := thisHost()
	cases := []struct {
		name, listen, public, bound, want string
	}{
		{"default", "127.0.0.1:8080", "", "", "http://127.0.0.1:8080"},
		{"the port actually bound", "127.0.0.1:0", "", "127.0.0.1:41234", "http://127.0.0.1:41234"},
		{"wildcard host", "0.0.0.0:8080", "", "", "http://" + host + ":8080"},
		{"configured, trailing slash dropped", "127.0.0.1:8080", "https://township.example/dalaba/", "127.0.0.1:1", "https://township.example/dalaba"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Default()
			cfg.HTTP.Listen, cfg.HTTP.PublicURL = c.listen, c.public
			if got := cfg.PublicHTTPURL(c.bound); got != c.want {
				t.Fatalf("PublicHTTPURL(%q) = %q, want %q", c.bound, got, c.want)
			}
		})
	}
}

func TestTrustedProxiesFromTheFile(t *testing.T) {
	noEnv(t)
	got, err := Load(write(t, "http:\n  trusted_proxies: [127.0.0.1/32, \"::1/128\", 192.0.2.10]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"127.0.0.1/32", "::1/128", "192.0.2.10"}; !reflect.DeepEqual(got.HTTP.TrustedProxies, want) {
		t.Fatalf("trusted_proxies = %q, want %q", got.HTTP.TrustedProxies, want)
	}
}

func TestValidateHTTPAndMedia(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"public url without scheme", func(c *Config) { c.HTTP.PublicURL = "township.example" }, "http.public_url"},
		{"public url of another scheme", func(c *Config) { c.HTTP.PublicURL = "ftp://township.example" }, "http.public_url"},
		{"public url with a query", func(c *Config) { c.HTTP.PublicURL = "https://township.example/?a=1" }, "http.public_url"},
		{"trusted proxy that is a name", func(c *Config) { c.HTTP.TrustedProxies = []string{"proxy.township"} }, `http.trusted_proxies: trusted proxy "proxy.township"`},
		{"trusted proxy with bad bits", func(c *Config) { c.HTTP.TrustedProxies = []string{"127.0.0.1/32", "10.0.0.0/33"} }, `"10.0.0.0/33"`},
		{"clips too small", func(c *Config) { c.Media.MaxBytes = 10 }, "media.max_bytes"},
		{"clips too large", func(c *Config) { c.Media.MaxBytes = 1 << 30 }, "media.max_bytes"},
		{"no approvals", func(c *Config) { c.Lists.Approvals = 0 }, "lists.approvals"},
		{"publication at no time", func(c *Config) { c.Lists.Publish.At = nil }, "lists.publish"},
		{"publication at 24:30", func(c *Config) { c.Lists.Publish.At = []string{"24:30"} }, "lists.publish"},
		{"unknown tts engine", func(c *Config) { c.TTS.Engine = "festival" }, "tts.engine"},
		{"http tts without a url", func(c *Config) { c.TTS.Engine = "http" }, "tts.http.url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Default()
			c.edit(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate = %v, want an error about %s", err, c.want)
			}
		})
	}
}

func TestValidateStore(t *testing.T) {
	cases := []validateCase{
		{"bolt by default", func(*Config) {}, ""},
		{"postgres URL", func(c *Config) {
			c.Store = Store{Kind: StorePostgres, DSN: "postgres://dalaba@db.county.example:5432/dalaba?sslmode=verify-full"}
		}, ""},
		{"postgres key=value", func(c *Config) { c.Store = Store{Kind: StorePostgres, DSN: "host=/run/postgresql dbname=dalaba"} }, ""},
		{"postgres without a dsn", func(c *Config) { c.Store.Kind = StorePostgres }, "store.dsn"},
		{"postgres URL without a host", func(c *Config) { c.Store = Store{Kind: StorePostgres, DSN: "postgres:///dalaba"} }, "no host"},
		{"another scheme", func(c *Config) { c.Store = Store{Kind: StorePostgres, DSN: "mysql://db/dalaba"} }, "store.dsn"},
		{"a word", func(c *Config) { c.Store = Store{Kind: StorePostgres, DSN: "dalaba"} }, "store.dsn"},
		{"a dsn for bolt", func(c *Config) { c.Store.DSN = "postgres://db/dalaba" }, "store.dsn is set"},
		{"unknown kind", func(c *Config) { c.Store.Kind = "sqlite" }, "store.kind"},
	}
	checkValidate(t, cases)
}

func TestStoreDSNFromEnvironment(t *testing.T) {
	noEnv(t)
	t.Setenv(EnvStoreDSN, "postgres://dalaba@db.county.example/dalaba")
	got, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Store{Kind: StorePostgres, DSN: "postgres://dalaba@db.county.example/dalaba"}); got.Store != want {
		t.Fatalf("store = %+v, want %+v", got.Store, want)
	}
}

func TestValidateCluster(t *testing.T) {
	replicas := func(c *Config) {
		c.MQTT.Embedded, c.MQTT.URL = false, "tcp://emqx.county.example:1883"
		c.Store = Store{Kind: StorePostgres, DSN: "postgres://dalaba@db.county.example/dalaba"}
		c.Cluster.Replica = "r1"
	}
	cases := []validateCase{
		{"alone by default", func(*Config) {}, ""},
		{"a replica on postgres and an external broker", replicas, ""},
		{"a replica on bolt", func(c *Config) { replicas(c); c.Store = Store{Kind: StoreBolt} }, "replicas need store.kind postgres"},
		{"a replica with the embedded broker", func(c *Config) { replicas(c); c.MQTT.Embedded = true }, "replicas need an external broker"},
		{"a replica name with a slash", func(c *Config) { replicas(c); c.Cluster.Replica = "r/1" }, "cluster.replica"},
		{"a replica name too long", func(c *Config) { replicas(c); c.Cluster.Replica = strings.Repeat("r", 33) }, "cluster.replica"},
		{"a share group with a plus", func(c *Config) { replicas(c); c.Cluster.ShareGroup = "a+" }, "cluster.share_group"},
	}
	checkValidate(t, cases)
}

func TestReplicaFromEnvironmentNamesTheClientID(t *testing.T) {
	noEnv(t)
	t.Setenv(EnvReplica, "r2")
	got, err := Read("")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Clustered() || got.ClientID() != CloudAccount+".r2" {
		t.Fatalf("clustered %v, client id %q; want true, %q", got.Clustered(), got.ClientID(), CloudAccount+".r2")
	}
	if alone := Default(); alone.Clustered() || alone.ClientID() != CloudAccount {
		t.Fatalf("alone: clustered %v, client id %q", alone.Clustered(), alone.ClientID())
	}
}

// validateCase is a change to the defaults and what Validate says of it.
type validateCase struct {
	name string
	edit func(*Config)
	want string // "" = valid, else a part of the error
}

func checkValidate(t *testing.T, cases []validateCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
