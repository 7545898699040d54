package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func write(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cloud.yaml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExampleEqualsDefaults(t *testing.T) {
	got, err := Load("../../configs/cloud.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("configs/cloud.example.yaml differs from the defaults:\n got %+v\nwant %+v", got, want)
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	got, err := Load(write(t, ""))
	if err != nil || !reflect.DeepEqual(got, Default()) {
		t.Fatalf("empty file: %+v, %v", got, err)
	}
}

func TestUnknownKeyNamesLine(t *testing.T) {
	_, err := Load(write(t, "data_dir: /x\nhttp:\n  listen: 127.0.0.1:1\n  lisen: typo\n"))
	if err == nil || !strings.Contains(err.Error(), "line 4") || !strings.Contains(err.Error(), "lisen") {
		t.Fatalf("err = %v, want the unknown key and its line", err)
	}
}

func TestValidateReportsEverything(t *testing.T) {
	_, err := Load(write(t, `data_dir: ""
http: {listen: nope}
mqtt: {embedded: false, url: "ftp://x", client_id: plainid}
desired: {validity: 1m}
log: {level: loud, format: xml}
`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"data_dir", "http.listen", "mqtt.url", "client_id", "desired.validity", "log.level", "log.format"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

func TestEnvOverrides(t *testing.T) {
	t.Setenv("DALABA_DATA_DIR", "/srv/dalaba")
	t.Setenv("DALABA_MQTT_URL", "tcp://10.0.0.5:1883")
	got, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if got.DataDir != "/srv/dalaba" || got.MQTT.URL != "tcp://10.0.0.5:1883" || got.MQTT.Embedded {
		t.Errorf("env not applied: %+v", got)
	}
}

func TestPublicBrokerURL(t *testing.T) {
	c := Default()
	cases := []struct {
		name  string
		edit  func(*Config)
		bound string
		want  string
	}{
		{"unspecified host becomes loopback", func(*Config) {}, "0.0.0.0:41883", "tcp://127.0.0.1:41883"},
		{"bound address wins over listen", func(c *Config) { c.MQTT.Listen = "127.0.0.1:0" }, "127.0.0.1:5555", "tcp://127.0.0.1:5555"},
		{"tls when a certificate is set", func(c *Config) { c.MQTT.CertFile, c.MQTT.KeyFile = "c", "k" }, "10.1.1.1:8883", "tls://10.1.1.1:8883"},
		{"external broker", func(c *Config) { c.MQTT.Embedded = false; c.MQTT.URL = "tcp://broker:1883" }, "", "tcp://broker:1883"},
		{"explicit", func(c *Config) { c.MQTT.PublicURL = "tls://township.example.cn:8883" }, "0.0.0.0:1", "tls://township.example.cn:8883"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := c
			tc.edit(&cfg)
			if got := cfg.PublicBrokerURL(tc.bound); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
