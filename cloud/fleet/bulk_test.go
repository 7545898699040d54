package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/dalaba/dalaba/cloud/store"
)

// countingBoxes counts the box writes presence makes.
type countingBoxes struct {
	store.Boxes
	one, many atomic.Int64
}

func (c *countingBoxes) UpdateBox(ctx context.Context, id string, fn func(*store.Box) error) error {
	c.one.Add(1)
	return c.Boxes.UpdateBox(ctx, id, fn)
}

func (c *countingBoxes) UpdateBoxes(ctx context.Context, fns map[string]func(*store.Box) error) ([]string, error) {
	c.many.Add(1)
	return c.Boxes.UpdateBoxes(ctx, fns)
}

// A hundred boxes connecting and reporting at once are one store write,
// and a report that comes in after that write is written by the next one.
func TestPresenceWritesManyBoxesInOneWrite(t *testing.T) {
	e := newEnv(t)
	const n = 100
	for i := range n {
		if err := e.st.CreateBox(t.Context(), store.Box{ID: fmt.Sprintf("village-%d", i), CreatedAt: e.clk.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	cb := &countingBoxes{Boxes: e.st}
	pres, err := NewPresence(PresenceConfig{}, PresenceDeps{Logger: slog.New(slog.DiscardHandler), Store: cb, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		id := fmt.Sprintf("village-%d", i)
		pres.Connected(id)
		pres.Reported(id, uint64(i), 7, e.clk.Now())
	}
	pres.flush(t.Context())
	if one, many := cb.one.Load(), cb.many.Load(); one != 0 || many != 1 {
		t.Fatalf("%d single and %d bulk writes for %d boxes, want one bulk write", one, many, n)
	}
	for i := range n {
		b := e.box(t, fmt.Sprintf("village-%d", i))
		if !b.Online || b.AppliedRev != uint64(i) || b.OutboxBacklog != 7 || !b.ReportedAt.Equal(e.clk.Now()) {
			t.Fatalf("village-%d after the flush: %+v", i, b)
		}
	}
	pres.flush(t.Context())
	if many := cb.many.Load(); many != 1 {
		t.Fatalf("a flush with nothing changed wrote (%d bulk writes)", many)
	}
	pres.Reported("village-3", 99, 0, e.clk.Now())
	pres.flush(t.Context())
	if b := e.box(t, "village-3"); b.AppliedRev != 99 {
		t.Fatalf("a later report not written: rev %d", b.AppliedRev)
	}
}
