package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dalaba/dalaba/protocol"
)

// Software updates end to end: real dalaba-edge builds of two versions,
// the township's rollouts, and a supervisor in the test that does what
// systemd does with configs/systemd/dalaba-edge.service: `slot boot`
// before each start, the notify socket with a watchdog, a restart on exit
// or on a missed watchdog, `slot exited` with $SERVICE_RESULT.

const (
	oldVersion = "1.0.0"
	newVersion = "2.0.0"
	// sdWatchdog is the test's WatchdogSec: the box pings every half.
	sdWatchdog = 2 * time.Second
)

// otaBins are the builds the update tests use, made once.
var otaBins struct {
	once              sync.Once
	err               error
	old, new          string // dalaba-edge at oldVersion and newVersion
	crash, hang       string // releases that exit at start, and hang
	crashVer, hangVer string
}

func buildOTA(t testing.TB) {
	t.Helper()
	otaBins.once.Do(func() {
		dir := filepath.Join(bins.dir, "ota")
		build := func(out, pkg string, ldflags string) error {
			args := []string{"build", "-o", out}
			if ldflags != "" {
				args = append(args, "-ldflags", ldflags)
			}
			cmd := exec.Command("go", append(args, pkg)...)
			if b, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
			}
			return nil
		}
		otaBins.old, otaBins.new = filepath.Join(dir, "old", "dalaba-edge"), filepath.Join(dir, "new", "dalaba-edge")
		otaBins.crash, otaBins.hang = filepath.Join(dir, "crash"), filepath.Join(dir, "hang")
		otaBins.crashVer, otaBins.hangVer = "2.1.0-crash", "2.2.0-hang"
		for _, b := range []struct{ out, pkg, ld string }{
			{otaBins.old, "../dalaba-edge", "-X main.version=" + oldVersion},
			{otaBins.new, "../dalaba-edge", "-X main.version=" + newVersion},
			{otaBins.crash, "./testdata/release/crash", ""},
			{otaBins.hang, "./testdata/release/hang", ""},
		} {
			if otaBins.err = build(b.out, b.pkg, b.ld); otaBins.err != nil {
				return
			}
		}
	})
	if otaBins.err != nil {
		t.Fatal(otaBins.err)
	}
}

func arch(t testing.TB) string {
	a := protocol.GoArch(runtime.GOARCH)
	if a == "" {
		t.Skipf("no release architecture for GOARCH %s", runtime.GOARCH)
	}
	return a
}

// updateYAML is the box's update section in these tests: quick trials.
const updateYAML = `
update:
  commit_after: 2s
  trial_timeout: 40s
  max_boots: 3
`

// supervisor runs one box as systemd runs dalaba-edge.service.
type supervisor struct {
	t       testing.TB
	pkg     string // the packaged binary: /usr/bin/dalaba-edge
	config  string
	dataDir string
	log     *os.File

	mu      sync.Mutex
	child   *os.Process
	starts  int
	results []string

	stop chan struct{}
	done chan struct{}
}

func supervise(t testing.TB, pkg, config, dataDir string) *supervisor {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "supervisor.log"))
	if err != nil {
		t.Fatal(err)
	}
	s := &supervisor{t: t, pkg: pkg, config: config, dataDir: dataDir, log: f, stop: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	t.Cleanup(func() {
		close(s.stop)
		<-s.done
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(f.Name())
			t.Logf("--- supervisor of %s (last 6000 bytes) ---\n%s", dataDir, tail(b, 6000))
		}
	})
	return s
}

func (s *supervisor) logf(format string, a ...any) {
	fmt.Fprintf(s.log, time.Now().Format("15:04:05.000 ")+format+"\n", a...)
}

func (s *supervisor) run() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		default:
		}
		result, stopped := s.once()
		out, err := s.verb("exited", "SERVICE_RESULT="+result)
		s.logf("slot exited (%s): %v %s", result, err, out)
		if stopped {
			return
		}
		select { // RestartSec
		case <-s.stop:
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *supervisor) verb(verb string, env ...string) (string, error) {
	cmd := exec.Command(s.pkg, "slot", verb, "--config", s.config, "--data-dir", s.dataDir)
	cmd.Env = append(os.Environ(), env...)
	b, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(b)), err
}

