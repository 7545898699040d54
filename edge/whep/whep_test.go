package whep

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/edge/relay"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// checkIDRLed checks a viewer's first access unit is a keyframe with its
// parameter sets, and that frames follow 40 ms apart in RTP time once the
// backlog it joined with (one tick apart, see squeeze) is through.
func checkIDRLed(t *testing.T, aus []au) {
	t.Helper()
	first := aus[0].types()
	if !slices.Contains(first, nalSPS) || !slices.Contains(first, nalPPS) || !slices.Contains(first, nalIDR) {
		t.Fatalf("first access unit has NAL types %v; want SPS, PPS and IDR", first)
	}
	if i, j := slices.Index(first, nalSPS), slices.Index(first, nalIDR); i > j {
		t.Errorf("first access unit %v: SPS after the IDR", first)
	}
	backlog := true
	for i := 1; i < len(aus); i++ {
		d := aus[i].ts - aus[i-1].ts
		if backlog && d == 1 {
			continue
		}
		backlog = false
		if d != 90000/25 {
			t.Fatalf("access units %d and %d are %d ticks apart; want 3600 (25 fps)", i-1, i, d)
		}
		for _, n := range aus[i].types() {
			if n != 1 && n != nalIDR && n != nalSPS && n != nalPPS && n != 6 && n != 9 {
				t.Fatalf("access unit %d has NAL type %d", i, n)
			}
		}
	}
}

