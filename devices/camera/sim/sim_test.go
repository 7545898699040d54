package sim

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// TestClientReads plays the camera with gortsplib's client over each
// transport and checks what arrives: whole access units, equal to the
// clip's, in order, 3600 ticks (1/25 s) apart, at 25 a second, with SPS
// and PPS in front of every IDR.
func TestClientReads(t *testing.T) {
	for _, c := range []struct {
		name  string
		proto gortsplib.Protocol
		clip  string
	}{
		{"TCP baseline", gortsplib.ProtocolTCP, "baseline-640x360.h264"},
		{"UDP baseline", gortsplib.ProtocolUDP, "baseline-640x360.h264"},
		{"TCP high", gortsplib.ProtocolTCP, "high-1280x720.h264"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cam := start(t, Config{Clip: fixture(t, c.clip)})
			r, err := dial(t, cam.URL(), c.proto)
			if err != nil {
				t.Fatalf("dial %s: %v", cam.URL(), err)
			}
			if !bytes.Equal(r.forma.SPS, cam.clip.sps) || !bytes.Equal(r.forma.PPS, cam.clip.pps) {
				t.Errorf("the SDP's sprop-parameter-sets are not the clip's SPS and PPS")
			}
			if got := r.c.Transport().Session.Protocol; got != c.proto {
				t.Errorf("transport %v; want %v", got, c.proto)
			}
			waitFor(t, "one reader in Stats", func() bool { return cam.Stats().Readers == 1 })

			// 2.5 s spans a loop of the 2 s clip and two IDRs at least.
			time.Sleep(2500 * time.Millisecond)
			frames, errs := r.received()
			if len(errs) > 0 {
				t.Errorf("RTP decoding errors: %v", errs)
			}
			checkFrames(t, cam.Sim, frames)
		})
	}
	noLeaks(t)
}

func checkFrames(t *testing.T, cam *Sim, frames []frame) {
	t.Helper()
	if len(frames) < 50 {
		t.Fatalf("%d frames in 2.5 s; want about 62", len(frames))
	}
	aus := cam.clip.aus
	first := -1 // index in the clip of the first frame received
	for j, au := range aus {
		if equalAU(au, frames[0].au) {
			first = j
			break
		}
	}
	if first < 0 {
		t.Fatal("the first frame received is none of the clip's")
	}
	idrs := 0
	for i, f := range frames {
		d := f.ts - frames[0].ts
		if d%3600 != 0 {
			t.Fatalf("frame %d: RTP timestamp %d ticks after the first; want a multiple of 3600", i, d)
		}
		if i > 0 && f.ts-frames[i-1].ts != 3600 {
			t.Errorf("frame %d: %d ticks after the one before; want 3600", i, f.ts-frames[i-1].ts)
		}
		// Indexed by timestamp, so a frame UDP lost shifts nothing.
		want := aus[(first+int(d/3600))%len(aus)]
		if !equalAU(f.au, want) {
			t.Errorf("frame %d (ts +%d) differs from the clip's frame", i, d)
		}
		if f.idr {
			idrs++
			if !hasParams(f.au) {
				t.Errorf("frame %d: an IDR without SPS and PPS in band", i)
			}
		}
	}
	if idrs < 2 {
		t.Errorf("%d IDR frames in 2.5 s; want 2 or more (one a second)", idrs)
	}
	span := frames[len(frames)-1].at.Sub(frames[0].at)
	if fps := float64(len(frames)-1) / span.Seconds(); fps < 22 || fps > 28 {
		t.Errorf("%d frames in %s: %.1f fps; want 25", len(frames), span, fps)
	}
}

func equalAU(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func hasParams(au [][]byte) bool {
	sps, pps := false, false
	for _, n := range au {
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			sps = true
		case h264.NALUTypePPS:
			pps = true
		}
	}
	return sps && pps
}

// TestCredentials checks a camera with a user name refuses readers
// without the right credentials and serves those with them.
func TestCredentials(t *testing.T) {
	cam := start(t, Config{Username: "admin", Password: "s3cret"})
	host := cam.Addr().String()
	for _, c := range []struct {
		name, userinfo string
		ok             bool
	}{
		{"none", "", false},
		{"wrong password", "admin:guess@", false},
		{"wrong user", "root:s3cret@", false},
		{"empty password", "admin:@", false},
		{"right", "admin:s3cret@", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := cam.Stats().Refused
			r, err := dial(t, "rtsp://"+c.userinfo+host+"/cam1", gortsplib.ProtocolTCP)
			if !c.ok {
				if err == nil {
					t.Fatal("the camera served a reader with the wrong credentials")
				}
				if !strings.Contains(err.Error(), "401") && !strings.Contains(strings.ToLower(err.Error()), "auth") {
					t.Errorf("refused with %q; want a 401", err)
				}
				if c.userinfo != "" && cam.Stats().Refused <= before {
					t.Errorf("Stats.Refused did not grow")
				}
				return
			}
			if err != nil {
				t.Fatalf("refused with the right credentials: %v", err)
			}
			waitFor(t, "a frame", func() bool { f, _ := r.received(); return len(f) > 0 })
		})
	}
}

