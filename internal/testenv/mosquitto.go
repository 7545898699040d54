package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// PrivateMosquitto starts a Mosquitto of the test's own on a free loopback
// port and returns its address; it is killed when the test ends. A test
// whose client subscribes to every box's topics uses one: on the shared
// Mosquitto the retained messages other tests left (every box's status and
// reported state) would all come at once on subscribing and fill the
// client's queue, and the broker would drop what the test sends.
func PrivateMosquitto(t testing.TB) string {
	t.Helper()
	bin := "/usr/sbin/mosquitto"
	if _, err := os.Stat(bin); err != nil {
		bin = Tool(t, "mosquitto", "apt-get install mosquitto")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close() // freed for mosquitto to bind
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	// As configs/mosquitto/mosquitto.conf.example queues for the township's
	// clients, without accounts: a test's broker on loopback.
	body := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 20000\n", port)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	logPath := filepath.Join(t.TempDir(), "mosquitto.log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // its log says why it ended
		_ = f.Close()  // the log is read after this
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // it may have exited already
		<-exited
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("mosquitto log:\n%s", b)
		}
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close() // a probe
			return addr
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("mosquitto exited: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto not listening on %s within 10 s", addr)
		}
		time.Sleep(20 * time.Millisecond) // polling the port it is binding
	}
}
