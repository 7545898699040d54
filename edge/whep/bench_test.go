package whep

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/dalaba/dalaba/protocol"
)

// BenchmarkTimeToFirstFrame measures, per viewer, from the Answer call to
// the viewer's first complete IDR access unit, the camera already pulled.
// The simulated camera has an IDR every second, so about half a second of
// it is the wait for the next keyframe: each viewer starts at a random
// point of the GOP, as real ones do. ms/connect is the part the box
// controls: Answer to the viewer's connected state.
func BenchmarkTimeToFirstFrame(b *testing.B) {
	r := startRig(b, rigOpts{})
	// Keep the camera pulled throughout, as a box with viewers does.
	sub, err := r.relay.Subscribe(b.Context(), "cam1")
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Release()
	go func() {
		for range sub.Packets { // drained until release closes it
		}
	}()
	var total, connect time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		v, offer := newViewer(b, nil)
		// Not to synchronise anything: so that viewers do not all
		// arrive just after a keyframe (the previous one's).
		time.Sleep(rand.N(time.Second))
		b.StartTimer()
		start := time.Now()
		res, err := r.srv.Answer(b.Context(), protocol.WHEPArgs{Camera: "cam1", Offer: offer})
		if err != nil {
			b.Fatal(err)
		}
		v.accept(b, res.Answer)
		waitFor(b, "the first access unit", func() bool { return len(v.received()) > 0 })
		total += time.Since(start)
		b.StopTimer()
		v.mu.Lock()
		connect += v.connAt.Sub(start)
		v.mu.Unlock()
		if first := v.received()[0].types(); !slices.Contains(first, nalIDR) {
			b.Fatalf("first access unit %v has no IDR", first)
		}
		if err := r.srv.Stop(res.Session); err != nil {
			b.Fatal(err)
		}
		_ = v.pc.GracefulClose() // the box closed it already
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/first-frame")
	b.ReportMetric(float64(connect.Microseconds())/1000/float64(b.N), "ms/connect")
}
