package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dalaba/dalaba/internal/testenv"
)

// cameraFixtures is where the camera's test clips are.
var cameraFixtures = filepath.Join("..", "..", "devices", "camera", "sim", "testdata")

func TestCameraUsage(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string // substring; "" means stdout must be empty
		stderr []string
	}{
		{"listed in help", []string{"help"}, exitOK, "camera", nil},
		{"help camera", []string{"help", "camera"}, exitOK, "-clip", nil},
		{"unknown flag", []string{"camera", "--zoom", "2"}, exitUsage, "", []string{"-zoom", "-listen"}},
		{"stray argument", []string{"camera", "front-gate"}, exitUsage, "", []string{"unexpected arguments: front-gate"}},
		{"zero fps", []string{"camera", "--fps", "0"}, exitUsage, "", []string{"--fps 0"}},
		{"too many fps", []string{"camera", "--listen", "127.0.0.1:0", "--fps", "1000"}, exitUsage, "", []string{"fps"}},
		{"password alone", []string{"camera", "--pass", "x"}, exitUsage, "", []string{"--pass needs --user"}},
		{"negative stats interval", []string{"camera", "--stats-interval", "-1s"}, exitUsage, "", []string{"negative"}},
		{"missing clip", []string{"camera", "--clip", "/nonexistent.h264"}, exitUsage, "", []string{"--clip", "nonexistent"}},
		{"not a clip", []string{"camera", "--listen", "127.0.0.1:0", "--clip", filepath.Join(cameraFixtures, "tone-8k.alaw")}, exitUsage, "", []string{"Annex-B"}},
		{"missing sub clip", []string{"camera", "--sub-clip", "/nonexistent.h264"}, exitUsage, "", []string{"--sub-clip", "nonexistent"}},
		{"address without port", []string{"camera", "--listen", "127.0.0.1"}, exitUsage, "", []string{"127.0.0.1", "port"}},
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

// TestCameraServes runs the simulator as a process, has ffprobe read
// the stream it announces, and stops it with a signal.
func TestCameraServes(t *testing.T) {
	ffprobe := testenv.Tool(t, "ffprobe", "apt-get install ffmpeg")
	for _, c := range []struct {
		name     string
		args     []string
		userinfo string
		line     string // the announced line, after the URL
		width    int
		height   int
		profile  string
		sig      syscall.Signal
	}{
		{"default clip", nil, "", " (H.264 640x360)", 640, 360, "Constrained Baseline", syscall.SIGINT},
		{"high clip with credentials",
			[]string{"--path", "gate", "--clip", filepath.Join(cameraFixtures, "high-1280x720.h264"), "--user", "admin", "--pass", "s3cret"},
			"admin:s3cret@", " (H.264 1280x720)", 1280, 720, "High", syscall.SIGTERM},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"camera", "--listen", "127.0.0.1:0", "--stats-interval", "200ms"}, c.args...)
			cmd := exec.Command(bin, args...)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr syncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
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

			lines := make(chan string, 1)
			go func() {
				sc := bufio.NewScanner(stdout)
				if sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
				_, _ = io.Copy(io.Discard, stdout)
			}()
			var line string
			select {
			case line = <-lines:
			case <-time.After(10 * time.Second):
				t.Fatal("no serving line within 10 s")
			}
			const prefix = "camera serving rtsp://127.0.0.1:"
			if !strings.HasPrefix(line, prefix) || !strings.HasSuffix(line, c.line) {
				t.Fatalf("first line %q; want %qPORT/PATH%s", line, prefix, c.line)
			}
			url := strings.Fields(line)[2]
			if strings.Contains(url, ":0/") {
				t.Fatalf("serving line shows port 0: %q", line)
			}

			got := ffprobeStream(t, ffprobe, strings.Replace(url, "rtsp://", "rtsp://"+c.userinfo, 1))
			if got.CodecName != "h264" || got.Width != c.width || got.Height != c.height || got.Profile != c.profile {
				t.Errorf("ffprobe sees %+v; want h264 %dx%d %s", got, c.width, c.height, c.profile)
			}
			waitFor(t, "a stats line counting frames", func() bool {
				return strings.Contains(stderr.String(), "camera stats") && !strings.Contains(stderr.String(), "frames=0 ")
			})

			if err := cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done:
				if waitErr != nil {
					t.Fatalf("exit after %v: %v; want 0", c.sig, waitErr)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("still running 10 s after %v", c.sig)
			}
			if !strings.Contains(stderr.String(), "camera stopped") {
				t.Errorf("log does not say the camera stopped:\n%s", stderr.String())
			}
		})
	}
}

// ffprobeStream runs ffprobe over RTSP/TCP on url and returns its first
// video stream.
func ffprobeStream(t *testing.T, ffprobe, url string) (s struct {
	CodecName string `json:"codec_name"`
	Profile   string `json:"profile"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
}) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-rtsp_transport", "tcp",
		"-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height,profile",
		"-of", "json", url).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", url, err, out)
	}
	var res struct {
		Streams []json.RawMessage
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Streams) != 1 {
		t.Fatalf("ffprobe output (%v):\n%s", err, out)
	}
	if err := json.Unmarshal(res.Streams[0], &s); err != nil {
		t.Fatalf("ffprobe stream: %v", err)
	}
	return s
}
