package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// bins holds the binaries TestMain builds once for every test.
var bins struct {
	dir   string
	cloud string
	edge  string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dalaba-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.dir = dir
	bins.cloud = filepath.Join(dir, "dalaba-cloud")
	bins.edge = filepath.Join(dir, "dalaba-edge")
	build := exec.Command("go", "build", "-o", dir+"/", "../dalaba-cloud", "../dalaba-edge")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the daemons:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a daemon under test; its stderr goes to a log file kept for the
// failure report.
type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func start(t testing.TB, name, bin string, env []string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{t: t, name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("--- %s log (last 3000 bytes) ---\n%s", name, tail(b, 3000))
			// DALABA_E2E_LOGS keeps every daemon's whole log of a failed test.
			if dir := os.Getenv("DALABA_E2E_LOGS"); dir != "" {
				_ = os.MkdirAll(dir, 0o755)                                                             // best effort: the test failed already
				_ = os.WriteFile(filepath.Join(dir, filepath.Base(t.Name())+"-"+name+".log"), b, 0o644) // likewise
			}
		}
	})
	return p
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	if p.alive() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL) // already exiting is fine
	}
	<-p.done
}

// stop sends SIGTERM and waits; SIGKILL after 10 s.
func (p *proc) stop() {
	if !p.alive() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM) // already exiting is fine
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Errorf("%s did not stop within 10 s of SIGTERM", p.name)
		p.kill()
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePort returns a loopback address nothing listens on right now, for a
// process that must come back on the same address after a restart.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

const adminPassword = "e2e-admin-password"

// cloud is a running dalaba-cloud.
type cloud struct {
	*proc
	dataDir string
	HTTP    string
	MQTT    string
	token   string
}

type cloudOpts struct {
	dataDir string // reuse across restarts; "" = a new temp dir
	mqtt    string // embedded broker address; "" = 127.0.0.1:0
	config  string // extra YAML written to the config file
	replica string // cluster.replica (DALABA_REPLICA); "" = alone
}

func startCloud(t testing.TB, o cloudOpts) *cloud {
	t.Helper()
	if o.dataDir == "" {
		o.dataDir = t.TempDir()
	}
	if o.mqtt == "" {
		o.mqtt = "127.0.0.1:0"
	}
	listen, env, name := filepath.Join(o.dataDir, "listen.json"), []string{"DALABA_ADMIN_PASSWORD=" + adminPassword}, "dalaba-cloud"
	if o.replica != "" {
		listen, env, name = filepath.Join(o.dataDir, "listen."+o.replica+".json"), append(env, "DALABA_REPLICA="+o.replica), "dalaba-cloud-"+o.replica
	}
	os.Remove(listen)
	args := []string{"serve", "--data-dir", o.dataDir, "--http", "127.0.0.1:0", "--mqtt", o.mqtt}
	if o.config != "" {
		cfg := filepath.Join(t.TempDir(), "cloud.yaml")
		if err := os.WriteFile(cfg, []byte(o.config), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", cfg)
	}
	p := start(t, name, bins.cloud, env, args...)
	c := &cloud{proc: p, dataDir: o.dataDir}
	eventually(t, 20*time.Second, "cloud writes listen.json", func() bool {
		if !p.alive() {
			t.Fatalf("dalaba-cloud exited: %v", p.err)
		}
		b, err := os.ReadFile(listen)
		if err != nil {
			return false
		}
		var l struct{ HTTP, MQTT string }
		if json.Unmarshal(b, &l) != nil || l.HTTP == "" {
			return false
		}
		c.HTTP, c.MQTT = l.HTTP, l.MQTT
		return true
	})
	var login struct{ Token string }
	c.do(t, "POST", "/api/v1/login", map[string]string{"username": "admin", "password": adminPassword}, &login, http.StatusOK)
	c.token = login.Token
	return c
}

// do calls the API and decodes the answer into out, failing on another status.
func (c *cloud) do(t testing.TB, method, path string, in, out any, wantStatus int) {
	t.Helper()
	if err := c.call(method, path, in, out, wantStatus); err != nil {
		t.Fatal(err)
	}
}

func (c *cloud) call(method, path string, in, out any, wantStatus int) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+c.HTTP+path, body)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, wantStatus, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode %s: %w", method, path, b, err)
		}
	}
	return nil
}

type apiBox struct {
	ID               string    `json:"id"`
	Name             string    `json:"name"`
	Online           bool      `json:"online"`
	LastSeen         time.Time `json:"last_seen"`
	AppliedRev       uint64    `json:"applied_rev"`
	DesiredRev       uint64    `json:"desired_rev"`
	OutboxBacklog    uint64    `json:"outbox_backlog"`
	Incarnation      uint32    `json:"incarnation"`
	Watermark        uint64    `json:"watermark"`
	RejectedMessages uint64    `json:"rejected_messages"`
}

