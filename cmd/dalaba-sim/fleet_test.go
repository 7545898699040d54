package main

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/broker"
	"github.com/dalaba/dalaba/cmd/dalaba-sim/fleetsim"
	"github.com/dalaba/dalaba/internal/testenv"
)

func TestParseCredentials(t *testing.T) {
	got, err := parseCredentials([]byte("# the county's test boxes\nvillage-1 s3cret\n\n  village-2\tpa55  \n"))
	want := []fleetsim.Box{{ID: "village-1", Password: "s3cret"}, {ID: "village-2", Password: "pa55"}}
	if err != nil || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("parseCredentials = %+v, %v; want %+v", got, err, want)
	}
	for _, c := range []struct{ name, in, says string }{
		{"empty", "# nothing\n", "no boxes"},
		{"no password", "village-1\n", "line 1"},
		{"three fields", "village-1 a b\n", "line 1"},
		{"bad id", "Village/1 pw\n", "line 1"},
		{"twice", "village-1 a\nvillage-1 b\n", "already on line 1"},
	} {
		if _, err := parseCredentials([]byte(c.in)); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.says)
		}
	}
}

func FuzzParseCredentials(f *testing.F) {
	f.Add([]byte("village-1 s3cret\nvillage-2 pw\n"))
	f.Add([]byte("# c\n\nx y z\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		boxes, err := parseCredentials(raw)
		if err != nil {
			return
		}
		for _, b := range boxes {
			if b.ID == "" || b.Password == "" || strings.ContainsAny(b.ID+b.Password, " \t\n") {
				t.Fatalf("accepted %+v from %q", b, raw)
			}
		}
	})
}

// sessions counts the boxes the broker saw connect.
type sessions struct {
	mu sync.Mutex
	up map[string]bool
}

func (s *sessions) Connected(box string)    { s.mu.Lock(); s.up[box] = true; s.mu.Unlock() }
func (s *sessions) Disconnected(box string) { s.mu.Lock(); s.up[box] = false; s.mu.Unlock() }
func (*sessions) Limited(string, uint64)    {}
func (s *sessions) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, up := range s.up {
		if up {
			n++
		}
	}
	return n
}

// boxAuth admits the boxes of the credentials file.
type boxAuth map[string]string

func (a boxAuth) Authenticate(_ context.Context, user string, pass []byte) (broker.Identity, bool) {
	if p, ok := a[user]; ok && p == string(pass) {
		return broker.Identity{Box: user}, true
	}
	return broker.Identity{}, false
}

// The fleet command brings its boxes' sessions up with their own
// credentials, logs its totals, and on SIGINT takes them down and exits 0.
func TestFleetConnectsItsBoxes(t *testing.T) {
	creds := boxAuth{"village-1": "one", "village-2": "two", "village-3": "three"}
	seen := &sessions{up: map[string]bool{}}
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0"}, broker.Deps{Logger: slog.New(slog.DiscardHandler), Auth: creds, Sessions: seen})
	if err != nil {
		t.Fatal(err)
	}
	run := testenv.Background(t, 10*time.Second, "broker", b.Run)
	defer run.Stop()
	<-b.Ready()
	file := filepath.Join(t.TempDir(), "boxes.txt")
	if err := os.WriteFile(file, []byte("village-1 one\nvillage-2 two\nvillage-3 three\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd := exec.Command(bin, "fleet", "--broker", "tcp://"+b.Addr(), "--credentials", file, "--stats-interval", "100ms", "--compress", "60")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	testenv.WaitFor(t, 10*time.Second, "three sessions at the broker", func() bool { return seen.count() == 3 })
	testenv.WaitFor(t, 10*time.Second, "the totals logged", func() bool { return strings.Contains(stderr.String(), "online=3") })
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	testenv.WaitFor(t, 10*time.Second, "every session ended", func() bool { return seen.count() == 0 })
}
