package paging

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/speaker"
	"github.com/dalaba/dalaba/devices/speaker/rtpspeaker"
	"github.com/dalaba/dalaba/devices/speaker/speakersim"
)

// BenchmarkPagingLatency measures, for a page on the air, the time from a
// frame written by the pager (pion's TrackLocalStaticSample, as a browser's
// encoder hands it over) to its packet at the simulated speaker: SRTP over
// loopback, the box's pion stack, the session, the arbiter's fan-out, the
// RTP driver and loopback again, plus the simulator waking its waiter. Frames
// go at the microphone's pace, 20 ms apart; each op is 50 of them (1 s), and
// the p50 and p99 over all are reported.
func BenchmarkPagingLatency(b *testing.B) {
	r := startRig(b, Config{}, speakerSpec{id: "horn", zone: "square", codec: rtpspeaker.PCMA})
	p, _ := r.page(b, []string{"square"}, speaker.ALaw, opus, pcmu, pcma)
	sim := r.sims["horn"]
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	// On the air first: frames before then are dropped by design.
	n := 0
	waitFor(b, "the page on the air", func() bool {
		<-tick.C
		if err := p.frame(n); err != nil {
			b.Fatal(err)
		}
		n++
		return sim.Stats().Packets > 0
	})
	var lat []time.Duration
	for b.Loop() {
		for range 50 {
			<-tick.C
			before := sim.Stats().Packets
			start := time.Now()
			if err := p.frame(n); err != nil {
				b.Fatal(err)
			}
			n++
			ctx, cancel := context.WithTimeout(b.Context(), 5*time.Second)
			err := sim.Wait(ctx, func(st speakersim.Stats, _ int) bool { return st.Packets > before })
			cancel()
			if err != nil {
				b.Fatalf("frame %d never reached the speaker: %v", n, err)
			}
			lat = append(lat, time.Since(start))
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
