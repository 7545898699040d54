package relay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"

	"github.com/dalaba/dalaba/devices/camera/sim"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// probeCamera runs a simulated camera (H.264) until the test ends.
func probeCamera(t *testing.T, user, pass string) *sim.Sim {
	t.Helper()
	clip, err := os.ReadFile(filepath.Join("..", "..", "devices", "camera", "sim", "testdata", "high-1280x720.h264"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(sim.Config{Listen: "127.0.0.1:0", Clip: clip, Username: user, Password: pass})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Background(t, 10*time.Second, "camera", s.Run)
	return s
}

// silentRTSP accepts connections and never answers: a camera that hangs.
func silentRTSP(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String()
}

// audioOnlyRTSP answers every DESCRIBE with one audio track and nothing
// else: a camera without video.
func audioOnlyRTSP(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sdp := "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=audio\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\na=control:trackID=0\r\n"
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := textproto.NewReader(bufio.NewReader(c))
				for {
					if _, err := r.ReadLine(); err != nil {
						return
					}
					h, err := r.ReadMIMEHeader()
					if err != nil {
						return
					}
					fmt.Fprintf(c, "RTSP/1.0 200 OK\r\nCSeq: %s\r\nContent-Type: application/sdp\r\nContent-Base: rtsp://%s/a/\r\nContent-Length: %d\r\n\r\n%s",
						h.Get("Cseq"), l.Addr(), len(sdp), sdp)
				}
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String()
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestProbe: a camera the relay can pass through is opened and its video
// named; every other camera is refused with the reason an official can
// act on, within the deadline.
func TestProbe(t *testing.T) {
	base := runtime.NumGoroutine()
	cam := probeCamera(t, "admin", "12345")
	u := cam.URL()
	path := u[strings.LastIndex(u, "/"):]
	cases := []struct {
		name   string
		cam    Camera
		reason string // "" = opened
	}{
		{"the camera with its credentials", Camera{URL: u, Username: "admin", Password: "12345"}, ""},
		{"over UDP", Camera{ID: "gate", URL: u, Username: "admin", Password: "12345", Transport: TransportUDP}, ""},
		{"a wrong password", Camera{URL: u, Username: "admin", Password: "54321"}, ProbeUnauthorized},
		{"no credentials", Camera{URL: u}, ProbeUnauthorized},
		{"a wrong path", Camera{URL: strings.TrimSuffix(u, path) + "/nothing", Username: "admin", Password: "12345"}, ProbeNotFound},
		{"nobody listening", Camera{URL: "rtsp://" + closedPort(t) + "/cam1"}, ProbeUnreachable},
		{"a camera that never answers", Camera{URL: "rtsp://" + silentRTSP(t) + "/cam1"}, ProbeTimeout},
		{"audio only", Camera{URL: "rtsp://" + audioOnlyRTSP(t) + "/a"}, ProbeNoVideo},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cam.AllowLocal = true // the test cameras are on loopback
			start := time.Now()
			got, err := Probe(t.Context(), c.cam, 2*time.Second)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("the probe took %s with a 2 s deadline", took)
			}
			if c.reason == "" {
				if err != nil || got.Video != "H264" || len(got.Tracks) == 0 {
					t.Fatalf("Probe = %+v, %v; want H264 opened", got, err)
				}
				return
			}
			pe, ok := errors.AsType[*ProbeError](err)
			if !ok || pe.Reason != c.reason {
				t.Fatalf("Probe = %+v, %v; want the reason %s", got, err, c.reason)
			}
			if c.reason == ProbeNoVideo && (len(got.Tracks) != 1 || !strings.HasPrefix(got.Tracks[0], "audio ")) {
				t.Errorf("tracks of an audio-only camera: %q", got.Tracks)
			}
		})
	}
	if _, err := Probe(t.Context(), Camera{URL: "http://x/"}, time.Second); err == nil {
		t.Error("a camera that is not RTSP was probed")
	}
	// Without the township's allowance the box's own ports are not
	// probed, by address or by a name that resolves to it.
	if _, err := Probe(t.Context(), Camera{URL: u, Username: "admin", Password: "12345"}, time.Second); !errors.Is(err, protocol.ErrLocalTarget) {
		t.Errorf("probe of the box's own loopback without the allowance: %v", err)
	}
	if _, err := Probe(t.Context(), Camera{URL: "rtsp://" + strings.Replace(closedPort(t), "127.0.0.1", "localhost.", 1) + "/cam1"}, time.Second); err == nil {
		t.Error("a probe of a name for the box itself went through")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Probe(ctx, Camera{URL: "rtsp://" + silentRTSP(t) + "/cam1"}, time.Minute); err == nil {
		t.Error("a probe with its context ended opened a camera")
	}
	// Nothing of the probes lingers (the cameras stop with the test).
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base+12 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after the probes, %d before", runtime.NumGoroutine(), base)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestProbeReasonOfTheClientsOwnTimeout: the RTSP client's read timeout
// equals the probe's deadline, so on a slow box (an armv7 under load) it
// can fire before the context's; the camera still did not answer.
func TestProbeReasonOfTheClientsOwnTimeout(t *testing.T) {
	err := fmt.Errorf("describe: %w", liberrors.ErrClientRequestTimedOut{})
	if got := probeReason(context.Background(), err); got != ProbeTimeout {
		t.Fatalf("reason %q for the client's own timeout, want %q", got, ProbeTimeout)
	}
}
