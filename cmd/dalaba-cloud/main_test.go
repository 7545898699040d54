package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// cli runs the command in-process.
func cli(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUsage(t *testing.T) {
	t.Setenv("DALABA_DATA_DIR", "")
	t.Setenv("DALABA_MQTT_URL", "")
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string // substring; "" = nothing checked
		stderr string
	}{
		{"version", []string{"--version"}, 0, "dalaba-cloud dev", ""},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"box without add", []string{"box", "list"}, 2, "", "unknown command"},
		{"serve with an operand", []string{"serve", "extra"}, 2, "", `unexpected argument "extra"`},
		{"unknown flag", []string{"serve", "--colour"}, 2, "", "-colour"},
		{"box add without id", []string{"box", "add", "--name", "x"}, 2, "", "missing the box id"},
		{"box add without name", []string{"box", "add", "village-1"}, 2, "", "--name is required"},
		{"user add without role", []string{"user", "add", "alice"}, 2, "", "--role is required"},
		{"user add without name", []string{"user", "add", "--role", "viewer"}, 2, "", "missing the user name"},
		{"migrate without a target", []string{"migrate", "--from", "bolt:data/cloud.db"}, 2, "", "--from and --to are required"},
		{"migrate from another kind", []string{"migrate", "--from", "sqlite:x.db", "--to", "postgres:host=db"}, 1, "", "want bolt:"},
		{"migrate to another kind", []string{"migrate", "--from", "bolt:x.db", "--to", "mysql://u:secret@db/x"}, 1, "", "want postgres:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := cli(t, "", c.args...)
			if code != c.code || !strings.Contains(out, c.stdout) || !strings.Contains(errOut, c.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out, errOut, c.code, c.stdout, c.stderr)
			}
		})
	}
}

func TestConfigErrorsAllAtOnce(t *testing.T) {
	t.Setenv("DALABA_MQTT_URL", "")
	cfg := writeFile(t, "cloud.yaml", "http: {listen: nope}\ndesired: {validity: 1m}\nlog: {level: loud}\n")
	for _, args := range [][]string{
		{"serve", "--config", cfg, "--data-dir", t.TempDir()},
		{"box", "add", "village-1", "--name", "x", "--config", cfg, "--data-dir", t.TempDir()},
		{"user", "add", "alice", "--role", "viewer", "--config", cfg, "--data-dir", t.TempDir()},
	} {
		code, _, errOut := cli(t, "", args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2", args[:2], code)
		}
		for _, want := range []string{"http.listen", "desired.validity", "log.level"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%v: stderr does not name %s:\n%s", args[:2], want, errOut)
			}
		}
	}
	// A flag can break what the file had right, and is reported as well.
	if code, _, errOut := cli(t, "", "serve", "--http", "nope", "--data-dir", t.TempDir()); code != 2 || !strings.Contains(errOut, "http.listen") {
		t.Errorf("bad --http: exit %d, %s", code, errOut)
	}
	// An unknown key names its line.
	bad := writeFile(t, "cloud.yaml", "data_dir: /x\nhttp:\n  lisen: 1\n")
	if code, _, errOut := cli(t, "", "serve", "--config", bad); code != 2 || !strings.Contains(errOut, "line 3") {
		t.Errorf("unknown key: exit %d, %s", code, errOut)
	}
}

