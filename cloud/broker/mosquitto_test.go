package broker

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

const mosquittoHint = "apt-get install mosquitto"

// configDir is configs/mosquitto; tests run in their package's directory.
func configDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "configs", "mosquitto"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// confLines returns the directives of a Mosquitto file, comments and blank
// lines removed.
func confLines(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Fields(line))
	}
	return out
}

// The ACL grants a box what the protocol says a box does, and nothing
// else; the packet limit is the embedded broker's.
func TestMosquittoExamplesMatchTheProtocol(t *testing.T) {
	dir := configDir(t)
	var reads, writes []string
	for _, f := range confLines(t, filepath.Join(dir, "acl.example")) {
		if f[0] != "pattern" || len(f) != 3 {
			continue
		}
		switch f[1] {
		case "read":
			reads = append(reads, f[2])
		case "write":
			writes = append(writes, f[2])
		default:
			t.Errorf("pattern %v: only read and write are expected", f)
		}
	}
	var want []string
	for _, k := range protocol.Kinds() {
		if k.FromBox() {
			want = append(want, protocol.Topic("%u", k))
		}
	}
	slices.Sort(want)
	slices.Sort(writes)
	if !slices.Equal(writes, want) {
		t.Errorf("box write patterns %v, want exactly %v", writes, want)
	}
	if !slices.Equal(reads, []string{protocol.Subtree("%u")}) {
		t.Errorf("box read patterns %v, want only %s", reads, protocol.Subtree("%u"))
	}

	found := false
	for _, f := range confLines(t, filepath.Join(dir, "mosquitto.conf.example")) {
		if f[0] == "max_packet_size" {
			found = true
			if n, err := strconv.Atoi(f[1]); err != nil || n != MaxPacketSize() {
				t.Errorf("max_packet_size %s, want %d (broker.MaxPacketSize)", f[1], MaxPacketSize())
			}
		}
	}
	if !found {
		t.Error("mosquitto.conf.example sets no max_packet_size")
	}
}

// A private Mosquitto running configs/mosquitto keeps boxes apart exactly as
// the embedded broker does.
func TestMosquittoIsolation(t *testing.T) {
	bin := "/usr/sbin/mosquitto"
	if _, err := os.Stat(bin); err != nil {
		bin = testenv.Tool(t, "mosquitto", mosquittoHint)
	}
	passwd := testenv.Tool(t, "mosquitto_passwd", mosquittoHint)
	e := startMosquitto(t, bin, passwd)
	isolation(t, e)
}

// startMosquitto runs mosquitto -c on the example configuration, its paths
// and ports replaced, until the test ends.
func startMosquitto(t *testing.T, bin, passwdTool string) env {
	t.Helper()
	dir := t.TempDir()
	pwfile := filepath.Join(dir, "passwd")
	first := true
	for _, u := range []string{boxA, boxB, cloudUser} {
		args := []string{"-b", pwfile, u, password(u)}
		if first {
			args = append([]string{"-c"}, args...)
			first = false
		}
		if out, err := exec.Command(passwdTool, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v: %s", err, out)
		}
	}
	certFile, keyFile, clientTLS := writeCert(t, dir)

	for attempt := 0; ; attempt++ {
		boxPort, cloudPort := freePort(t), freePort(t)
		conf := mosquittoConf(t, map[string]string{
			"password_file": pwfile,
			"acl_file":      filepath.Join(configDir(t), "acl.example"),
			"certfile":      certFile,
			"keyfile":       keyFile,
			"listener 8883": "listener " + boxPort + " 127.0.0.1",
			"listener 1883": "listener " + cloudPort + " 127.0.0.1",
		})
		path := filepath.Join(dir, "mosquitto.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		log, ok := runMosquitto(t, bin, path, "127.0.0.1:"+boxPort, "127.0.0.1:"+cloudPort)
		if ok {
			return env{
				boxURL:   "ssl://127.0.0.1:" + boxPort,
				cloudURL: "tcp://127.0.0.1:" + cloudPort,
				tls:      clientTLS,
			}
		}
		// Another process may have taken a port between freePort and
		// mosquitto's bind; try new ones.
		if !strings.Contains(log, "Address already in use") || attempt == 2 {
			t.Fatalf("mosquitto did not start:\n%s\nconfig:\n%s", log, conf)
		}
	}
}

// mosquittoConf rewrites mosquitto.conf.example for a test: the directives
// named in repl replaced (a listener by its first two words), persistence
// and syslog off, everything else as shipped, so a broken directive in the
// example fails here.
func mosquittoConf(t *testing.T, repl map[string]string) string {
	t.Helper()
	var b strings.Builder
	for _, f := range confLines(t, filepath.Join(configDir(t), "mosquitto.conf.example")) {
		key := f[0]
		if key == "listener" {
			key = f[0] + " " + f[1]
		}
		switch v, ok := repl[key]; {
		case ok && strings.HasPrefix(key, "listener"):
			fmt.Fprintln(&b, v)
		case ok:
			fmt.Fprintln(&b, f[0], v)
		case key == "persistence" || key == "persistence_location" || key == "log_dest":
		default:
			fmt.Fprintln(&b, strings.Join(f, " "))
		}
	}
	fmt.Fprintln(&b, "persistence false")
	fmt.Fprintln(&b, "log_dest stderr")
	// As root, mosquitto would switch to the mosquitto user, which cannot
	// read the test's temporary files.
	if u, err := user.Current(); err == nil && u.Uid == "0" {
		fmt.Fprintln(&b, "user root")
	}
	return b.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// runMosquitto starts mosquitto and waits until both listeners accept. On
// failure it returns what mosquitto logged.
func runMosquitto(t *testing.T, bin, conf string, addrs ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(bin, "-c", conf)
	var log syncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the exit status is in the log
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // it may have exited already
		<-exited
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(wait)
	for _, addr := range addrs {
		for {
			select {
			case <-exited:
				return log.String(), false
			default:
			}
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				return log.String() + "\n(not listening on " + addr + ")", false
			}
			time.Sleep(20 * time.Millisecond) // polling the port mosquitto is binding
		}
	}
	return "", true
}

// syncBuffer is a bytes.Buffer the mosquitto process and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
