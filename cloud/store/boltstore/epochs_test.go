package boltstore

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dalaba/dalaba/cloud/store"
)

// A schema 3 file (no epochs, events keyed by seq) opens as schema 4 with
// every box's events its first incarnation, where they were: nothing moves
// and nothing is lost, and the box's first epoch is the same incarnation.
func TestOpenMigratesSchema3(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.db")
	now := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := func(seq uint64) []byte {
		v, _ := json.Marshal(eventRecord{Time: now.Add(time.Duration(seq) * time.Second), Type: "test.old", Priority: 2, ReceivedAt: now}) // plain fields always encode
		return v
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, n := range buckets() {
			if string(n) == string(bucketEpochs) {
				continue
			}
			if _, err := tx.CreateBucket(n); err != nil {
				return err
			}
		}
		// village-1 as schema 3 kept it; village-odd with a seq no box
		// sends, which an older store accepted.
		boxes := map[string]struct {
			record string
			seqs   []uint64
		}{
			"village-1":   {`{"name":"示范村","created_at":"2026-11-01T08:00:00Z","watermark":3,"events":3}`, []uint64{1, 2, 3}},
			"village-odd": {`{"name":"odd","created_at":"2026-11-01T08:00:00Z","watermark":0,"events":1}`, []uint64{1<<48 + 5}},
		}
		for id, b := range boxes {
			if err := tx.Bucket(bucketBoxes).Put([]byte(id), []byte(b.record)); err != nil {
				return err
			}
			evb, err := tx.Bucket(bucketEvents).CreateBucket([]byte(id))
			if err != nil {
				return err
			}
			for _, q := range b.seqs {
				if err := evb.Put(u64(q), rec(q)); err != nil {
					return err
				}
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, u64(3))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open of a schema 3 file: %v", err)
	}
	defer s.Close()
	ctx := t.Context()
	b, err := s.GetBox(ctx, "village-1")
	if err != nil || b.Incarnation != 1 || b.Epoch != "" || b.Watermark != 3 || b.Name != "示范村" {
		t.Fatalf("box after migration %+v, %v; want incarnation 1 at 3", b, err)
	}
	evs, err := s.ListEvents(ctx, "village-1", 0, 10)
	if err != nil || len(evs) != 3 {
		t.Fatalf("events after migration %+v, %v", evs, err)
	}
	for i, e := range evs {
		if e.Incarnation != 1 || e.Seq != uint64(i+1) || e.Type != "test.old" {
			t.Fatalf("event %d after migration %+v", i, e)
		}
	}

	// The box, updated, sends its first epoch with seqs that go on, 3
	// again among them: no reset.
	epoch := "0123456789abcdef0123456789abcdef"
	sent := []store.Event{{Seq: 3, Time: now.Add(3 * time.Second), Type: "test.old", Priority: 2}, {Seq: 4, Time: now, Type: "test.new", Priority: 2}}
	got, err := s.AppendEvents(ctx, "village-1", store.Batch{Epoch: epoch, Floor: 3, Events: sent, ReceivedAt: now})
	if err != nil || got.Reset != nil || got.Diverged || got.Incarnation != 1 || got.Ack != 4 {
		t.Fatalf("the first epoch after the migration: %+v, %v; want incarnation 1 through 4", got, err)
	}

	// The odd box counts its incarnations from above the seq that reads
	// as a later one, so a new incarnation never lands on it.
	odd, err := s.GetBox(ctx, "village-odd")
	if err != nil || odd.Incarnation != 2 || odd.Watermark != 0 {
		t.Fatalf("village-odd after migration %+v, %v; want incarnation 2", odd, err)
	}
	got, err = s.AppendEvents(ctx, "village-odd", store.Batch{Epoch: epoch, Floor: 1, Events: []store.Event{{Seq: 5, Time: now, Type: "x"}}, ReceivedAt: now})
	if err != nil || got.Diverged {
		t.Fatalf("village-odd's first epoch: %+v, %v", got, err)
	}
	all, err := s.ListEvents(ctx, "village-odd", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, e := range all {
		kept = append(kept, e.Type)
	}
	if !slices.Contains(kept, "test.old") || !slices.Contains(kept, "x") {
		t.Fatalf("village-odd's log %v, want its old event and the new one", kept)
	}
	var ver []byte
	_ = s.db.View(func(tx *bolt.Tx) error { ver = tx.Bucket(bucketMeta).Get(keySchema); return nil }) // the callback never fails
	if !slices.Equal(ver, u64(SchemaVersion)) || SchemaVersion < 4 {
		t.Fatalf("schema after migration %x, want %d (at least 4)", ver, SchemaVersion)
	}
}
