package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExampleIsDefaultsPlusIdentity(t *testing.T) {
	got, err := Load("../../configs/edge.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("the example does not validate: %v", err)
	}
	want := Default()
	want.BoxID, want.TownshipKey = got.BoxID, got.TownshipKey
	want.Broker.URL, want.Broker.Username, want.Broker.Password = got.Broker.URL, got.Broker.Username, got.Broker.Password
	if got != want {
		t.Errorf("configs/edge.example.yaml differs from the defaults beyond identity:\n got %+v\nwant %+v", got, want)
	}
}

// What `dalaba-cloud box add` prints must load as it is.
func TestProvisionedConfigLoads(t *testing.T) {
	cfg, err := Load(write(t, `box_id: v1
township_key: huS1GmUlkx0LKJBt2GLbKIKBo49rIhq9nCTqv09gajI=
broker:
    url: tcp://127.0.0.1:18830
    username: v1
    password: secret
data_dir: /var/lib/dalaba
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.SocketPath() != "/var/lib/dalaba/dalaba-edge.sock" || len(cfg.PublicKey()) != 32 {
		t.Errorf("derived values: %q %d", cfg.SocketPath(), len(cfg.PublicKey()))
	}
}

func TestUnknownKeyNamesLine(t *testing.T) {
	_, err := Load(write(t, "box_id: v1\noutbox:\n  window: 2\n  windw: 3\n"))
	if err == nil || !strings.Contains(err.Error(), "line 4") || !strings.Contains(err.Error(), "windw") {
		t.Fatalf("err = %v", err)
	}
}

func TestValidateReportsEverything(t *testing.T) {
	cfg := Default()
	cfg.BoxID = "Bad/Id"
	cfg.TownshipKey = "short"
	cfg.Broker.URL = "ftp://x"
	cfg.Outbox.Window = 0
	cfg.Outbox.BatchEvents = 1_000_000
	cfg.Log.Level = "loud"
	err := cfg.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"box_id", "township_key", "broker.url", "outbox.window", "outbox.batch_events", "log.level"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

func TestEnvOverrides(t *testing.T) {
	t.Setenv("DALABA_BROKER_URL", "tls://township:8883")
	t.Setenv("DALABA_BROKER_PASSWORD", "from-env")
	t.Setenv("DALABA_DATA_DIR", "/data")
	cfg, err := Load(write(t, "broker:\n  url: tcp://x:1\n  password: file\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Broker.URL != "tls://township:8883" || cfg.Broker.Password != "from-env" || cfg.DataDir != "/data" {
		t.Errorf("env not applied: %+v", cfg)
	}
}