func (c *cloud) box(t testing.TB, id string) apiBox {
	t.Helper()
	var boxes []apiBox
	c.do(t, "GET", "/api/v1/boxes", nil, &boxes, http.StatusOK)
	for _, b := range boxes {
		if b.ID == id {
			return b
		}
	}
	t.Fatalf("box %s not in GET /api/v1/boxes", id)
	return apiBox{}
}

type apiEvent struct {
	Incarnation uint32          `json:"incarnation"`
	Seq         uint64          `json:"seq"`
	Type        string          `json:"type"`
	Prio        int             `json:"prio"`
	Data        json.RawMessage `json:"data"`
}

// events pages through every stored event of box, every incarnation's.
func (c *cloud) events(t testing.TB, box string) []apiEvent {
	t.Helper()
	var all []apiEvent
	after := uint64(0)
	for {
		var page struct {
			Events    []apiEvent `json:"events"`
			NextAfter uint64     `json:"next_after"`
		}
		c.do(t, "GET", fmt.Sprintf("/api/v1/boxes/%s/events?after=%d&limit=1000", box, after), nil, &page, http.StatusOK)
		if len(page.Events) == 0 {
			return all
		}
		all = append(all, page.Events...)
		after = page.NextAfter
	}
}

// addBox registers a box through the API and returns its edge config.
func (c *cloud) addBox(t testing.TB, id string) string {
	t.Helper()
	var out struct {
		EdgeConfig string `json:"edge_config"`
	}
	c.do(t, "POST", "/api/v1/boxes", map[string]string{"id": id, "name": "测试村 " + id}, &out, http.StatusCreated)
	if !strings.Contains(out.EdgeConfig, id) {
		t.Fatalf("edge config does not name the box:\n%s", out.EdgeConfig)
	}
	return out.EdgeConfig
}

// edge is a running dalaba-edge.
type edge struct {
	*proc
	config  string
	dataDir string
	client  *http.Client
}

func writeEdgeConfig(t testing.TB, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "edge.yaml")
	if !strings.Contains(yaml, "relay:") { // boxes run side by side here: no fixed RTSP port
		yaml += "\nrelay:\n  listen: 127.0.0.1:0\n"
	}
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func startEdge(t testing.TB, config, dataDir string) *edge {
	t.Helper()
	p := start(t, "dalaba-edge", bins.edge, nil, "--config", config, "--data-dir", dataDir)
	sock := filepath.Join(dataDir, "dalaba-edge.sock")
	e := &edge{proc: p, config: config, dataDir: dataDir, client: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
	}}
	eventually(t, 15*time.Second, "edge local API answers", func() bool {
		if !p.alive() {
			t.Fatalf("dalaba-edge exited: %v", p.err)
		}
		resp, err := e.client.Get("http://edge/v1/status")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return e
}

type localEvent struct {
	Type     string          `json:"type"`
	Priority int             `json:"priority"`
	Data     json.RawMessage `json:"data,omitempty"`
}

// appendEvents posts events to the box's local API; it returns the seqs only
// when the box answered that all of them are durable.
func (e *edge) appendEvents(evs []localEvent) ([]uint64, error) {
	b, err := json.Marshal(evs)
	if err != nil {
		return nil, err
	}
	resp, err := e.client.Post("http://edge/v1/events", "application/json", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("append: status %d: %s", resp.StatusCode, body)
	}
	var out struct {
		Seqs []uint64 `json:"seqs"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, err
	}
	if len(out.Seqs) != len(evs) {
		return nil, fmt.Errorf("append: %d seqs for %d events", len(out.Seqs), len(evs))
	}
	return out.Seqs, nil
}

// seqSet collects acknowledged seqs from several goroutines.
type seqSet struct {
	mu sync.Mutex
	m  map[uint64]bool
}

func (s *seqSet) add(seqs []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[uint64]bool{}
	}
	for _, q := range seqs {
		s.m[q] = true
	}
}

func (s *seqSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// checkAllOnce asserts the stored events are in strictly increasing seq
// order with no duplicates, and that every acknowledged seq is among them.
func checkAllOnce(t testing.TB, stored []apiEvent, acked *seqSet) {
	t.Helper()
	have := make(map[uint64]bool, len(stored))
	for i, e := range stored {
		if i > 0 && e.Seq <= stored[i-1].Seq {
			t.Fatalf("stored events out of order or duplicated at %d: %d after %d", i, e.Seq, stored[i-1].Seq)
		}
		have[e.Seq] = true
	}
	acked.mu.Lock()
	defer acked.mu.Unlock()
	missing := 0
	for q := range acked.m {
		if !have[q] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d events the box acknowledged are missing at the township", missing, len(acked.m))
	}
}
