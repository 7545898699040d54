package uplink

import (
	"testing"
	"time"
)

// BenchmarkDrain100k measures the drain end to end on loopback: 100,000
// events already in the outbox (a box back from a long outage), then the
// time from starting the uplink until the in-test township has acked every
// one and the outbox is empty: connect, batches of 500 with 4 in flight
// (the defaults), decode and dedupe at the township, acks, deletes with
// fsync.
func BenchmarkDrain100k(b *testing.B) {
	const n = 100_000
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		br := startBroker(b)
		startCloud(b, br.url(), "box-bench", true)
		bx := startBoxWith(b, br.url(), "box-bench", boxOpts{deferRun: true})
		bx.appendN(b, n)
		b.StartTimer()

		start := time.Now()
		bx.run()
		eventually(b, 60*time.Second, "100,000 events acked", func() bool { return bx.ob.Stats().Backlog == 0 })
		total += time.Since(start)

		b.StopTimer()
		if err := bx.stop(); err != nil {
			b.Fatal(err)
		}
		br.stop()
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "events/s")
}
