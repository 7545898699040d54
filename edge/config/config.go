package config

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/dalaba/dalaba/internal/logging"
	"github.com/dalaba/dalaba/internal/yamlfile"

	"github.com/dalaba/dalaba/protocol"
)

// Config is everything dalaba-edge reads at start. The zero value is not
// usable; start from Default.
type Config struct {
	BoxID          string         `yaml:"box_id"`       // required; also the MQTT client id
	TownshipKey    string         `yaml:"township_key"` // required; base64 ed25519 public key
	Broker         Broker         `yaml:"broker"`
	DataDir        string         `yaml:"data_dir"`  // default /var/lib/dalaba
	LocalAPI       string         `yaml:"local_api"` // unix socket; empty = <data_dir>/dalaba-edge.sock
	Outbox         Outbox         `yaml:"outbox"`
	HealthInterval time.Duration  `yaml:"health_interval"` // default 1m
	Media          Media          `yaml:"media"`
	Broadcast      Broadcast      `yaml:"broadcast"`
	Relay          Relay          `yaml:"relay"`
	Log            logging.Config `yaml:"log"`
}

// Relay is the box's RTSP server re-serving the village's cameras to the
// LAN (an NVR) and, through WebRTC, to the township.
type Relay struct {
	// Listen is the RTSP address: rtsp://<box>:8554/<camera-id>.
	Listen string `yaml:"listen"`
	// Username and Password, when set, are what RTSP readers must give.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Linger is how long a camera is still pulled after its last viewer
	// left.
	Linger time.Duration `yaml:"linger"`
	// Discovery is where the box's ONVIF discovery probes go: empty for
	// WS-Discovery's multicast group on the LAN (239.255.255.250:3702),
	// or a host:port to probe one device. DiscoveryInterface sends them
	// out of that interface; empty lets the system pick.
	Discovery          string `yaml:"discovery"`
	DiscoveryInterface string `yaml:"discovery_interface"`
}

// Media is where announcements come from and how much of them the box
// keeps.
type Media struct {
	// URL is the township's media base: the box fetches URL + sha256 with
	// its broker user name and password. Empty: nothing is downloaded,
	// and only clips already cached play.
	URL      string `yaml:"url"`
	MaxBytes int64  `yaml:"max_bytes"` // the cache's cap; default 512 MiB
}

// Broadcast tunes the loudspeakers' side of the box.
type Broadcast struct {
	// Grace is how late a scheduled announcement may still start (after a
	// reboot, say); later ones are skipped and recorded. Default 2m.
	Grace time.Duration `yaml:"grace"`
	// HTTPListen is where the box serves clips to network speakers that
	// fetch a URL ("0.0.0.0:8090"); empty: such speakers cannot play.
	HTTPListen string `yaml:"http_listen"`
	// HTTPAdvertise is the host those speakers reach the box at; empty:
	// the host of HTTPListen.
	HTTPAdvertise string `yaml:"http_advertise"`
}

// Broker is how the box reaches the township's MQTT broker.
type Broker struct {
	URL            string        `yaml:"url"` // required: tcp://, ssl:// or tls://host:port
	Username       string        `yaml:"username"`
	Password       string        `yaml:"password"`
	CAFile         string        `yaml:"ca_file"`         // PEM; empty = the system roots
	KeepAlive      time.Duration `yaml:"keepalive"`       // default 30s
	ConnectTimeout time.Duration `yaml:"connect_timeout"` // default 10s
}

// Outbox bounds the event queue and shapes its upload.
type Outbox struct {
	MaxBytes    int64         `yaml:"max_bytes"`    // default 64 MiB
	BatchEvents int           `yaml:"batch_events"` // default 500
	BatchBytes  int           `yaml:"batch_bytes"`  // default 512 KiB
	Window      int           `yaml:"window"`       // batches in flight; default 4
	AckTimeout  time.Duration `yaml:"ack_timeout"`  // default 10s
}

// Default returns the built-in configuration (identity left empty).
func Default() Config {
	return Config{
		Broker:         Broker{KeepAlive: 30 * time.Second, ConnectTimeout: 10 * time.Second},
		DataDir:        "/var/lib/dalaba",
		Outbox:         Outbox{MaxBytes: 64 << 20, BatchEvents: 500, BatchBytes: 512 << 10, Window: 4, AckTimeout: 10 * time.Second},
		HealthInterval: time.Minute,
		Media:          Media{MaxBytes: 512 << 20},
		Broadcast:      Broadcast{Grace: 2 * time.Minute},
		Relay:          Relay{Listen: "0.0.0.0:8554", Linger: 30 * time.Second},
		Log:            logging.Default(),
	}
}

// The environment variables Load applies over the file. The password is
// here so that it can live in a systemd credential rather than the file;
// the others let an installer point a flashed image elsewhere.
const (
	EnvBrokerURL      = "DALABA_BROKER_URL"
	EnvBrokerPassword = "DALABA_BROKER_PASSWORD"
	EnvDataDir        = "DALABA_DATA_DIR"
)

// Load reads path over the defaults, then applies the DALABA_* environment
// (a set, non-empty variable wins over the file). It does not validate, so
// that flags can still override; call Validate after.
func Load(path string) (Config, error) {
	cfg := Default()
	if err := yamlfile.Decode(path, &cfg); err != nil {
		return Config{}, err
	}
	for _, o := range []struct {
		env string
		dst *string
	}{
		{EnvBrokerURL, &cfg.Broker.URL},
		{EnvBrokerPassword, &cfg.Broker.Password},
		{EnvDataDir, &cfg.DataDir},
	} {
		if v := os.Getenv(o.env); v != "" {
			*o.dst = v
		}
	}
	return cfg, nil
}

