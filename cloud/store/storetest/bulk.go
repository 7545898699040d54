package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// testAppendMany: a group of batches in one write ends exactly as the same
// batches appended one by one, and a batch refused on its own costs the
// others nothing.
func testAppendMany(t *testing.T, open func(t *testing.T) store.Store) {
	group := []store.BoxBatch{
		{BoxID: "village-1", Batch: store.Batch{Floor: 1, Events: evs(1, 2), ReceivedAt: t0}},
		{BoxID: "village-2", Batch: store.Batch{Epoch: "e2", Floor: 1, Events: evs(1), ReceivedAt: t0}},
		{BoxID: "nowhere", Batch: store.Batch{Floor: 1, Events: evs(1), ReceivedAt: t0}},
		{BoxID: "village-1", Batch: store.Batch{Floor: 1, Events: evs(3, 5), ReceivedAt: t0}},
		{BoxID: "village-2", Batch: store.Batch{Epoch: "e2", Floor: 1, Events: evs(0), ReceivedAt: t0}},
		{BoxID: "village-1", Batch: store.Batch{Floor: 1, Events: evs(2, 3), ReceivedAt: t0}},
	}
	setup := func(t *testing.T) store.Store {
		s := fresh(t, open)
		for _, id := range []string{"village-1", "village-2"} {
			mustCreateBox(t, s, newBox(id))
		}
		return s
	}

	t.Run("the group ends as the same batches one by one", func(t *testing.T) {
		one, many := setup(t), setup(t)
		var want []store.AppendResult
		for _, x := range group {
			got, err := one.AppendEvents(t.Context(), x.BoxID, x.Batch)
			want = append(want, store.AppendResult{Appended: got, Err: err})
		}
		got, err := many.AppendMany(t.Context(), group)
		if err != nil {
			t.Fatalf("AppendMany: %v", err)
		}
		if len(got) != len(group) {
			t.Fatalf("AppendMany returned %d results for %d batches", len(got), len(group))
		}
		for i := range group {
			if (got[i].Err == nil) != (want[i].Err == nil) {
				t.Errorf("batch %d of %s: error %v, one by one %v", i, group[i].BoxID, got[i].Err, want[i].Err)
			}
			if !reflect.DeepEqual(got[i].Appended, want[i].Appended) {
				t.Errorf("batch %d of %s: %+v, one by one %+v", i, group[i].BoxID, got[i].Appended, want[i].Appended)
			}
		}
		if !errors.Is(got[2].Err, store.ErrNotFound) {
			t.Errorf("batch of an unknown box: %v, want ErrNotFound", got[2].Err)
		}
		if got[4].Err == nil {
			t.Error("batch with seq 0: no error")
		}
		for _, id := range []string{"village-1", "village-2"} {
			wantBox(t, mustGetBox(t, many, id), mustGetBox(t, one, id))
			g, w := listAll(t, many, id), listAll(t, one, id)
			if !slices.EqualFunc(g, w, func(a, b store.Event) bool { return reflect.DeepEqual(normEvent(a), normEvent(b)) }) {
				t.Errorf("events of %s: %v, one by one %v", id, seqsOf(g), seqsOf(w))
			}
		}
		if got := seqsOf(listAll(t, many, "village-1")); !slices.Equal(got, []uint64{1, 2, 3, 5}) {
			t.Errorf("village-1 holds %v, want [1 2 3 5]", got)
		}
	})

	t.Run("an empty group is no error", func(t *testing.T) {
		s := setup(t)
		if got, err := s.AppendMany(t.Context(), nil); err != nil || len(got) != 0 {
			t.Fatalf("AppendMany(nil) = %v, %v", got, err)
		}
	})
}