// once is one start: ExecStartPre, ExecStart with the notify socket, until
// the child exits, misses the watchdog, or the test stops.
func (s *supervisor) once() (result string, stopped bool) {
	out, err := s.verb("boot")
	s.logf("slot boot: %v %s", err, out)
	if err != nil {
		return "exit-code", false
	}
	dir, err := os.MkdirTemp("", "sd") // short: a socket path has 108 bytes
	if err != nil {
		s.logf("%v", err)
		return "resources", false
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		s.logf("%v", err)
		return "resources", false
	}
	defer conn.Close()
	cmd := exec.Command(filepath.Join(s.dataDir, "slots", "current", "dalaba-edge"), "--config", s.config, "--data-dir", s.dataDir)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, fmt.Sprintf("WATCHDOG_USEC=%d", sdWatchdog.Microseconds()))
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		s.logf("start: %v", err)
		return "exit-code", false
	}
	s.mu.Lock()
	s.child, s.starts = cmd.Process, s.starts+1
	s.mu.Unlock()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	pings := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			pings <- string(buf[:n])
		}
	}()
	wd := time.NewTimer(sdWatchdog)
	defer wd.Stop()
	for {
		select {
		case msg := <-pings:
			if strings.Contains(msg, "WATCHDOG=1") || strings.Contains(msg, "READY=1") {
				wd.Reset(sdWatchdog)
			}
		case err := <-exited:
			s.logf("exited: %v", err)
			s.record("exit-code")
			return "exit-code", false
		case <-wd.C:
			// WatchdogSignal=SIGKILL, as the unit says.
			s.logf("watchdog: no ping for %s; killing", sdWatchdog)
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
			s.record("watchdog")
			return "watchdog", false
		case <-s.stop:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Signal(syscall.SIGKILL)
				<-exited
			}
			return "success", true
		}
	}
}

func (s *supervisor) record(r string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.results = append(s.results, r)
}

// kill SIGKILLs the running daemon, as a power cut would; the supervisor
// starts it again.
func (s *supervisor) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.child != nil {
		_ = s.child.Signal(syscall.SIGKILL)
	}
}

// status is the box's own account of itself, over its local API.
func boxStatus(dataDir string) (version string, connected bool, err error) {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", filepath.Join(dataDir, "dalaba-edge.sock"))
	}}}
	resp, err := c.Get("http://edge/v1/status")
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	var st struct {
		Version   string `json:"version"`
		Connected bool   `json:"connected"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return "", false, err
	}
	return st.Version, st.Connected, nil
}

// slotState reads the box's slot state file.
func slotState(t testing.TB, dataDir string) (active string, trial bool, versions map[string]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "slots", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Active   string            `json:"active"`
		Trial    bool              `json:"trial"`
		Versions map[string]string `json:"versions"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("slot state %s: %v", b, err)
	}
	return s.Active, s.Trial, s.Versions
}

// otaBox registers a box and runs it under a supervisor from the old build.
func otaBox(t testing.TB, c *cloud, id string) (*supervisor, string) {
	t.Helper()
	cfg := writeEdgeConfig(t, c.addBox(t, id)+updateYAML)
	dataDir := t.TempDir()
	s := supervise(t, otaBins.old, cfg, dataDir)
	eventually(t, 30*time.Second, id+" runs "+oldVersion+" and is connected", func() bool {
		v, ok, err := boxStatus(dataDir)
		return err == nil && ok && v == oldVersion
	})
	return s, dataDir
}

// uploadRelease posts a release with one binary for this machine.
func (c *cloud) uploadRelease(t testing.TB, version, bin string) {
	t.Helper()
	prog, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("version", version)
	mw.WriteField("notes", "e2e")
	w, _ := mw.CreateFormFile(arch(t), "dalaba-edge")
	w.Write(prog)
	mw.Close()
	req, _ := http.NewRequest("POST", "http://"+c.HTTP+"/api/v1/releases", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("upload %s: %d %s", version, resp.StatusCode, b)
	}
}

type apiRollout struct {
	ID       string         `json:"id"`
	State    string         `json:"state"`
	Wave     int            `json:"wave"`
	Reason   string         `json:"reason"`
	Progress map[string]int `json:"progress"`
	Boxes    []struct {
		BoxID string `json:"box_id"`
		Wave  int    `json:"wave"`
		State string `json:"state"`
		Code  string `json:"code"`
	} `json:"boxes"`
}

func (c *cloud) rollout(t testing.TB, id string) apiRollout {
	t.Helper()
	var r apiRollout
	c.do(t, "GET", "/api/v1/rollouts/"+id, nil, &r, http.StatusOK)
	return r
}

func (c *cloud) startRollout(t testing.TB, in map[string]any) apiRollout {
	t.Helper()
	var r apiRollout
	c.do(t, "POST", "/api/v1/rollouts", in, &r, http.StatusCreated)
	return r
}