// SocketPath is the local API's unix socket: local_api, or
// <data_dir>/dalaba-edge.sock.
func (c Config) SocketPath() string {
	if c.LocalAPI != "" {
		return c.LocalAPI
	}
	return filepath.Join(c.DataDir, "dalaba-edge.sock")
}

// PublicKey returns the pinned township key (valid after Validate).
func (c Config) PublicKey() ed25519.PublicKey {
	k, _ := protocol.ParsePublicKey(c.TownshipKey) // Validate checked it
	return k
}

// maxSocketPath is the longest unix socket path Linux accepts (sun_path is
// 108 bytes with its terminating NUL). A longer one fails at listen time with
// a bare EINVAL, so it is caught here with a readable message.
const maxSocketPath = 107

// Validate reports every problem at once, one error per bad key, each
// naming the key.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("config: "+format, a...)) }
	if err := protocol.ValidateBoxID(c.BoxID); err != nil {
		bad("box_id: %v", err)
	}
	if _, err := protocol.ParsePublicKey(c.TownshipKey); err != nil {
		bad("township_key: %v", err)
	}
	u, err := url.Parse(c.Broker.URL)
	switch {
	case c.Broker.URL == "":
		bad("broker.url is empty: want tcp://, ssl:// or tls://host:port")
	case err != nil || u.Hostname() == "" || u.Port() == "" || (u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "tls"):
		bad("broker.url %q: want tcp://, ssl:// or tls://host:port", c.Broker.URL)
	case c.Broker.CAFile != "" && u.Scheme == "tcp":
		bad("broker.ca_file is set but broker.url %q is not ssl:// or tls://", c.Broker.URL)
	}
	if c.Broker.CAFile != "" {
		if _, err := os.Stat(c.Broker.CAFile); err != nil {
			bad("broker.ca_file: %v", err)
		}
	}
	// MQTT counts keepalive in whole seconds, up to 65535.
	if c.Broker.KeepAlive < time.Second || c.Broker.KeepAlive > 65535*time.Second {
		bad("broker.keepalive %s: 1s to 18h", c.Broker.KeepAlive)
	}
	if c.Broker.ConnectTimeout < time.Second {
		bad("broker.connect_timeout %s: at least 1s", c.Broker.ConnectTimeout)
	}
	if c.DataDir == "" {
		bad("data_dir is empty")
	}
	if p := c.SocketPath(); len(p) > maxSocketPath {
		bad("local_api %q: a unix socket path is at most %d bytes; set local_api to a shorter one", p, maxSocketPath)
	}
	if c.Outbox.MaxBytes < 1<<20 {
		bad("outbox.max_bytes %d: at least 1 MiB", c.Outbox.MaxBytes)
	}
	if c.Outbox.BatchEvents < 1 || c.Outbox.BatchEvents > protocol.MaxBatchEvents {
		bad("outbox.batch_events %d: 1-%d", c.Outbox.BatchEvents, protocol.MaxBatchEvents)
	}
	// Half the events topic's limit leaves room for the JSON framing of a
	// batch whose stored bytes are at the cap.
	if maxB := protocol.KindEvents.MaxPayload() / 2; c.Outbox.BatchBytes < 16<<10 || c.Outbox.BatchBytes > maxB {
		bad("outbox.batch_bytes %d: 16384 to %d", c.Outbox.BatchBytes, maxB)
	}
	if c.Outbox.Window < 1 || c.Outbox.Window > 64 {
		bad("outbox.window %d: 1-64", c.Outbox.Window)
	}
	if c.Outbox.AckTimeout < time.Second {
		bad("outbox.ack_timeout %s: at least 1s", c.Outbox.AckTimeout)
	}
	if c.HealthInterval < time.Second {
		bad("health_interval %s: at least 1s", c.HealthInterval)
	}
	if c.Media.URL != "" {
		if u, err := url.Parse(c.Media.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("media.url %q: want an http:// or https:// URL", c.Media.URL)
		}
	}
	if c.Media.MaxBytes < 16<<20 {
		bad("media.max_bytes %d: at least 16 MiB", c.Media.MaxBytes)
	}
	if c.Broadcast.Grace < time.Second || c.Broadcast.Grace > 24*time.Hour {
		bad("broadcast.grace %s: 1s to 24h", c.Broadcast.Grace)
	}
	if c.Broadcast.HTTPListen != "" {
		if _, _, err := net.SplitHostPort(c.Broadcast.HTTPListen); err != nil {
			bad("broadcast.http_listen %q: want host:port", c.Broadcast.HTTPListen)
		}
	}
	if _, _, err := net.SplitHostPort(c.Relay.Listen); err != nil {
		bad("relay.listen %q: want host:port", c.Relay.Listen)
	}
	if c.Relay.Password != "" && c.Relay.Username == "" {
		bad("relay.password is set but relay.username is empty")
	}
	if c.Relay.Linger < 0 || c.Relay.Linger > time.Hour {
		bad("relay.linger %s: 0 to 1h", c.Relay.Linger)
	}
	if c.Relay.Discovery != "" {
		if _, _, err := net.SplitHostPort(c.Relay.Discovery); err != nil {
			bad("relay.discovery %q: want host:port, or empty for the LAN's multicast group", c.Relay.Discovery)
		}
	}
	errs = append(errs, c.Log.Validate()...)
	return errors.Join(errs...)
}
