package outbox

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/dalaba/dalaba/protocol"
)

func TestAppendAllKeepsTheOrderAmongOtherProducers(t *testing.T) {
	r := open(t, filepath.Join(t.TempDir(), "edge.db"), Config{})
	const n = 500
	es := make([]Entry, n)
	for i := range es {
		es[i] = Entry{Type: "batch", Priority: protocol.PriorityInfo, Data: fmt.Appendf(nil, `{"i":%d}`, i)}
	}
	// Other producers append at the same time.
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, err := r.o.Append(ctx, Entry{Type: "other", Priority: protocol.PriorityInfo}); err != nil && ctx.Err() == nil {
					t.Error(err)
				}
			}
		})
	}
	seqs, err := r.o.AppendAll(t.Context(), es)
	stop()
	wg.Wait()
	if err != nil || len(seqs) != n {
		t.Fatalf("AppendAll: %d seqs, %v", len(seqs), err)
	}
	for i := 1; i < n; i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("seqs %d and %d: %d then %d, want rising", i-1, i, seqs[i-1], seqs[i])
		}
	}
	b, err := r.o.Read(0, 1<<20, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	for _, e := range b.Events {
		if e.Type != "batch" {
			continue
		}
		if want := fmt.Sprintf(`{"i":%d}`, next); string(e.Data) != want || e.Seq != seqs[next] {
			t.Fatalf("seq %d holds %s, want %s at seq %d", e.Seq, e.Data, want, seqs[next])
		}
		next++
	}
	if next != n {
		t.Fatalf("%d of %d stored", next, n)
	}
}

func TestAppendAllRefusesEveryEventForOneBad(t *testing.T) {
	r := open(t, filepath.Join(t.TempDir(), "edge.db"), Config{})
	_, err := r.o.AppendAll(t.Context(), []Entry{{Type: "ok", Priority: 1}, {Type: "", Priority: 1}})
	if err == nil {
		t.Fatal("a batch with an event without a type was accepted")
	}
	if s := r.o.Stats(); s.Backlog != 0 {
		t.Fatalf("a refused batch wrote %+v", s)
	}
}

func TestAppendAllAfterRunEnded(t *testing.T) {
	r := open(t, filepath.Join(t.TempDir(), "edge.db"), Config{})
	r.stop()
	if _, err := r.o.AppendAll(context.Background(), []Entry{{Type: "late", Priority: 1}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("AppendAll after Run: %v, want ErrClosed", err)
	}
}