func TestBoxAndUserAdd(t *testing.T) {
	t.Setenv("DALABA_MQTT_URL", "")
	dir := t.TempDir()
	code, out, errOut := cli(t, "", "box", "add", "--name", "示范村", "village-1", "--data-dir", dir, "--broker-url", "tls://township.example:8883")
	if code != 0 {
		t.Fatalf("box add: exit %d: %s", code, errOut)
	}
	var ec struct {
		BoxID  string `yaml:"box_id"`
		Broker struct {
			URL      string `yaml:"url"`
			Username string `yaml:"username"`
			Password string `yaml:"password"`
		} `yaml:"broker"`
	}
	if err := yaml.Unmarshal([]byte(out), &ec); err != nil || ec.BoxID != "village-1" || ec.Broker.URL != "tls://township.example:8883" || ec.Broker.Password == "" {
		t.Fatalf("printed edge config %+v (%v):\n%s", ec, err, out)
	}
	if code, _, errOut := cli(t, "", "box", "add", "village-1", "--name", "again", "--data-dir", dir); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Errorf("duplicate box: exit %d, %s", code, errOut)
	}
	if code, _, errOut := cli(t, "", "box", "add", "village-2", "--name", "x", "--data-dir", dir, "--broker-url", "http://x"); code != 1 || !strings.Contains(errOut, "broker URL") {
		t.Errorf("bad --broker-url: exit %d, %s", code, errOut)
	}

	code, out, errOut = cli(t, "a-password-from-stdin\n", "user", "add", "alice", "--role", "operator", "--data-dir", dir)
	if code != 0 || strings.Contains(out, "a-password-from-stdin") || !strings.Contains(out, "alice") {
		t.Fatalf("user add with stdin: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, _, errOut := cli(t, "password1\n", "user", "add", "bob", "--role", "king", "--data-dir", dir); code != 1 || !strings.Contains(errOut, "role") {
		t.Errorf("bad role: exit %d, %s", code, errOut)
	}

	// Townships: made, then given to a box and a user; an unknown one is
	// refused.
	if code, _, errOut := cli(t, "", "township", "add", "t-dongshan", "--data-dir", dir); code != 2 || !strings.Contains(errOut, "--name is required") {
		t.Errorf("township add without a name: exit %d, %s", code, errOut)
	}
	if code, out, errOut := cli(t, "", "township", "add", "t-dongshan", "--name", "东山镇", "--data-dir", dir); code != 0 || !strings.Contains(out, "t-dongshan") {
		t.Fatalf("township add: exit %d, %s %s", code, out, errOut)
	}
	if code, _, errOut := cli(t, "", "box", "add", "village-3", "--name", "三村", "--township", "t-none", "--data-dir", dir, "--broker-url", "tls://township.example:8883"); code != 1 || !strings.Contains(errOut, "t-none") {
		t.Errorf("box add to an unknown township: exit %d, %s", code, errOut)
	}
	if code, _, errOut := cli(t, "", "box", "add", "village-3", "--name", "三村", "--township", "t-dongshan", "--data-dir", dir, "--broker-url", "tls://township.example:8883"); code != 0 {
		t.Errorf("box add --township: exit %d, %s", code, errOut)
	}
	if code, _, errOut := cli(t, "password-for-carol\n", "user", "add", "carol", "--role", "operator", "--township", "t-none", "--data-dir", dir); code != 1 || !strings.Contains(errOut, "t-none") {
		t.Errorf("user add to an unknown township: exit %d, %s", code, errOut)
	}
	if code, _, errOut := cli(t, "password-for-carol\n", "user", "add", "carol", "--role", "operator", "--township", "t-dongshan", "--data-dir", dir); code != 0 {
		t.Errorf("user add --township: exit %d, %s", code, errOut)
	}
}

func TestServeStopsOnCancel(t *testing.T) {
	t.Setenv("DALABA_MQTT_URL", "")
	t.Setenv("DALABA_ADMIN_PASSWORD", "serve-test-password")
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	var stdout, stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"--data-dir", dir, "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0"}, strings.NewReader(""), &stdout, &stderr)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "listen.json"))
		var l map[string]string
		if err == nil && json.Unmarshal(b, &l) == nil && l["http"] != "" && l["mqtt"] != "" {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before ready: %s", code, &stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("serve never wrote listen.json")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, &stderr)
	}
	if !strings.Contains(stderr.String(), "msg=ready") {
		t.Errorf("no ready line in the log:\n%s", &stderr)
	}
}
