package whep

import (
	"errors"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/dalaba/dalaba/protocol"
)

// watchAs answers a viewer of cam1's stream with codecs cs (nil: pion's
// defaults, H.265 among them), audio if asked.
func (r *rig) watchAs(t *testing.T, cs []webrtc.RTPCodecParameters, stream string, audio bool) (*viewer, protocol.WHEPResult, error) {
	t.Helper()
	v, offer := newViewerAV(t, cs, nil, audio)
	res, err := r.srv.Answer(t.Context(), protocol.WHEPArgs{Camera: "cam1", Offer: offer, Stream: stream})
	if err == nil {
		v.accept(t, res.Answer)
	}
	return v, res, err
}

// noBFrames checks a viewer got no B slice and frames in display order.
func noBFrames(t *testing.T, aus []au) {
	t.Helper()
	for i, a := range aus {
		for _, n := range a.nals {
			if n[0]&0x1f == 1 && isBSlice(n[1:]) {
				t.Fatalf("access unit %d is a B-frame", i)
			}
		}
		if i > 0 && int32(a.ts-aus[i-1].ts) <= 0 {
			t.Fatalf("access unit %d shown before the one ahead of it", i)
		}
	}
}

// A main stream with B-frames nothing refers to, and no sub stream: the
// viewer gets it without them, told so, every frame after its keyframe in
// display order.
func TestBFramesLeftOut(t *testing.T) {
	r := startRig(t, rigOpts{clip: fixture(t, "bframes-640x360.h264")})
	v, res, err := r.watchAs(t, browserCodecs(), "", false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stream != protocol.StreamMain || res.Frames != protocol.FramesReference || res.Note != protocol.NoteBFramesReference {
		t.Errorf("result %+v; want the main stream's reference frames, noted", res)
	}
	waitFor(t, "20 access units", func() bool { return len(v.received()) >= 20 })
	aus := v.received()
	checkIDRLed(t, aus[:1])
	noBFrames(t, aus)
}

// With a sub stream, a main stream found to have B-frames gives way to it.
func TestBFramesGiveWayToSub(t *testing.T) {
	r := startRig(t, rigOpts{clip: fixture(t, "bframes-640x360.h264"), sub: fixture(t, "sub-320x180.h264")})
	for i := range 2 { // learnt on the first pull, known on the second
		v, res, err := r.watchAs(t, browserCodecs(), protocol.StreamMain, false)
		if err != nil {
			t.Fatal(err)
		}
		if res.Stream != protocol.StreamSub || res.Note != protocol.NoteBFramesSub || res.Frames != protocol.FramesAll {
			t.Errorf("viewer %d: result %+v; want the sub stream, noted", i, res)
		}
		waitFor(t, "10 access units", func() bool { return len(v.received()) >= 10 })
		checkIDRLed(t, v.received())
		if err := r.srv.Stop(res.Session); err != nil {
			t.Fatal(err)
		}
	}
}

// B-frames used as references cannot be left out: without a sub stream
// the camera is refused, saying what to change; with one, the sub stream
// is shown.
func TestBPyramid(t *testing.T) {
	t.Run("no sub stream", func(t *testing.T) {
		r := startRig(t, rigOpts{clip: fixture(t, "bpyramid-640x360.h264")})
		_, _, err := r.watchAs(t, browserCodecs(), "", false)
		ref, ok := errors.AsType[*Refusal](err)
		if !ok || ref.Code != protocol.CodeCameraBFrames || !strings.Contains(err.Error(), "turn B-frames off") || !errors.Is(err, ErrNotViewable) {
			t.Fatalf("err = %v; want a camera_bframes refusal saying what to change", err)
		}
		waitFor(t, "relay readers back to 0", func() bool { return r.readers() == 0 })
	})
	t.Run("sub stream", func(t *testing.T) {
		r := startRig(t, rigOpts{clip: fixture(t, "bpyramid-640x360.h264"), sub: fixture(t, "sub-320x180.h264")})
		_, res, err := r.watchAs(t, browserCodecs(), "", false)
		if err != nil || res.Stream != protocol.StreamSub || res.Note != protocol.NoteBFramesSub {
			t.Fatalf("result %+v, %v; want the sub stream", res, err)
		}
	})
}

// An H.265 main stream goes to a browser that offers H.265; one that does
// not (Debian's Chromium) gets the H.264 sub stream; without a sub stream
// it is refused, saying what to change.
func TestH265(t *testing.T) {
	r := startRig(t, rigOpts{clip: fixture(t, "h265-640x360.h265"), sub: fixture(t, "sub-320x180.h264")})
	v, res, err := r.watchAs(t, nil, "", false)
	if err != nil || res.Codec != "H265" || res.Stream != protocol.StreamMain {
		t.Fatalf("a browser offering H.265: %+v, %v", res, err)
	}
	waitFor(t, "H.265 packets", func() bool { v.mu.Lock(); defer v.mu.Unlock(); return v.packets > 20 })
	if v.mime != webrtc.MimeTypeH265 {
		t.Errorf("track codec %s", v.mime)
	}
	h264, res, err := r.watchAs(t, browserCodecs(), "", false)
	if err != nil || res.Codec != "H264" || res.Stream != protocol.StreamSub || res.Note != protocol.NoteH265Sub {
		t.Fatalf("an H.264-only browser: %+v, %v", res, err)
	}
	waitFor(t, "the sub stream's frames", func() bool { return len(h264.received()) >= 10 })
	checkIDRLed(t, h264.received())

	alone := startRig(t, rigOpts{clip: fixture(t, "h265-640x360.h265")})
	_, _, err = alone.watchAs(t, browserCodecs(), "", false)
	if ref, ok := errors.AsType[*Refusal](err); !ok || ref.Code != protocol.CodeCameraCodec || !strings.Contains(err.Error(), "H.264") {
		t.Fatalf("H.265 alone to an H.264 browser: %v; want a camera_codec refusal", err)
	}
}

// A camera's A-law audio reaches a viewer who receives audio, as it is.
func TestCameraAudio(t *testing.T) {
	r := startRig(t, rigOpts{audio: fixture(t, "tone-8k.alaw")})
	v, res, err := r.watchAs(t, nil, "", true)
	if err != nil || res.Audio != "PCMA" {
		t.Fatalf("result %+v, %v; want PCMA audio", res, err)
	}
	waitFor(t, "audio and video", func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		return v.audio >= 25 && len(v.aus) >= 10
	})
	// A viewer without an audio m-line gets the picture alone.
	_, res, err = r.watchAs(t, nil, "", false)
	if err != nil || res.Audio != "" {
		t.Fatalf("a viewer without audio: %+v, %v", res, err)
	}
}

