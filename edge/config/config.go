// Package config is the village box's local configuration: identity,
// broker, the pinned township key, paths and a few tunables. Everything
// else the box does comes from the signed desired state. Strict YAML (an
// unknown key is an error naming its line), code defaults, a few DALABA_*
// environment overrides, and Validate reporting every problem at once.
// configs/edge.example.yaml is its manual and is tested against the
// defaults.
package config

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/dalaba/dalaba/internal/logging"
	"github.com/dalaba/dalaba/internal/yamlfile"

	"github.com/dalaba/dalaba/protocol"
)

// Config is everything dalaba-edge reads at start.
type Config struct {
	BoxID          string         `yaml:"box_id"`
	TownshipKey    string         `yaml:"township_key"`
	Broker         Broker         `yaml:"broker"`
	DataDir        string         `yaml:"data_dir"`
	LocalAPI       string         `yaml:"local_api"`
	Outbox         Outbox         `yaml:"outbox"`
	HealthInterval time.Duration  `yaml:"health_interval"`
	Log            logging.Config `yaml:"log"`
}

// Broker is how the box reaches the township's MQTT broker.
type Broker struct {
	URL            string        `yaml:"url"`
	Username       string        `yaml:"username"`
	Password       string        `yaml:"password"`
	CAFile         string        `yaml:"ca_file"`
	KeepAlive      time.Duration `yaml:"keepalive"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
}

// Outbox bounds and batches the event queue.
type Outbox struct {
	MaxBytes    int64         `yaml:"max_bytes"`
	BatchEvents int           `yaml:"batch_events"`
	BatchBytes  int           `yaml:"batch_bytes"`
	Window      int           `yaml:"window"`
	AckTimeout  time.Duration `yaml:"ack_timeout"`
}

// Default returns the built-in configuration (identity left empty).
func Default() Config {
	return Config{
		Broker:         Broker{KeepAlive: 30 * time.Second, ConnectTimeout: 10 * time.Second},
		DataDir:        "/var/lib/dalaba",
		Outbox:         Outbox{MaxBytes: 64 << 20, BatchEvents: 500, BatchBytes: 512 << 10, Window: 4, AckTimeout: 10 * time.Second},
		HealthInterval: time.Minute,
		Log:            logging.Default(),
	}
}

// Load reads path over the defaults and applies the environment. It does
// not validate, so that flags can still override; call Validate after.
func Load(path string) (Config, error) {
	cfg := Default()
	if err := yamlfile.Decode(path, &cfg); err != nil {
		return Config{}, err
	}
	if v := os.Getenv("DALABA_BROKER_URL"); v != "" {
		cfg.Broker.URL = v
	}
	if v := os.Getenv("DALABA_BROKER_PASSWORD"); v != "" {
		cfg.Broker.Password = v
	}
	if v := os.Getenv("DALABA_DATA_DIR"); v != "" {
		cfg.DataDir = v
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

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("config: "+format, a...)) }
	if err := protocol.ValidateBoxID(c.BoxID); err != nil {
		bad("box_id: %v", err)
	}
	if _, err := protocol.ParsePublicKey(c.TownshipKey); err != nil {
		bad("township_key: %v", err)
	}
	if u, err := url.Parse(c.Broker.URL); err != nil || u.Host == "" || (u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "tls") {
		bad("broker.url %q: want tcp://, ssl:// or tls://host:port", c.Broker.URL)
	}
	if c.Broker.CAFile != "" {
		if _, err := os.Stat(c.Broker.CAFile); err != nil {
			bad("broker.ca_file: %v", err)
		}
	}
	if c.Broker.KeepAlive < time.Second || c.Broker.ConnectTimeout < time.Second {
		bad("broker.keepalive and broker.connect_timeout: at least 1s")
	}
	if c.DataDir == "" {
		bad("data_dir is empty")
	}
	if c.Outbox.MaxBytes < 1<<20 {
		bad("outbox.max_bytes %d: at least 1 MiB", c.Outbox.MaxBytes)
	}
	if c.Outbox.BatchEvents < 1 || c.Outbox.BatchEvents > protocol.MaxBatchEvents {
		bad("outbox.batch_events %d: 1-%d", c.Outbox.BatchEvents, protocol.MaxBatchEvents)
	}
	if c.Outbox.BatchBytes < 16<<10 || c.Outbox.BatchBytes > protocol.KindEvents.MaxPayload()/2 {
		bad("outbox.batch_bytes %d: 16 KiB to %d", c.Outbox.BatchBytes, protocol.KindEvents.MaxPayload()/2)
	}
	if c.Outbox.Window < 1 || c.Outbox.Window > 64 {
		bad("outbox.window %d: 1-64", c.Outbox.Window)
	}
	if c.Outbox.AckTimeout < time.Second {
		bad("outbox.ack_timeout: at least 1s")
	}
	if c.HealthInterval < time.Second {
		bad("health_interval: at least 1s")
	}
	errs = append(errs, c.Log.Validate()...)
	return errors.Join(errs...)
}