func TestViewerGetsH264(t *testing.T) {
	r := startRig(t, rigOpts{})
	v, res := r.watch(t, nil, "officer wang")
	if len(res.Session) != 32 || !strings.Contains(res.Answer, "a=candidate:") {
		t.Fatalf("result %q, answer without candidates:\n%s", res.Session, res.Answer)
	}
	waitFor(t, "50 access units", func() bool { return len(v.received()) >= 50 })
	aus := v.received()
	checkIDRLed(t, aus)
	// 49 frame intervals at 25 fps take 1.96 s; ask only that they do not
	// arrive in a burst nor far too slowly.
	if span := aus[49].at.Sub(aus[0].at); span < time.Second || span > 6*time.Second {
		t.Errorf("50 access units over %v; want about 2 s", span)
	}

	ffprobe := testenv.Tool(t, "ffprobe", "apt-get install ffmpeg")
	path := filepath.Join(t.TempDir(), "got.h264")
	var annex []byte
	for _, a := range aus {
		annex = append(annex, a.annex...)
	}
	if err := os.WriteFile(path, annex, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames,profile", "-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	fields := strings.Split(strings.TrimSpace(string(out)), ",")
	if n, _ := strconv.Atoi(fields[len(fields)-1]); n < 45 {
		t.Errorf("ffprobe decoded %q; want about 50 frames", out)
	}
}

func TestHighProfileBrowserOffer(t *testing.T) {
	r := startRig(t, rigOpts{clip: fixture(t, "high-1280x720.h264")})
	v, res := r.watch(t, browserCodecs(), "")
	t.Logf("answer:\n%s", res.Answer)
	if !strings.Contains(res.Answer, "profile-level-id=640032") || !strings.Contains(res.Answer, "a=rtpmap:116 H264/90000") {
		t.Errorf("answer does not pick the offer's High PT 116:\n%s", res.Answer)
	}
	waitFor(t, "25 access units", func() bool { return len(v.received()) >= 25 })
	checkIDRLed(t, v.received())
	v.mu.Lock()
	pt := v.pt
	v.mu.Unlock()
	if pt != 116 {
		t.Errorf("received payload type %d; want 116", pt)
	}
}

// TestBaselineOnlyBrowser: a browser that offers only Constrained
// Baseline still gets the High camera, on its one PT.
func TestBaselineOnlyBrowser(t *testing.T) {
	r := startRig(t, rigOpts{clip: fixture(t, "high-1280x720.h264")})
	v, res := r.watch(t, browserCodecs()[:2], "")
	if !strings.Contains(res.Answer, "a=rtpmap:106 H264/90000") || strings.Contains(res.Answer, "a=rtpmap:102 ") {
		t.Errorf("answer should pick PT 106 (packetization-mode=1) only:\n%s", res.Answer)
	}
	waitFor(t, "10 access units", func() bool { return len(v.received()) >= 10 })
	checkIDRLed(t, v.received())
}

func TestTwoViewersOnePull(t *testing.T) {
	r := startRig(t, rigOpts{})
	a, _ := r.watch(t, nil, "a")
	b, _ := r.watch(t, nil, "b")
	waitFor(t, "both get frames", func() bool { return len(a.received()) >= 10 && len(b.received()) >= 10 })
	if st := r.cam.Stats(); st.Sessions != 1 {
		t.Errorf("camera saw %d sessions; want one upstream pull", st.Sessions)
	}
	if n := r.readers(); n != 2 {
		t.Errorf("relay counts %d readers; want 2", n)
	}
	checkIDRLed(t, b.received())
}

func TestAnswerErrors(t *testing.T) {
	r := startRig(t, rigOpts{maxReadersPerCam: 1})
	_, goodOffer := newViewer(t, nil)
	vp8 := strings.NewReplacer("H264", "XXXX", "H265", "XXXX").Replace(goodOffer)
	h265Only := strings.NewReplacer("H264", "XXXX").Replace(goodOffer)
	audioOnly := goodOffer[:strings.Index(goodOffer, "m=video")] + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
	for _, tc := range []struct {
		name, camera, offer string
		want                error
	}{
		{"malformed", "cam1", "v=0\r\nthis is not sdp\r\n", ErrBadOffer},
		{"not sdp", "cam1", "hello", ErrBadRequest},
		{"bad camera id", "cam/1", goodOffer, ErrBadRequest},
		{"no h264", "cam1", vp8, ErrNoH264},
		{"h265 only, an H.264 camera", "cam1", h265Only, ErrNotViewable},
		{"no video", "cam1", audioOnly, ErrNoVideo},
		{"unknown camera", "cam9", goodOffer, relay.ErrUnknownCamera},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.srv.Answer(t.Context(), protocol.WHEPArgs{Camera: tc.camera, Offer: tc.offer})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v; want %v", err, tc.want)
			}
			t.Log(err)
		})
	}
	if n := r.srv.Sessions(); n != 0 {
		t.Fatalf("%d sessions after refused offers", n)
	}

	v, res := r.watch(t, nil, "first")
	// Connected first, so that the box's close reaches the viewer (over
	// DTLS) instead of waiting for ICE to fail.
	waitFor(t, "frames", func() bool { return len(v.received()) > 0 })
	_, offer := newViewer(t, nil)
	_, err := r.srv.Answer(t.Context(), protocol.WHEPArgs{Camera: "cam1", Offer: offer})
	if !errors.Is(err, relay.ErrTooManyReaders) {
		t.Fatalf("one viewer too many: err = %v; want ErrTooManyReaders", err)
	}
	t.Log(err)
	if err := r.srv.Stop(res.Session); err != nil {
		t.Fatal(err)
	}
	if err := r.srv.Stop(res.Session); !errors.Is(err, ErrUnknownSession) {
		t.Errorf("second Stop: %v; want ErrUnknownSession", err)
	}
	<-v.stateEnd
}

func TestMaxSessions(t *testing.T) {
	r := startRig(t, rigOpts{cfg: Config{MaxSessions: 1}})
	r.watch(t, nil, "first")
	_, offer := newViewer(t, nil)
	_, err := r.srv.Answer(t.Context(), protocol.WHEPArgs{Camera: "cam1", Offer: offer})
	if !errors.Is(err, ErrTooManySessions) {
		t.Fatalf("err = %v; want ErrTooManySessions", err)
	}
}

