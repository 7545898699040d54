// Package config is the township service's configuration: one struct, code
// defaults, strict YAML (an unknown key is an error naming its line), a few
// DALABA_* environment overrides, and Validate reporting every problem at
// once. configs/cloud.example.yaml is its manual and is tested equal to the
// defaults.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/dalaba/dalaba/internal/logging"
	"github.com/dalaba/dalaba/internal/yamlfile"
)

// Config is everything dalaba-cloud reads at start.
type Config struct {
	DataDir string         `yaml:"data_dir"`
	HTTP    HTTP           `yaml:"http"`
	MQTT    MQTT           `yaml:"mqtt"`
	Desired Desired        `yaml:"desired"`
	Log     logging.Config `yaml:"log"`
}

// HTTP is the API (and later console) listener.
type HTTP struct {
	Listen string `yaml:"listen"`
}

// MQTT says which broker the service uses and how boxes reach it.
type MQTT struct {
	Embedded bool   `yaml:"embedded"`
	Listen   string `yaml:"listen"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	URL      string `yaml:"url"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	ClientID string `yaml:"client_id"`
	// PublicURL is what boxes are told to connect to; empty = derived.
	PublicURL string `yaml:"public_url"`
}

// Desired is how signed desired state is issued.
type Desired struct {
	Validity time.Duration `yaml:"validity"`
}

// CloudAccount is the service's own MQTT account and client id by default.
// The underscore is a character no box id can have, so no box can ever hold
// that name or that session.
const CloudAccount = "dalaba_cloud"

// Default returns the built-in configuration.
func Default() Config {
	return Config{
		DataDir: "./data",
		HTTP:    HTTP{Listen: "127.0.0.1:8080"},
		MQTT: MQTT{
			Embedded: true,
			Listen:   "0.0.0.0:1883",
			Username: CloudAccount,
			ClientID: CloudAccount,
		},
		Desired: Desired{Validity: 720 * time.Hour},
		Log:     logging.Default(),
	}
}

// Load reads path over the defaults (path "" = defaults only), applies the
// environment and validates.
func Load(path string) (Config, error) {
	cfg := Default()
	if path != "" {
		if err := yamlfile.Decode(path, &cfg); err != nil {
			return Config{}, err
		}
	}
	cfg.applyEnv()
	return cfg, cfg.Validate()
}

func (c *Config) applyEnv() {
	if v := os.Getenv("DALABA_DATA_DIR"); v != "" {
		c.DataDir = v
	}
	if v := os.Getenv("DALABA_MQTT_URL"); v != "" {
		c.MQTT.URL = v
		c.MQTT.Embedded = false
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("config: "+format, a...)) }
	if c.DataDir == "" {
		bad("data_dir is empty")
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		bad("http.listen %q: %v", c.HTTP.Listen, err)
	}
	if c.MQTT.Embedded {
		if _, _, err := net.SplitHostPort(c.MQTT.Listen); err != nil {
			bad("mqtt.listen %q: %v", c.MQTT.Listen, err)
		}
		if (c.MQTT.CertFile == "") != (c.MQTT.KeyFile == "") {
			bad("mqtt.cert_file and mqtt.key_file go together")
		}
	} else if err := checkBrokerURL(c.MQTT.URL); err != nil {
		bad("mqtt.url (required when mqtt.embedded is false): %v", err)
	}
	if c.MQTT.Username == "" {
		bad("mqtt.username is empty")
	}
	if !strings.ContainsAny(c.MQTT.ClientID, "_.:") {
		bad("mqtt.client_id %q must contain '_', '.' or ':' so it can never equal a box id", c.MQTT.ClientID)
	}
	if c.MQTT.PublicURL != "" {
		if err := checkBrokerURL(c.MQTT.PublicURL); err != nil {
			bad("mqtt.public_url: %v", err)
		}
	}
	if c.Desired.Validity < time.Hour {
		bad("desired.validity %s: at least 1h", c.Desired.Validity)
	}
	errs = append(errs, c.Log.Validate()...)
	return errors.Join(errs...)
}

func checkBrokerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "tcp", "ssl", "tls", "mqtt", "mqtts":
	default:
		return fmt.Errorf("%q: scheme must be tcp://, ssl:// or tls://", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q: no host", s)
	}
	return nil
}

// PublicBrokerURL is the broker address boxes are told to use, given the
// address the embedded broker actually bound (for port 0).
func (c Config) PublicBrokerURL(bound string) string {
	if c.MQTT.PublicURL != "" {
		return c.MQTT.PublicURL
	}
	if !c.MQTT.Embedded {
		return c.MQTT.URL
	}
	addr := c.MQTT.Listen
	if bound != "" {
		addr = bound
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "tcp://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	scheme := "tcp"
	if c.MQTT.CertFile != "" {
		scheme = "tls"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}