func TestAStagedRolloutReachesEveryBox(t *testing.T) {
	buildOTA(t)
	c := startCloud(t, cloudOpts{})
	boxes := map[string]string{}
	for _, id := range []string{"ota-1", "ota-2", "ota-3"} {
		_, dd := otaBox(t, c, id)
		boxes[id] = dd
	}
	c.uploadRelease(t, newVersion, otaBins.new)
	ro := c.startRollout(t, map[string]any{"version": newVersion, "waves": []int{34, 67, 100}})
	if len(ro.Boxes) != 3 {
		t.Fatalf("rollout of %d boxes, want 3", len(ro.Boxes))
	}
	// The waves go one after another: never a box of a later wave sent
	// while an earlier one has not settled.
	eventually(t, 2*time.Minute, "the rollout is done", func() bool {
		r := c.rollout(t, ro.ID)
		for _, b := range r.Boxes {
			if b.Wave > r.Wave && b.State != "waiting" {
				t.Fatalf("box %s of wave %d is %s during wave %d", b.BoxID, b.Wave+1, b.State, r.Wave+1)
			}
			if b.State == "failed" {
				t.Fatalf("box %s failed: %s", b.BoxID, b.Code)
			}
		}
		return r.State == "done"
	})
	for id, dd := range boxes {
		v, ok, err := boxStatus(dd)
		if err != nil || v != newVersion || !ok {
			t.Errorf("%s: version %q, connected %v, %v; want %s", id, v, ok, err, newVersion)
		}
		active, trial, versions := slotState(t, dd)
		if active != "b" || trial || versions["b"] != newVersion || versions["a"] != oldVersion {
			t.Errorf("%s: slot %s (trial %v) of %v", id, active, trial, versions)
		}
	}
}

// badRollout rolls release version out to the box and waits for the
// rollout to pause with the box failed for reason.
func badRollout(t *testing.T, c *cloud, box, dataDir, version, reason string) {
	t.Helper()
	ro := c.startRollout(t, map[string]any{"version": version, "boxes": []string{box}, "waves": []int{100}})
	eventually(t, 90*time.Second, "the rollout of "+version+" pauses", func() bool {
		r := c.rollout(t, ro.ID)
		return r.State == "paused"
	})
	r := c.rollout(t, ro.ID)
	if r.Boxes[0].State != "failed" || r.Boxes[0].Code != reason || r.Reason == "" {
		t.Fatalf("rollout of %s: %+v, want the box failed with %s", version, r, reason)
	}
	eventually(t, 20*time.Second, "the box runs "+oldVersion+" again", func() bool {
		v, ok, err := boxStatus(dataDir)
		return err == nil && ok && v == oldVersion
	})
	if active, trial, _ := slotState(t, dataDir); active != "a" || trial {
		t.Fatalf("after the roll-back: slot %s, trial %v", active, trial)
	}
	eventually(t, 20*time.Second, "the township stores update.rolled_back", func() bool {
		for _, ev := range c.events(t, box) {
			if ev.Type != protocol.EventUpdateRolledBack {
				continue
			}
			var rb protocol.RolledBack
			if json.Unmarshal(ev.Data, &rb) == nil && rb.From == version && rb.Reason == reason && rb.To == oldVersion {
				return true
			}
		}
		return false
	})
}

func TestABoxGoesBackFromAReleaseThatCrashesOrHangs(t *testing.T) {
	buildOTA(t)
	c := startCloud(t, cloudOpts{})
	sup, dd := otaBox(t, c, "ota-bad")
	c.uploadRelease(t, otaBins.crashVer, otaBins.crash)
	c.uploadRelease(t, otaBins.hangVer, otaBins.hang)

	badRollout(t, c, "ota-bad", dd, otaBins.crashVer, protocol.RollbackCrashLoop)
	badRollout(t, c, "ota-bad", dd, otaBins.hangVer, protocol.RollbackWatchdog)

	sup.mu.Lock()
	defer sup.mu.Unlock()
	watchdogs := 0
	for _, r := range sup.results {
		if r == "watchdog" {
			watchdogs++
		}
	}
	if watchdogs != 3 {
		t.Errorf("the watchdog fired %d times (%v), want 3: once per start of the hung release", watchdogs, sup.results)
	}
}

// throttle is the township's public address in front of it: it passes
// release downloads at a village's pace, so a test can cut one, and
// notes the Range of each.
type throttle struct {
	ln     net.Listener
	target atomic.Pointer[url.URL]
	slow   atomic.Bool
	mu     sync.Mutex
	ranges []string
}

