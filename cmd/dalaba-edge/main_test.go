package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/dalaba/dalaba/protocol"
)

func writeConfig(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "edge.yaml")
	if !strings.Contains(s, "relay:") { // tests run side by side: no fixed RTSP port
		s += "\nrelay:\n  listen: 127.0.0.1:0\n"
	}
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUsageAndConfigErrors(t *testing.T) {
	for _, k := range []string{"DALABA_BROKER_URL", "DALABA_BROKER_PASSWORD", "DALABA_DATA_DIR"} {
		t.Setenv(k, "")
	}
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr []string
	}{
		{"version", []string{"--version"}, exitOK, "dalaba-edge dev (built dev)\n", nil},
		{"unknown flag", []string{"--verbose"}, exitUsage, "", []string{"-verbose", "-config"}},
		{"stray argument", []string{"start"}, exitUsage, "", []string{"unexpected arguments: start"}},
		{"missing file", []string{"--config", "/nonexistent/edge.yaml"}, exitUsage, "", []string{"/nonexistent/edge.yaml"}},
		{"unknown key", []string{"--config", writeConfig(t, "box_id: v1\nbrokr: {}\n")}, exitUsage, "", []string{"line 2", "brokr"}},
		{"every problem at once", []string{"--config", writeConfig(t, "box_id: Bad/Id\noutbox:\n  window: 0\n")}, exitUsage, "",
			[]string{"box_id", "township_key", "broker.url", "outbox.window"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), c.args, &stdout, &stderr)
			if code != c.code || stdout.String() != c.stdout {
				t.Errorf("exit %d, stdout %q; want %d, %q (stderr %s)", code, stdout.String(), c.code, c.stdout, stderr.String())
			}
			for _, w := range c.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr does not mention %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

func TestBuildDate(t *testing.T) {
	cases := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2026-11-24T03:04:05Z", time.Date(2026, 11, 24, 3, 4, 5, 0, time.UTC), true},
		{"2026-11-24", time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), true},
		{"dev", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, c := range cases {
		if got, ok := parseBuildDate(c.in); !got.Equal(c.want) || ok != c.ok {
			t.Errorf("parseBuildDate(%q) = %s, %v", c.in, got, ok)
		}
	}
}

// TestMain lets TestSIGTERMStopsTheBoxCleanly run this test binary as the
// real daemon, with real signal handling: with DALABA_EDGE_DAEMON set to
// the daemon's arguments, it runs main instead of the tests.
func TestMain(m *testing.M) {
	if args := os.Getenv("DALABA_EDGE_DAEMON"); args != "" {
		os.Args = append([]string{"dalaba-edge"}, strings.Fields(args)...)
		main()
	}
	os.Exit(m.Run())
}

func TestSIGTERMStopsTheBoxCleanly(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	broker := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := broker.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := broker.AddListener(listeners.NewNet("t", l)); err != nil {
		t.Fatal(err)
	}
	if err := broker.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = broker.Close() }) // a test broker; its close error tells nothing

	key, err := protocol.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf("box_id: village-9\ntownship_key: %s\nbroker:\n  url: tcp://%s\nlog:\n  format: json\n",
		protocol.EncodePublicKey(key.Public().(ed25519.PublicKey)), l.Addr()))
	cmd := exec.CommandContext(t.Context(), os.Args[0])
	cmd.Env = append(os.Environ(), "DALABA_EDGE_DAEMON=--config "+cfg+" --data-dir "+dataDir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// Up when its local API says it is connected.
	sock := filepath.Join(dataDir, "dalaba-edge.sock")
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get("http://box/v1/status")
		if err == nil {
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body) // a short read only delays the next poll
			resp.Body.Close()
			if strings.Contains(b.String(), `"connected":true`) {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("the daemon exited early: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon never connected:\n%s", stderr.String())
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20 s after SIGTERM:\n%s", stderr.String())
	}
	for _, want := range []string{`"msg":"box stopped"`, `"component":"uplink"`, `"msg":"disconnected"`} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the JSON log lacks %s:\n%s", want, stderr.String())
		}
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
}

// refusingTownship answers every enrollment with the township's refusal
// code.
func refusingTownship(t *testing.T, status int, code string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":"refused","code":%q}`, code)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestEnrollRefusalsWriteNothing(t *testing.T) {
	t.Setenv("DALABA_DATA_DIR", "")
	used := refusingTownship(t, http.StatusGone, "claim.used")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "edge.yaml")
	for _, c := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no code", []string{"enroll", "--township", used}, exitUsage, "--township and --code are required"},
		{"not a code", []string{"enroll", "--township", used, "--code", "OOOO-1111", "--config", cfg}, exitFailed, "not a claim code"},
		{"plain http afar", []string{"enroll", "--township", "http://township.example.cn", "--code", "ABCD-EFGH", "--config", cfg}, exitFailed, "use https://"},
		{"used", []string{"enroll", "--township", used, "--code", "ABCD-EFGH", "--config", cfg}, exitFailed, "used already"},
	} {
		var stdout, stderr bytes.Buffer
		if got := run(t.Context(), c.args, &stdout, &stderr); got != c.code || !strings.Contains(stderr.String(), c.stderr) {
			t.Errorf("%s: exit %d, stderr %q; want %d mentioning %q", c.name, got, stderr.String(), c.code, c.stderr)
		}
		if _, err := os.Stat(cfg); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: a config was written", c.name)
		}
	}

	// The first boot with a refused code stops with status 2, which
	// systemd does not restart, and writes nothing.
	claimFile := filepath.Join(dir, "dalaba-claim.txt")
	os.WriteFile(claimFile, []byte("township: "+refusingTownship(t, http.StatusNotFound, "claim.unknown")+"\ncode: ABCD-EFGH\n"), 0o644)
	blank := writeConfig(t, "box_id: \"\"\n")
	data := filepath.Join(dir, "data")
	var stdout, stderr bytes.Buffer
	if got := run(t.Context(), []string{"run", "--config", blank, "--data-dir", data, "--claim-file", claimFile}, &stdout, &stderr); got != exitUsage ||
		!strings.Contains(stderr.String(), "no such claim code") {
		t.Fatalf("first boot with an unknown code: exit %d, stderr %q", got, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(data, "enrolled.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused first boot wrote a config")
	}
}
