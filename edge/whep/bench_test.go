package whep

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/dalaba/dalaba/protocol"
)

// BenchmarkTimeToFirstFrame measures, per viewer, from the Answer call to
// the viewer's first complete access unit with an IDR (decodable at
// once): of a camera already pulled (another viewer watches it), and of
// one pulled on demand (nobody watches; the pull lingers 200 ms). The
// simulated camera has an IDR every second, and each viewer comes at a
// random point of the GOP, as real ones do. ms/connect is the part ICE
// and DTLS take (Answer to the viewer's connected state). For on demand,
// ms/camera-ready is the camera's own part: until it plays to the relay
// (RTSP DESCRIBE, SETUP, PLAY) and then sends its next keyframe (the
// clip's IDRs are 25 frames apart); ms/box is the rest, the box's.
func BenchmarkTimeToFirstFrame(b *testing.B) {
	b.Run("pulled", func(b *testing.B) { benchFirstFrame(b, true) })
	b.Run("on-demand", func(b *testing.B) { benchFirstFrame(b, false) })
}

func benchFirstFrame(b *testing.B, pulled bool) {
	r := startRig(b, rigOpts{})
	if pulled {
		r.watch(b, nil, "keeps it pulled")
	}
	var total, connect, camera, box time.Duration
	for b.Loop() {
		b.StopTimer()
		if !pulled {
			waitFor(b, "the pull released", func() bool { return r.readers() == 0 && r.cam.Stats().Readers == 0 })
		}
		v, offer := newViewer(b, nil)
		// Not to synchronise anything: so that viewers do not all arrive
		// just after a keyframe (the previous one's).
		time.Sleep(rand.N(time.Second))
		b.StartTimer()
		start := time.Now()
		ready := make(chan time.Duration, 1)
		if !pulled {
			go func() { // when the camera plays, and its next IDR is due
				for r.cam.Stats().Readers == 0 {
					time.Sleep(time.Millisecond)
				}
				wait := (25 - r.cam.Stats().Frames%25) % 25
				ready <- time.Since(start) + time.Duration(wait)*40*time.Millisecond
			}()
		}
		res, err := r.srv.Answer(b.Context(), protocol.WHEPArgs{Camera: "cam1", Offer: offer})
		if err != nil {
			b.Fatal(err)
		}
		v.accept(b, res.Answer)
		waitFor(b, "the first access unit", func() bool { return len(v.received()) > 0 })
		took := time.Since(start)
		total += took
		b.StopTimer()
		v.mu.Lock()
		connect += v.connAt.Sub(start)
		v.mu.Unlock()
		if !pulled {
			c := <-ready
			camera += c
			box += took - c
		}
		if first := v.received()[0].types(); !slices.Contains(first, nalIDR) {
			b.Fatalf("first access unit %v has no IDR", first)
		}
		if err := r.srv.Stop(res.Session); err != nil {
			b.Fatal(err)
		}
		_ = v.pc.GracefulClose() // the box closed it already
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(total.Microseconds())/1000/n, "ms/first-frame")
	b.ReportMetric(float64(connect.Microseconds())/1000/n, "ms/connect")
	if !pulled {
		b.ReportMetric(float64(camera.Microseconds())/1000/n, "ms/camera-ready")
		b.ReportMetric(float64(box.Microseconds())/1000/n, "ms/box")
	}
}
