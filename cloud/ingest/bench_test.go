package ingest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// BenchmarkAcked is events acknowledged per second with bbolt (fsync on
// every commit), 256 boxes handing in batches of 10 events at once, as the
// downlink's workers do, and each batch's time from handing in to its ack
// (p50, p99). "group" is Handle's group commit; "one-per-commit" stores
// every batch in a write of its own, as ingest did before.
func BenchmarkAcked(b *testing.B) {
	const boxes, perBatch = 256, 10
	for _, mode := range []string{"group", "one-per-commit"} {
		b.Run(mode, func(b *testing.B) {
			s, in := groupFixture(b, boxes)
			next := make([]int, boxes)
			var mu sync.Mutex
			var lat []time.Duration
			b.ResetTimer()
			var wg sync.WaitGroup
			work := make(chan int, boxes)
			for i := range boxes {
				wg.Go(func() {
					id := fmt.Sprintf("box-%d", i)
					for range work {
						seq := uint64(next[i]*perBatch + 1)
						next[i]++
						var seqs []uint64
						for k := range uint64(perBatch) {
							seqs = append(seqs, seq+k)
						}
						p := []byte(batch(id, 1, seqs...))
						start := time.Now()
						var err error
						if mode == "group" {
							_, err = in.Handle(context.Background(), id, p)
						} else {
							_, err = oneByOne(s, id, p)
						}
						d := time.Since(start)
						if err != nil {
							b.Error(err)
							return
						}
						mu.Lock()
						lat = append(lat, d)
						mu.Unlock()
					}
				})
			}
			// Each box has at most one batch in hand, as the downlink's
			// per-box ordering has it.
			for n := range b.N {
				work <- n % boxes
			}
			close(work)
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(b.N*perBatch)/b.Elapsed().Seconds(), "events/s")
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// oneByOne stores a batch in its own write, as ingest did before group
// commit.
func oneByOne(s store.Events, box string, payload []byte) (store.Appended, error) {
	bt, err := protocol.DecodeEventBatch(box, payload)
	if err != nil {
		return store.Appended{}, err
	}
	evs := make([]store.Event, len(bt.Events))
	for i, e := range bt.Events {
		evs[i] = store.Event{Seq: e.Seq, Time: e.Time, Type: e.Type, Priority: int(e.Priority), Data: e.Data, ReceivedAt: received}
	}
	return s.AppendEvents(context.Background(), box, store.Batch{Epoch: bt.Epoch, Floor: bt.Floor, Events: evs, ReceivedAt: received})
}