// TestNotFound checks another path is refused.
func TestNotFound(t *testing.T) {
	cam := start(t, Config{Path: "/gate/"})
	if !strings.HasSuffix(cam.URL(), "/gate") {
		t.Errorf("URL %s; want it to end in /gate", cam.URL())
	}
	_, err := dial(t, "rtsp://"+cam.Addr().String()+"/cam1", gortsplib.ProtocolTCP)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("another path: %v; want a 404", err)
	}
}

// TestComesBack stops the camera while a reader plays, checks the reader
// loses it and nothing answers, then starts a new camera on the same
// port and reads it again: a camera going away and coming back.
func TestComesBack(t *testing.T) {
	first := start(t, Config{})
	addr := first.Addr().String()
	r, err := dial(t, first.URL(), gortsplib.ProtocolTCP)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "frames from the first camera", func() bool { f, _ := r.received(); return len(f) > 5 })
	if err := first.Stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	gone := make(chan error, 1)
	go func() { gone <- r.c.Wait() }()
	select {
	case err := <-gone:
		t.Logf("the reader saw the camera go: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the reader still plays 10 s after the camera stopped")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Run returned", addr)
	}

	second := start(t, Config{Listen: addr})
	if got := second.Addr().String(); got != addr {
		t.Fatalf("the second camera is on %s; want %s", got, addr)
	}
	if first.URL() != second.URL() {
		t.Errorf("URL changed: %s, then %s", first.URL(), second.URL())
	}
	r2, err := dial(t, second.URL(), gortsplib.ProtocolUDP)
	if err != nil {
		t.Fatalf("reading the camera that came back: %v", err)
	}
	waitFor(t, "frames from the camera that came back", func() bool { f, _ := r2.received(); return len(f) > 5 })
	r2.c.Close()
	if err := second.Stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	noLeaks(t)
}

// TestStats checks the counters follow a reader coming and going.
func TestStats(t *testing.T) {
	cam := start(t, Config{FPS: 50})
	waitFor(t, "frames sent with no reader", func() bool { return cam.Stats().Frames >= 5 })
	r, err := dial(t, cam.URL(), gortsplib.ProtocolTCP)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a reader", func() bool { return cam.Stats().Readers == 1 })
	// 50 frames at 50 fps is one loop a second.
	waitFor(t, "a loop", func() bool { return cam.Stats().Loops >= 1 })
	r.c.Close()
	waitFor(t, "no reader", func() bool { return cam.Stats().Readers == 0 })
	if st := cam.Stats(); st.Sessions != 1 || st.Refused != 0 {
		t.Errorf("Stats %+v; want 1 session, none refused", st)
	}
}

func TestNewRefuses(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"negative fps", Config{FPS: -1}, "fps"},
		{"too many fps", Config{FPS: 1000}, "fps"},
		{"password alone", Config{Password: "x"}, "password"},
		{"query in path", Config{Path: "cam1?x=1"}, "path"},
		{"not a clip", Config{Clip: []byte("hello")}, "Annex-B"},
		{"sub path is the path", Config{SubClip: DefaultClip(), SubPath: "cam1"}, "sub path"},
		{"bad sub clip", Config{SubClip: []byte("x")}, "sub stream"},
		{"audio too short", Config{Audio: []byte{1, 2}}, "audio"},
		{"port taken", Config{Listen: taken.Addr().String()}, "listen"},
		{"no port", Config{Listen: "127.0.0.1"}, "listen"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := New(c.cfg)
			if err == nil {
				s.Close()
				t.Fatal("New accepted it")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

// TestCloseWithoutRun checks Close frees the port of a camera never run,
// and that Run then refuses.
func TestCloseWithoutRun(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err == nil {
		t.Error("Run after Close served")
	}
	s2, err := New(Config{Listen: addr})
	if err != nil {
		t.Fatalf("the port was not freed: %v", err)
	}
	s2.Close()
}
