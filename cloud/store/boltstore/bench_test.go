package boltstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
)

// BenchmarkAppendEvents500 stores batches of 500 events (the upload size
// of a box catching up), each batch one fsynced transaction.
func BenchmarkAppendEvents500(b *testing.B) {
	const size = 500
	s, err := Open(b.TempDir()+"/cloud.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
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