func newThrottle(t testing.TB) *throttle {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	th := &throttle{ln: ln}
	th.slow.Store(true)
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(th.target.Load()) }}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/releases/") {
			th.mu.Lock()
			th.ranges = append(th.ranges, r.Header.Get("Range"))
			th.mu.Unlock()
			if th.slow.Load() {
				w = &slowWriter{ResponseWriter: w}
			}
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return th
}

// slowWriter passes 256 KiB a second.
type slowWriter struct{ http.ResponseWriter }

func (s *slowWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), 16<<10)
		m, err := s.ResponseWriter.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		if f, ok := s.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		p = p[k:]
		time.Sleep(time.Second / 16)
	}
	return n, nil
}

func TestSIGKILLDuringTheDownloadAndTheSwitchLeavesAGoodVersion(t *testing.T) {
	buildOTA(t)
	th := newThrottle(t)
	c := startCloud(t, cloudOpts{config: "http:\n  public_url: http://" + th.ln.Addr().String() + "\n"})
	u, _ := url.Parse("http://" + c.HTTP)
	th.target.Store(u)
	sup, dd := otaBox(t, c, "ota-kill")
	c.uploadRelease(t, newVersion, otaBins.new)

	// Killed during the download: the box comes back on the old version,
	// its slots untouched, and the partial file stays for the next try.
	ro := c.startRollout(t, map[string]any{"version": newVersion, "boxes": []string{"ota-kill"}, "waves": []int{100}})
	part := ""
	eventually(t, 30*time.Second, "the download is under way", func() bool {
		m, _ := filepath.Glob(filepath.Join(dd, "update", "*.part"))
		if len(m) == 1 {
			if st, err := os.Stat(m[0]); err == nil && st.Size() > 256<<10 {
				part = m[0]
				return true
			}
		}
		return false
	})
	sup.kill()
	eventually(t, 30*time.Second, "the box is back on "+oldVersion, func() bool {
		v, ok, err := boxStatus(dd)
		return err == nil && ok && v == oldVersion
	})
	if active, trial, versions := slotState(t, dd); active != "a" || trial || versions["b"] != "" {
		t.Fatalf("after a kill mid-download: slot %s, trial %v, %v", active, trial, versions)
	}
	st, err := os.Stat(part)
	if err != nil || st.Size() == 0 {
		t.Fatalf("the partial download is gone: %v", err)
	}
	// The township's install is lost with the box; cancel the rollout
	// and send the install again by hand, at full speed: it resumes.
	c.do(t, "POST", "/api/v1/rollouts/"+ro.ID+"/cancel", nil, nil, http.StatusOK)
	th.slow.Store(false)
	var rels []struct {
		Binaries []struct {
			Arch     string          `json:"arch"`
			SHA256   string          `json:"sha256"`
			Manifest json.RawMessage `json:"manifest"`
		} `json:"binaries"`
	}
	c.do(t, "GET", "/api/v1/releases", nil, &rels, http.StatusOK)
	bin := rels[0].Binaries[0]
	args := protocol.UpdateArgs{Manifest: bin.Manifest, URL: "http://" + th.ln.Addr().String() + "/releases/" + bin.SHA256}

	// Killed during the switch: as soon as the new binary lands in slot b.
	switched := make(chan struct{})
	go func() {
		defer close(switched)
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if m, _ := filepath.Glob(filepath.Join(dd, "slots", "b", "*")); len(m) > 0 {
				sup.kill()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var res protocol.CommandResult
	err = c.call("POST", "/api/v1/boxes/ota-kill/commands", map[string]any{"type": protocol.CmdUpdateInstall, "args": args}, &res, http.StatusOK)
	t.Logf("the install killed during the switch answered: %v %+v", err, res)
	<-switched
	th.mu.Lock()
	resumed := len(th.ranges) >= 2 && th.ranges[len(th.ranges)-1] != ""
	ranges := append([]string(nil), th.ranges...)
	th.mu.Unlock()
	if !resumed {
		t.Errorf("downloads' Range headers %q: want the second to resume the first", ranges)
	}
	// Whatever the kill cut, the box runs a good version: the old one, or
	// the new one, which then proves itself and is kept.
	var v string
	eventually(t, 60*time.Second, "the box runs a committed version", func() bool {
		var ok bool
		v, ok, err = boxStatus(dd)
		if err != nil || !ok {
			return false
		}
		_, trial, _ := slotState(t, dd)
		return !trial && (v == oldVersion || v == newVersion)
	})
	active, _, versions := slotState(t, dd)
	if versions[active] != v {
		t.Fatalf("slot %s holds %s, yet %s runs", active, versions[active], v)
	}
	t.Logf("after a kill during the switch the box runs %s from slot %s", v, active)
	if v == oldVersion {
		// Not switched yet: the next install goes through.
		if err := c.call("POST", "/api/v1/boxes/ota-kill/commands", map[string]any{"type": protocol.CmdUpdateInstall, "args": args}, &res, http.StatusOK); err != nil && !errors.Is(err, io.EOF) {
			t.Logf("install: %v", err)
		}
		eventually(t, 60*time.Second, "the box runs "+newVersion, func() bool {
			v, ok, err := boxStatus(dd)
			_, trial, _ := slotState(t, dd)
			return err == nil && ok && v == newVersion && !trial
		})
	}
}

// A release signed by another key, or built for another architecture, is
// refused by the box before anything is replaced.
func TestABadSignatureOrArchitectureIsRefused(t *testing.T) {
	buildOTA(t)
	c := startCloud(t, cloudOpts{})
	_, dd := otaBox(t, c, "ota-refuse")
	c.uploadRelease(t, newVersion, otaBins.new)
	var rels []struct {
		Binaries []struct {
			SHA256   string          `json:"sha256"`
			Size     int64           `json:"size"`
			Manifest json.RawMessage `json:"manifest"`
		} `json:"binaries"`
	}
	c.do(t, "GET", "/api/v1/releases", nil, &rels, http.StatusOK)
	bin := rels[0].Binaries[0]
	other, err := protocol.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	forged, err := protocol.SignManifest(other, protocol.Manifest{Version: newVersion, Arch: arch(t), SHA256: bin.SHA256, Size: bin.Size})
	if err != nil {
		t.Fatal(err)
	}
	wrong := protocol.ArchARMHF
	if arch(t) == wrong {
		wrong = protocol.ArchAMD64
	}
	// A manifest the township's own key signed, for another architecture.
	raw, err := os.ReadFile(filepath.Join(c.dataDir, "township.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := protocol.ParsePrivateKey(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	otherArch, err := protocol.SignManifest(key, protocol.Manifest{Version: newVersion, Arch: wrong, SHA256: bin.SHA256, Size: bin.Size})
	if err != nil {
		t.Fatal(err)
	}
	// And the genuine manifest with its architecture changed after signing.
	var env struct {
		V    int             `json:"v"`
		Body json.RawMessage `json:"body"`
		Sig  []byte          `json:"sig"`
	}
	if err := json.Unmarshal(bin.Manifest, &env); err != nil {
		t.Fatal(err)
	}
	env.Body = bytes.Replace(env.Body, []byte(`"arch":"`+arch(t)+`"`), []byte(`"arch":"`+wrong+`"`), 1)
	retagged, _ := json.Marshal(env)
	for _, tc := range []struct {
		name     string
		manifest json.RawMessage
		code     string
	}{
		{"signed by another key", forged, protocol.CodeUpdateSignature},
		{"architecture changed after signing", retagged, protocol.CodeUpdateSignature},
		{"another architecture", otherArch, protocol.CodeUpdateArch},
	} {
		var res protocol.CommandResult
		args := protocol.UpdateArgs{Manifest: tc.manifest, URL: "http://" + c.HTTP + "/releases/" + bin.SHA256}
		err := c.call("POST", "/api/v1/boxes/ota-refuse/commands", map[string]any{"type": protocol.CmdUpdateInstall, "args": args}, &res, http.StatusOK)
		if err == nil && res.OK {
			t.Fatalf("%s: the box took it: %+v", tc.name, res)
		}
		if !strings.Contains(fmt.Sprint(err, res), tc.code) {
			t.Errorf("%s: answered %v %+v, want the code %s", tc.name, err, res, tc.code)
		}
		if active, trial, versions := slotState(t, dd); active != "a" || trial || versions["b"] != "" {
			t.Fatalf("%s: slots changed: %s %v %v", tc.name, active, trial, versions)
		}
		if m, _ := filepath.Glob(filepath.Join(dd, "update", "*")); len(m) != 0 {
			t.Fatalf("%s: the box downloaded %v", tc.name, m)
		}
	}
	if v, ok, err := boxStatus(dd); err != nil || !ok || v != oldVersion {
		t.Fatalf("the box: %q %v %v", v, ok, err)
	}
}