// The grid asks for sub streams; a main stream past the budget gives way
// to the sub stream before anyone is refused.
func TestBudgetFallsBackToSub(t *testing.T) {
	r := startRig(t, rigOpts{sub: fixture(t, "sub-320x180.h264")})
	cams := protocol.Cameras{UplinkKbps: 4000, Cameras: []protocol.Camera{{ID: "cam1", URL: r.cam.URL(), SubURL: r.cam.SubURL(), BitrateKbps: 4000, SubBitrateKbps: 500}}}
	r.srv.SetCameras(cams) // a budget of 3000 kbit/s: 75% of the uplink
	_, res, err := r.watchAs(t, browserCodecs(), protocol.StreamMain, false)
	if err != nil || res.Stream != protocol.StreamSub || res.Note != protocol.NoteBudgetSub {
		t.Fatalf("main past the budget: %+v, %v; want the sub stream, noted", res, err)
	}
	_, res, err = r.watchAs(t, browserCodecs(), protocol.StreamSub, false)
	if err != nil || res.Stream != protocol.StreamSub || res.Note != "" {
		t.Fatalf("a grid tile: %+v, %v", res, err)
	}
	cams.UplinkKbps = 1000 // 750: room for one sub viewer, taken
	r.srv.SetCameras(cams)
	if _, _, err := r.watchAs(t, browserCodecs(), protocol.StreamSub, false); !errors.Is(err, ErrOverBudget) {
		t.Fatalf("past the budget: %v; want ErrOverBudget", err)
	}
}
