package ingest

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/protocol"
)

// groupFixture is an ingester over a store with n boxes, box-0 to box-n-1.
func groupFixture(t testing.TB, n int) (*boltstore.Store, *Ingester) {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for i := range n {
		if err := s.CreateBox(t.Context(), store.Box{ID: fmt.Sprintf("box-%d", i), CreatedAt: received}); err != nil {
			t.Fatal(err)
		}
	}
	in, err := New(Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Store: s, Now: func() time.Time { return received }})
	if err != nil {
		t.Fatal(err)
	}
	return s, in
}

// Boxes handled at once share commits, and each is acked for exactly its
// own batch once the commit carrying it is durable.
func TestConcurrentBatchesShareCommits(t *testing.T) {
	const boxes, rounds = 64, 5
	s, in := groupFixture(t, boxes)
	var wg sync.WaitGroup
	errs := make(chan error, boxes)
	for i := range boxes {
		wg.Go(func() {
			id := fmt.Sprintf("box-%d", i)
			for r := range uint64(rounds) {
				ack, err := in.Handle(t.Context(), id, []byte(batch(id, 1, 2*r+1, 2*r+2)))
				if err != nil {
					errs <- err
					return
				}
				a, err := protocol.DecodeEventsAck(id, ack)
				if err != nil || a.Seq != 2*r+2 {
					errs <- fmt.Errorf("%s round %d: ack %s (%v), want seq %d", id, r, ack, err, 2*r+2)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range boxes {
		id := fmt.Sprintf("box-%d", i)
		got, err := s.ListEvents(t.Context(), id, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []uint64
		for _, e := range got {
			seqs = append(seqs, e.Seq)
		}
		if want := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}; !slices.Equal(seqs, want) {
			t.Errorf("%s holds %v, want %v", id, seqs, want)
		}
	}
	commits, batches := in.Commits()
	if batches != boxes*rounds {
		t.Errorf("%d batches committed, want %d", batches, boxes*rounds)
	}
	if commits >= batches {
		t.Errorf("%d commits for %d batches handed in at once: no commit was shared", commits, batches)
	}
	t.Logf("%d batches in %d commits", batches, commits)
}

// An unknown box's batch fails alone; the batches committed with it are
// stored and acked.
func TestUnknownBoxFailsAloneInItsCommit(t *testing.T) {
	_, in := groupFixture(t, 8)
	var wg sync.WaitGroup
	fails := make([]error, 9)
	for i := range 9 {
		wg.Go(func() {
			id := fmt.Sprintf("box-%d", i) // box-8 is not registered
			_, fails[i] = in.Handle(t.Context(), id, []byte(batch(id, 1, 1)))
		})
	}
	wg.Wait()
	for i, err := range fails[:8] {
		if err != nil {
			t.Errorf("box-%d: %v", i, err)
		}
	}
	if !errors.Is(fails[8], store.ErrNotFound) {
		t.Errorf("the unregistered box's batch: %v, want store.ErrNotFound", fails[8])
	}
}
