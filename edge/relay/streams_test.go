package relay

import (
	"errors"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"github.com/dalaba/dalaba/devices/camera/sim"
)

// A camera with a sub stream is re-served at <id> and <id>/sub, each
// pulled on its own, once however many read it.
func TestMainAndSubStreams(t *testing.T) {
	cam := startCamera(t, sim.Config{SubClip: fixture(t, "sub-320x180.h264")})
	r := startRelay(t, quick(), Camera{ID: "cam1", URL: cam.URL(), SubURL: cam.SubURL(), AllowLocal: true})
	if got := r.URL(Path("cam1", StreamSub)); got != r.URL("cam1")+"/sub" {
		t.Fatalf("sub URL %s", got)
	}
	sub, err := dial(t, r.URL("cam1/sub"))
	if err != nil {
		t.Fatal(err)
	}
	main, err := dial(t, r.URL("cam1"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "frames of both", func() bool {
		_, a := sub.received()
		_, b := main.received()
		return a > 10 && b > 10
	})
	waitFor(t, "both analysed", func() bool {
		m, _ := r.Info("cam1")
		s, _ := r.Info("cam1/sub")
		return m.Known && s.Known
	})
	m, _ := r.Info("cam1")
	s, _ := r.Info("cam1/sub")
	if m.Width != 640 || s.Width != 320 || m.Codec != CodecH264 || m.BFrames || s.BFrames {
		t.Errorf("main %+v, sub %+v", m, s)
	}
	if m.FPS < 24 || m.FPS > 26 {
		t.Errorf("main at %.1f fps; want 25", m.FPS)
	}
	st := r.Stats()
	if len(st) != 2 || st[0].Stream != StreamMain || st[1].Stream != StreamSub || st[0].Readers != 1 || st[1].Readers != 1 {
		t.Errorf("stats %+v", st)
	}
	if ev := r.ev.of(EventStream); len(ev) != 2 {
		t.Errorf("%d camera.stream events; want one per stream", len(ev))
	}
	if _, err := r.Info("cam1/nope"); !errors.Is(err, ErrUnknownCamera) {
		t.Errorf("Info of an unknown path: %v", err)
	}
}

// The relay tells B-frames from what the camera sends: disposable ones
// (nothing refers to them) from a pyramid's, and an H.265 stream is passed
// through with its audio.
func TestStreamAnalysis(t *testing.T) {
	for _, c := range []struct {
		name, clip       string
		codec            string
		bframes, pyramid bool
	}{
		{"no B-frames", "baseline-640x360.h264", CodecH264, false, false},
		{"B-frames", "bframes-640x360.h264", CodecH264, true, false},
		{"B-pyramid", "bpyramid-640x360.h264", CodecH264, true, true},
		{"H.265", "h265-640x360.h265", CodecH265, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cam := startCamera(t, sim.Config{Clip: fixture(t, c.clip), Audio: fixture(t, "tone-8k.alaw")})
			r := startRelay(t, quick(), Camera{ID: "cam1", URL: cam.URL(), AllowLocal: true})
			sub, err := r.Subscribe(t.Context(), "cam1")
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Release()
			i := sub.Info
			if !i.Known || i.Codec != c.codec || i.BFrames != c.bframes || i.BFramesReferenced != c.pyramid || i.Audio != "PCMA" {
				t.Errorf("info %+v; want %s, B-frames %v, referenced %v, PCMA", i, c.codec, c.bframes, c.pyramid)
			}
			if c.bframes && (i.ReferenceFPS >= i.FPS || i.ReferenceFPS < i.FPS/4) {
				t.Errorf("%.1f fps, %.1f of them reference frames", i.FPS, i.ReferenceFPS)
			}
			if sub.Audio == nil {
				t.Fatal("no audio media in the subscription")
			}
			audio, video := 0, 0
			deadline := time.After(5 * time.Second)
			for audio < 10 || video < 10 {
				select {
				case p := <-sub.Packets:
					if p.Audio {
						audio++
						if p.PayloadType != sub.Audio.Formats[0].PayloadType() || len(p.Payload) != 160 {
							t.Fatalf("audio packet %+v, %d bytes", p.Header, len(p.Payload))
						}
					} else {
						video++
					}
				case <-deadline:
					t.Fatalf("%d audio, %d video packets in 5 s", audio, video)
				}
			}
		})
	}
}

// A new subscriber of a camera already pulled starts with the latest
// keyframe's group of pictures, at once, rather than waiting for the next
// keyframe.
func TestGOPCache(t *testing.T) {
	cam := startCamera(t, sim.Config{})
	r := startRelay(t, quick(), Camera{ID: "cam1", URL: cam.URL(), AllowLocal: true})
	first, err := r.Subscribe(t.Context(), "cam1")
	if err != nil {
		t.Fatal(err)
	}
	defer first.Release()
	for range 40 { // past the first keyframe
		<-first.Packets
	}
	var h264 *format.H264
	first.Desc.FindFormat(&h264)
	start := time.Now()
	second, err := r.Subscribe(t.Context(), "cam1")
	if err != nil {
		t.Fatal(err)
	}
	defer second.Release()
	if second.Cached == 0 {
		t.Fatal("the second subscriber got nothing from the cache")
	}
	p := <-second.Packets
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("the first packet took %v", took)
	}
	// The AU of an IDR: parameter sets or the IDR itself first.
	if typ := p.Payload[0] & 0x1f; typ != h264SPS && typ != h264IDR && !(typ == h264STAPA || typ == h264FUA && p.Payload[1]&0x1f == h264IDR) {
		t.Errorf("the cached GOP starts with NAL type %d", typ)
	}
}
