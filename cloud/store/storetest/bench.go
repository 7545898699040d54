package storetest

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
)

// The benchmarks every store runs alike, so their figures compare: each
// implementation's Benchmark functions open a store and call these.

// BenchAppend500 stores batches of 500 events (the upload size of a box
// catching up) for one box, each batch one committed transaction, and
// reports events/s.
func BenchAppend500(b *testing.B, s store.Store) {
	const size = 500
	ctx := b.Context()
	if err := s.CreateBox(ctx, store.Box{ID: "village-1"}); err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	batch := make([]store.Event, size)
	next := uint64(1)
	for b.Loop() {
		for i := range batch {
			batch[i] = store.Event{
				Seq: next, Time: now, Type: "play.done", Priority: 2, ReceivedAt: now,
				Data: fmt.Appendf(nil, `{"speaker_id":"sp-%d","clip":"3f1a9c","ms":30000}`, i%8),
			}
			next++
		}
		got, err := s.AppendEvents(ctx, "village-1", store.Batch{Epoch: "0123456789abcdef0123456789abcdef", Floor: 1, Events: batch, ReceivedAt: now})
		if err != nil || got.Watermark != next-1 {
			b.Fatalf("AppendEvents = %+v, %v; want watermark %d", got, err, next-1)
		}
	}
	b.ReportMetric(float64(next-1)/b.Elapsed().Seconds(), "events/s")
}

// BenchAppendManyBoxes is a county's steady state: 32 boxes each
// uploading batches of 10 events at once, every batch its own committed
// transaction; it reports events/s.
func BenchAppendManyBoxes(b *testing.B, s store.Store) {
	const boxes, size = 32, 10
	ctx := b.Context()
	now := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	var (
		ids   atomic.Int64
		total atomic.Uint64
	)
	// About 32 uploaders, each its own box.
	b.SetParallelism(max(1, boxes/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		id := fmt.Sprintf("village-%02d", ids.Add(1))
		if err := s.CreateBox(ctx, store.Box{ID: id}); err != nil {
			b.Error(err)
			return
		}
		next := uint64(1)
		batch := make([]store.Event, size)
		for pb.Next() {
			for i := range batch {
				batch[i] = store.Event{Seq: next, Time: now, Type: "play.done", Priority: 2, ReceivedAt: now,
					Data: []byte(`{"speaker_id":"sp-1","clip":"3f1a9c","ms":30000}`)}
				next++
			}
			if _, err := s.AppendEvents(ctx, id, store.Batch{Floor: 1, Events: batch, ReceivedAt: now}); err != nil {
				b.Error(err)
				return
			}
		}
		total.Add(next - 1)
	})
	b.ReportMetric(float64(total.Load())/b.Elapsed().Seconds(), "events/s")
}