// testUpdateBoxes: many boxes change in one write as UpdateBox would
// change each; unknown ids are named, a failing fn writes nothing.
func testUpdateBoxes(t *testing.T, open func(t *testing.T) store.Store) {
	setup := func(t *testing.T) store.Store {
		s := fresh(t, open)
		for _, id := range []string{"village-1", "village-2", "village-3"} {
			mustCreateBox(t, s, newBox(id))
		}
		return s
	}
	seen := t0.Add(time.Minute)

	t.Run("each fn changes its own box", func(t *testing.T) {
		s := setup(t)
		missing, err := s.UpdateBoxes(t.Context(), map[string]func(*store.Box) error{
			"village-1": func(b *store.Box) error { b.Online, b.LastSeen = true, seen; return nil },
			"village-3": func(b *store.Box) error { b.AppliedRev, b.OutboxBacklog, b.ReportedAt = 4, 9, seen; return nil },
			"nowhere":   func(*store.Box) error { return nil },
		})
		if err != nil || !slices.Equal(missing, []string{"nowhere"}) {
			t.Fatalf("UpdateBoxes = %v, %v; want [nowhere], nil", missing, err)
		}
		w1, w2, w3 := newBox("village-1"), newBox("village-2"), newBox("village-3")
		w1.Online, w1.LastSeen = true, seen
		w3.AppliedRev, w3.OutboxBacklog, w3.ReportedAt = 4, 9, seen
		wantBox(t, mustGetBox(t, s, "village-1"), w1)
		wantBox(t, mustGetBox(t, s, "village-2"), w2)
		wantBox(t, mustGetBox(t, s, "village-3"), w3)
	})

	t.Run("a failing fn writes nothing and returns its error", func(t *testing.T) {
		s := setup(t)
		boom := errors.New("boom")
		_, err := s.UpdateBoxes(t.Context(), map[string]func(*store.Box) error{
			"village-1": func(b *store.Box) error { b.Online = true; return nil },
			"village-2": func(*store.Box) error { return boom },
		})
		if !errors.Is(err, boom) {
			t.Fatalf("UpdateBoxes = %v, want boom", err)
		}
		wantBox(t, mustGetBox(t, s, "village-1"), newBox("village-1"))
	})

	t.Run("fields owned elsewhere do not change", func(t *testing.T) {
		s := setup(t)
		before := mustGetBox(t, s, "village-1")
		_, err := s.UpdateBoxes(t.Context(), map[string]func(*store.Box) error{"village-1": func(b *store.Box) error {
			b.ID, b.SecretHash, b.CreatedAt, b.RetiredAt = "x", []byte("other"), seen, seen
			b.Epoch, b.Incarnation, b.Watermark = "e", 7, 99
			b.Health = store.Health{Position: 5, Time: seen, Data: []byte(`{}`)}
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		wantBox(t, mustGetBox(t, s, "village-1"), before)
	})
}

// testHealth: the record keeps the latest box.health stored, by position,
// whatever order batches arrive in.
func testHealth(t *testing.T, open func(t *testing.T) store.Store) {
	health := func(seq uint64, disk int) store.Event {
		e := ev(seq)
		e.Type, e.Data = protocol.EventHealth, fmt.Appendf(nil, `{"disk_free_pct":%d}`, disk)
		return e
	}
	s := fresh(t, open)
	mustCreateBox(t, s, newBox("village-1"))
	if b := mustGetBox(t, s, "village-1"); b.Health.Position != 0 || b.Health.Data != nil {
		t.Fatalf("a new box has health %+v", b.Health)
	}
	mustAppend := func(b store.Batch) {
		t.Helper()
		if _, err := s.AppendEvents(t.Context(), "village-1", b); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string, seq uint64, disk int) {
		t.Helper()
		want := health(seq, disk)
		h := mustGetBox(t, s, "village-1").Health
		if h.Position != want.Position() || !h.Time.Equal(want.Time) || string(h.Data) != string(want.Data) {
			t.Errorf("%s: health %+v (%s), want seq %d %s", when, h, h.Data, seq, want.Data)
		}
	}
	mustAppend(store.Batch{Floor: 1, Events: []store.Event{health(1, 50), ev(2), health(3, 40), ev(4)}})
	check("after a batch with two reports", 3, 40)

	mustAppend(store.Batch{Floor: 1, Events: []store.Event{health(6, 30)}})
	mustAppend(store.Batch{Floor: 1, Events: []store.Event{health(5, 35)}})
	check("after an older report arrived late", 6, 30)

	if err := s.UpdateBox(t.Context(), "village-1", func(b *store.Box) error { b.Health = store.Health{}; return nil }); err != nil {
		t.Fatal(err)
	}
	check("after UpdateBox tried to clear it", 6, 30)

	// A new incarnation's reports are later than any of the last one's.
	mustAppend(store.Batch{Epoch: "e1", Floor: 1, Events: []store.Event{health(7, 20)}})
	mustAppend(store.Batch{Epoch: "e2", Floor: 1, Events: []store.Event{health(1, 10)}})
	b := mustGetBox(t, s, "village-1")
	if inc, seq := store.SplitPosition(b.Health.Position); inc != b.Incarnation || seq != 1 || string(b.Health.Data) != `{"disk_free_pct":10}` {
		t.Errorf("after a new incarnation: health at incarnation %d seq %d (%s), want %d, 1", inc, seq, b.Health.Data, b.Incarnation)
	}
}
