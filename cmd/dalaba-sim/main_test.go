package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker/rtpspeaker"
	"github.com/dalaba/dalaba/internal/testenv"
)

// testVersion is linked into the binary, to show -X main.version works.
const testVersion = "v0.0.0-simtest"

// bin is the dalaba-sim binary TestMain builds once.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dalaba-sim-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "dalaba-sim")
	build := exec.Command("go", "build", "-ldflags", "-X main.version="+testVersion, "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "dalaba-sim: building the binary:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runBin runs the binary to its end and returns its exit code and output.
func runBin(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

func TestUsage(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string // substring; "" means stdout must be empty
		stderr []string
	}{
		{"version", []string{"--version"}, exitOK, "dalaba-sim " + testVersion + "\n", nil},
		{"help", []string{"help"}, exitOK, "speaker", nil},
		{"help speaker", []string{"help", "speaker"}, exitOK, "-stats-interval", nil},
		{"no command", nil, exitUsage, "", []string{"usage: dalaba-sim COMMAND", "speaker"}},
		{"unknown command", []string{"camera2"}, exitUsage, "", []string{`unknown command "camera2"`, "speaker"}},
		{"help for an unknown command", []string{"help", "horn"}, exitUsage, "", []string{`unknown command "horn"`}},
		{"unknown flag", []string{"speaker", "--volume", "3"}, exitUsage, "", []string{"-volume", "-listen"}},
		{"stray argument", []string{"speaker", "loud"}, exitUsage, "", []string{"unexpected arguments: loud"}},
		{"address without port", []string{"speaker", "--listen", "127.0.0.1"}, exitUsage, "", []string{"--listen 127.0.0.1", "port"}},
		{"port out of range", []string{"speaker", "--listen", "127.0.0.1:99999"}, exitUsage, "", []string{"--listen 127.0.0.1:99999"}},
		{"interface for unicast", []string{"speaker", "--listen", "127.0.0.1:0", "--interface", "lo"}, exitUsage, "", []string{"interface"}},
		{"negative stats interval", []string{"speaker", "--stats-interval", "-1s"}, exitUsage, "", []string{"negative"}},
		{"fleet without credentials", []string{"fleet", "--broker", "tcp://127.0.0.1:1883"}, exitUsage, "", []string{"--credentials is required"}},
		{"fleet with a missing credentials file", []string{"fleet", "--credentials", "/nonexistent/boxes.txt"}, exitUsage, "", []string{"--credentials"}},
		{"help fleet", []string{"help", "fleet"}, exitOK, "-compress", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runBin(t, c.args...)
			okOut := stdout == "" && c.stdout == "" || c.stdout != "" && strings.Contains(stdout, c.stdout)
			if code != c.code || !okOut {
				t.Errorf("exit %d, stdout %q; want %d, %q (stderr %s)", code, stdout, c.code, c.stdout, stderr)
			}
			for _, w := range c.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not mention %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// syncBuffer is stderr of a running process, read while it is written.
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

func sine(hz float64, d time.Duration) audio.PCM {
	n := int(d.Seconds() * rtpspeaker.Rate)
	p := audio.PCM{Rate: rtpspeaker.Rate, Channels: 1, Samples: make([]int16, n)}
	for i := range p.Samples {
		p.Samples[i] = int16(16000 * math.Sin(2*math.Pi*hz*float64(i)/rtpspeaker.Rate))
	}
	return p
}

func rms(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(max(1, len(s))))
}

// readWAV decodes the recording and checks it holds about a second of
// the tone.
func readWAV(t *testing.T, path string) audio.PCM {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("recording: %v", err)
	}
	p, err := audio.Decode(b, audio.Limits{})
	if err != nil {
		t.Fatalf("recording does not decode: %v", err)
	}
	if p.Rate != 8000 || p.Channels != 1 {
		t.Errorf("recording is %d Hz, %d channels; want 8000 Hz mono", p.Rate, p.Channels)
	}
	if n := len(p.Samples); n < 7600 || n > 8800 {
		t.Errorf("recording has %d samples; want about 8000 (1 s)", n)
	}
	// The sine's RMS is 16000/√2 ≈ 11300; G.711 keeps it within a few %.
	if r := rms(p.Samples); r < 9000 {
		t.Errorf("recording RMS %.0f; want the tone's ≈ 11300", r)
	}
	return p
}

// TestSpeakerRecords runs the simulator as a process, plays it a tone
// through the real RTP driver, and checks the WAV it writes on SIGUSR1
// and on SIGINT.
func TestSpeakerRecords(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rec") // not there yet: the sim makes it
	wav := filepath.Join(dir, recordName)
	cmd := exec.Command(bin, "speaker", "--listen", "127.0.0.1:0", "--record", dir, "--stats-interval", "100ms", "--name", "horn-1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// done closes when the process is gone; waitErr is then its outcome.
	done := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill() // already gone is fine
			<-done
		}
		if t.Failed() {
			t.Logf("--- dalaba-sim stderr ---\n%s", stderr.String())
		}
	})

	// The first line says where it listens; port 0 became a real one.
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout) // keep draining so the sim never blocks on stdout
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(10 * time.Second):
		t.Fatal("no listening line within 10 s")
	}
	const prefix = "speaker listening on "
	if !strings.HasPrefix(line, prefix) || !strings.HasSuffix(line, " (RTP PCMU/PCMA)") {
		t.Fatalf("first line %q; want %q ADDR (RTP PCMU/PCMA)", line, prefix)
	}
	addr := strings.Fields(strings.TrimPrefix(line, prefix))[0]
	if strings.HasSuffix(addr, ":0") {
		t.Fatalf("listening line shows port 0: %q", line)
	}

	spk, err := rtpspeaker.New(rtpspeaker.Config{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer spk.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := spk.Play(ctx, sine(440, time.Second)); err != nil {
		t.Fatalf("play: %v", err)
	}

	// 1 s in 20 ms packets is 50; the stats line shows when all arrived.
	waitFor(t, "a stats line with packets=50", func() bool {
		return strings.Contains(stderr.String(), "packets=50 ")
	})
	if !strings.Contains(stderr.String(), "name=horn-1") {
		t.Errorf("log lines do not carry --name:\n%s", stderr.String())
	}

	if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, recordName+" written on SIGUSR1", func() bool {
		_, err := os.Stat(wav)
		return err == nil
	})
	readWAV(t, wav)
	if err := os.Remove(wav); err != nil {
		t.Fatal(err)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		if waitErr != nil {
			t.Fatalf("exit after SIGINT: %v; want 0", waitErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after SIGINT")
	}
	readWAV(t, wav)
	if _, err := os.Stat(wav + ".tmp"); err == nil {
		t.Errorf("the temporary file was left behind")
	}
	for _, w := range []string{"speaker stopped", "lost=0", "spurts=1", "recording written"} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("log does not mention %q:\n%s", w, stderr.String())
		}
	}
}

// waitFor polls cond until it holds, for at most 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 10*time.Second, what, cond)
}
