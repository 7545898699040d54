package edge

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// BenchmarkEmergencyLatency measures an emergency play from the moment the
// signed command reaches the box (handed to its command runner, as the
// uplink does) to its first RTP packet at a simulated horn: verifying,
// recording the id (fsync), the control lane, rendering the decoded clip,
// the arbiter, the driver and the loopback network. Alone, and with 8 slow
// commands in flight (4 plays whose downloads hang, 4 WHEP offers for a
// camera that never answers). It reports the mean as ns/op, and p50 and
// p99, over 20 emergencies per op.
func BenchmarkEmergencyLatency(b *testing.B) {
	for _, slow := range []int{0, 8} {
		name := "alone"
		if slow > 0 {
			name = fmt.Sprintf("%d-slow-in-flight", slow)
		}
		b.Run(name, func(b *testing.B) { benchEmergency(b, slow) })
	}
}

func benchEmergency(b *testing.B, slow int) {
	const id = "bench-box"
	key, err := protocol.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	v := newLaneVillage(b, slow/2)
	// No broker: commands come straight to the runner; results queue.
	box := v.configure(b, "tcp://127.0.0.1:1", id, key.Public().(ed25519.PublicKey))
	e := box.e
	e.ap.Receive(b.Context(), signedDesired(b, key, id, 1, v.spec))
	testenv.WaitFor(b, 10*time.Second, "the desired state applied", func() bool {
		return e.ap.AppliedRev() == 1 && e.po.CheckZones([]string{"square"}) == nil
	})
	emergency := protocol.PlayArgs{Media: []string{v.clips["siren"]}, Priority: protocol.PlayEmergency, NoChime: true}
	e.cmd.Receive(b.Context(), signed(b, key, id, "warm", protocol.CmdPlay, emergency, time.Minute)) // downloads and decodes the siren
	firstPacketAfter(b, v.horn, 0)
	lastPacket(b, v.horn, time.Now())

	for i := range slow / 2 {
		e.cmd.Receive(b.Context(), signed(b, key, id, fmt.Sprintf("hang-%d", i), protocol.CmdPlay,
			protocol.PlayArgs{Media: []string{v.hanging[i]}}, protocol.MaxCommandLifetime))
		e.cmd.Receive(b.Context(), signed(b, key, id, fmt.Sprintf("whep-%d", i), protocol.CmdWHEP,
			protocol.WHEPArgs{Camera: "gate", Offer: viewerOffer(b), Viewer: "bench"}, protocol.MaxCommandLifetime))
	}
	for range slow / 2 {
		select {
		case <-v.media.asked:
		case <-time.After(10 * time.Second):
			b.Fatal("a hanging download never began")
		}
	}
	testenv.WaitFor(b, 10*time.Second, "the WHEP offers waiting for the camera", func() bool { return e.wh.Sessions() == slow/2 })

	var lat []time.Duration
	n := 0
	for b.Loop() {
		for range 20 {
			n++
			p := signed(b, key, id, fmt.Sprintf("siren-%d", n), protocol.CmdPlay, emergency, time.Minute)
			before := v.horn.Stats().Packets
			start := time.Now()
			e.cmd.Receive(context.Background(), p)
			lat = append(lat, firstPacketAfter(b, v.horn, before).Sub(start))
			lastPacket(b, v.horn, time.Now()) // the next starts from silence
		}
	}
	if e.wh.Sessions() != slow/2 {
		b.Errorf("%d WHEP offers in flight at the end, want %d", e.wh.Sessions(), slow/2)
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	b.ReportMetric(float64(sum.Nanoseconds())/float64(len(lat)), "ns/op") // per emergency, not the op's waits for silence
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
