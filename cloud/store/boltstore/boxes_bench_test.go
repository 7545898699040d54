package boltstore

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
)

// BenchmarkAppendEventsManyBoxes is a county's steady state: 32 boxes
// each uploading batches of 10 events at once (pgstore has the same
// benchmark). Every batch is its own fsynced transaction.
func BenchmarkAppendEventsManyBoxes(b *testing.B) {
	const boxes, size = 32, 10
	s, err := Open(b.TempDir()+"/cloud.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	now := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	var (
		ids   atomic.Int64
		total atomic.Uint64
	)
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
