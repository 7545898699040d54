package sdnotify_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/internal/sdnotify"
)

// listen is the service manager's end: a unixgram socket in a temp dir.
func listen(t *testing.T) (string, *net.UnixConn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return path, c
}

func read(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no datagram: %v", err)
	}
	return string(buf[:n])
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestNoSocketIsANoOp(t *testing.T) {
	n, err := sdnotify.New(env(nil), 1)
	if err != nil || n != nil {
		t.Fatalf("New without NOTIFY_SOCKET = %v, %v; want nil, nil", n, err)
	}
	if err := n.Notify(sdnotify.Ready); err != nil {
		t.Fatalf("a nil notifier's Notify: %v", err)
	}
}

func TestSendsStatesInOneDatagram(t *testing.T) {
	path, c := listen(t)
	n, err := sdnotify.New(env(map[string]string{"NOTIFY_SOCKET": path}), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(sdnotify.Ready, sdnotify.Status("running")); err != nil {
		t.Fatal(err)
	}
	if got := read(t, c); got != "READY=1\nSTATUS=running" {
		t.Fatalf("datagram %q", got)
	}
}

func TestWatchdogIntervalIsHalfTheTimeout(t *testing.T) {
	n, err := sdnotify.New(env(map[string]string{"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "42"}), 42)
	if err != nil {
		t.Fatal(err)
	}
	if n.Interval != 30*time.Second {
		t.Fatalf("interval %s, want 30s", n.Interval)
	}
	other, err := sdnotify.New(env(map[string]string{"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "7"}), 42)
	if err != nil {
		t.Fatal(err)
	}
	if other.Interval != 0 {
		t.Fatalf("a watchdog for pid 7 taken by pid 42: interval %s", other.Interval)
	}
}

func TestRefusesBadEnvironment(t *testing.T) {
	for _, e := range []map[string]string{
		{"NOTIFY_SOCKET": "relative/path"},
		{"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "soon"},
		{"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "0"},
	} {
		if _, err := sdnotify.New(env(e), 1); err == nil {
			t.Errorf("New(%v) accepted", e)
		}
	}
}

func TestWatchPingsOnlyWhileAlive(t *testing.T) {
	path, c := listen(t)
	n, err := sdnotify.New(env(map[string]string{"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000"}), 1)
	if err != nil {
		t.Fatal(err)
	}
	turns := 0
	hung := errors.New("loop hung")
	done := make(chan error, 1)
	go func() {
		done <- n.Watch(context.Background(), func(context.Context) error {
			turns++
			if turns > 2 {
				return hung
			}
			return nil
		})
	}()
	for range 2 {
		if got := read(t, c); got != "WATCHDOG=1" {
			t.Fatalf("datagram %q", got)
		}
	}
	select {
	case err := <-done:
		if !errors.Is(err, sdnotify.ErrNotAlive) || !errors.Is(err, hung) || !strings.Contains(err.Error(), "loop hung") {
			t.Fatalf("Watch = %v, want ErrNotAlive wrapping the loop's error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch kept going after the loop stopped answering")
	}
}

func TestAbstractSocket(t *testing.T) {
	name := "dalaba-sdnotify-test-" + strings.ReplaceAll(t.Name(), "/", "-")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "\x00" + name, Net: "unixgram"})
	if err != nil {
		t.Skipf("no abstract sockets here: %v", err)
	}
	defer c.Close()
	n, err := sdnotify.New(env(map[string]string{"NOTIFY_SOCKET": "@" + name}), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(sdnotify.Stopping); err != nil {
		t.Fatal(err)
	}
	if got := read(t, c); got != "STOPPING=1" {
		t.Fatalf("datagram %q", got)
	}
}