func TestCameraGoesAway(t *testing.T) {
	r := startRig(t, rigOpts{})
	v, _ := r.watch(t, nil, "officer li")
	waitFor(t, "frames", func() bool { return len(v.received()) >= 5 })
	r.camRun.Stop()
	select {
	case <-v.stateEnd:
	case <-v.ended:
	case <-time.After(15 * time.Second):
		t.Fatal("the box did not close the viewer's connection after the camera left")
	}
	waitFor(t, "a viewing event", func() bool { return len(r.viewingsSoFar()) == 1 })
	ev := r.viewingsSoFar()[0]
	if ev.Camera != "cam1" || ev.Viewer != "officer li" || ev.Via != "webrtc" || ev.Bytes == 0 || !ev.To.After(ev.From) {
		t.Errorf("viewing = %+v", ev)
	}
	waitFor(t, "no session", func() bool { return r.srv.Sessions() == 0 })
}

// TestNoLeaks: after sessions end by Stop, by the viewer leaving and by
// Run's end, goroutines return to the baseline and the relay counts no
// reader.
func TestNoLeaks(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		r := startRig(t, rigOpts{})
		a, ra := r.watch(t, nil, "a")
		b, _ := r.watch(t, nil, "b")
		c, _ := r.watch(t, nil, "c")
		waitFor(t, "frames", func() bool {
			return len(a.received()) > 0 && len(b.received()) > 0 && len(c.received()) > 0
		})
		if err := r.srv.Stop(ra.Session); err != nil {
			t.Fatal(err)
		}
		_ = b.pc.GracefulClose() // the viewer leaves; its close is what is tested
		waitFor(t, "the leaving viewer's session ends", func() bool { return r.srv.Sessions() == 1 })
		r.srvRun.Stop()
		if n := r.srv.Sessions(); n != 0 {
			t.Errorf("%d sessions after Run", n)
		}
		waitFor(t, "relay readers back to 0", func() bool { return r.readers() == 0 })
		if n := len(r.viewingsSoFar()); n != 3 {
			t.Errorf("%d viewing events; want 3", n)
		}
		if _, err := r.srv.Answer(t.Context(), protocol.WHEPArgs{Camera: "cam1", Offer: "v=0\r\n"}); err == nil {
			t.Error("Answer after Run: no error")
		}
		for _, v := range []*viewer{a, b, c} {
			_ = v.pc.GracefulClose() // may be closed already
		}
		r.relayRun.Stop()
		r.camRun.Stop()
	}()

	const tolerance = 3
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base+tolerance {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, baseline %d:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestViewerNeverConnects: a viewer that takes the answer nowhere is
// given up after SessionTimeout, its camera reader released.
func TestViewerNeverConnects(t *testing.T) {
	r := startRig(t, rigOpts{cfg: Config{SessionTimeout: 300 * time.Millisecond}})
	_, offer := newViewer(t, nil)
	if _, err := r.srv.Answer(t.Context(), protocol.WHEPArgs{Camera: "cam1", Offer: offer, Viewer: "ghost"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a viewing event", func() bool { return len(r.viewingsSoFar()) == 1 })
	if ev := r.viewingsSoFar()[0]; ev.Viewer != "ghost" || ev.Bytes != 0 {
		t.Errorf("viewing = %+v", ev)
	}
	waitFor(t, "relay readers back to 0", func() bool { return r.readers() == 0 })
}

// The desired state's budget bounds WebRTC viewers, each counted at the
// bitrate of the camera asked for (4000 kbit/s when the state does not
// say); viewers already watching keep watching when it shrinks.
func TestViewingBudget(t *testing.T) {
	r := startRig(t, rigOpts{})
	r.srv.SetCameras(protocol.Cameras{BudgetKbps: 6000})
	r.watch(t, nil, "first")
	_, offer := newViewer(t, nil)
	_, err := r.srv.Answer(t.Context(), protocol.WHEPArgs{Camera: "cam1", Offer: offer})
	if !errors.Is(err, ErrOverBudget) || !strings.Contains(err.Error(), "6000 kbit/s is used by 1 viewers") {
		t.Fatalf("a second 4000 kbit/s viewer in 6000: err = %v; want ErrOverBudget", err)
	}
	r.srv.SetCameras(protocol.Cameras{BudgetKbps: 6000, Cameras: []protocol.Camera{{ID: "cam1", BitrateKbps: 2000}}})
	r.watch(t, nil, "second")
	if n := r.srv.Sessions(); n != 2 {
		t.Errorf("%d sessions, want 2", n)
	}
}
