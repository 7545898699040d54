package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// testEpoch is a well-formed epoch named by n.
func testEpoch(n int) string { return fmt.Sprintf("%032x", n) }

// evIn is the event a box would send with seq n in one of its lives: the
// life shows in the data, so events of two lives with one seq differ.
func evIn(life string, n uint64) store.Event {
	e := ev(n)
	e.Data = fmt.Appendf(nil, `{"n":%d,"life":%q}`, n, life)
	return e
}

func evsIn(life string, seqs ...uint64) []store.Event {
	out := make([]store.Event, 0, len(seqs))
	for _, n := range seqs {
		out = append(out, evIn(life, n))
	}
	return out
}

// at is what t0 is to a batch: when it arrived, the time of a box.reset.
var arrived = t0.Add(2 * time.Hour)

func mustAppend(t *testing.T, s store.Store, box string, b store.Batch) store.Appended {
	t.Helper()
	if b.ReceivedAt.IsZero() {
		b.ReceivedAt = arrived
	}
	got, err := s.AppendEvents(t.Context(), box, b)
	if err != nil {
		t.Fatalf("AppendEvents(epoch %q, floor %d, %v): %v", b.Epoch, b.Floor, seqsOf(b.Events), err)
	}
	return got
}

// logEntry is an event as the log shows it: incarnation, seq and the life
// or the reset's reason.
type logEntry struct {
	inc  uint32
	seq  uint64
	what string
}

func logOf(t *testing.T, s store.Store, box string) []logEntry {
	t.Helper()
	var out []logEntry
	for _, e := range listAll(t, s, box) {
		what := ""
		if e.Type == protocol.EventBoxReset {
			var r protocol.Reset
			if err := json.Unmarshal(e.Data, &r); err != nil {
				t.Fatalf("box.reset data %s: %v", e.Data, err)
			}
			what = "reset:" + r.Reason
		} else {
			var d struct{ Life string }
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatalf("event data %s: %v", e.Data, err)
			}
			what = d.Life
		}
		out = append(out, logEntry{e.Incarnation, e.Seq, what})
	}
	return out
}

func entries(inc uint32, what string, seqs ...uint64) []logEntry {
	var out []logEntry
	for _, q := range seqs {
		out = append(out, logEntry{inc, q, what})
	}
	return out
}

func wantLog(t *testing.T, s store.Store, box string, parts ...[]logEntry) {
	t.Helper()
	want := slices.Concat(parts...)
	if got := logOf(t, s, box); !slices.Equal(got, want) {
		t.Fatalf("log of %s:\n got %v\nwant %v", box, got, want)
	}
	if n, err := s.CountEvents(t.Context(), box); err != nil || n != uint64(len(want)) {
		t.Fatalf("CountEvents(%s) = %d, %v; want %d", box, n, err, len(want))
	}
}

func testIncarnations(t *testing.T, open func(t *testing.T) store.Store) {
	e1, e2, e3 := testEpoch(1), testEpoch(2), testEpoch(3)

	// A box updated to epochs sends its first one with seqs that go on:
	// the same incarnation, no reset.
	t.Run("the first epoch of a box from before epochs is the same incarnation", func(t *testing.T) {
		s := fresh(t, open)
		mustCreateBox(t, s, newBox("village-1"))
		mustAppend(t, s, "village-1", store.Batch{Floor: 1, Events: evsIn("a", 1, 2, 3)})
		// 3 was stored but its ack lost: the updated box sends it again.
		got := mustAppend(t, s, "village-1", store.Batch{Epoch: e1, Floor: 3, Events: evsIn("a", 3, 4, 5)})
		if got.Incarnation != 1 || got.Reset != nil || got.Diverged || got.Watermark != 5 || got.From != 3 || got.Ack != 5 {
			t.Fatalf("AppendEvents = %+v, want incarnation 1 through 5, no reset", got)
		}
		if b := mustGetBox(t, s, "village-1"); b.Epoch != e1 || b.Incarnation != 1 || b.Watermark != 5 {
			t.Fatalf("box %+v, want epoch %s in incarnation 1 at 5", b, e1)
		}
		wantLog(t, s, "village-1", entries(1, "a", 1, 2, 3, 4, 5))
	})

	// The box came back with an empty data directory: a new epoch, seqs
	// from 1 again, none taken for a duplicate.
	t.Run("a new epoch begins a new incarnation with a box.reset", func(t *testing.T) {
		s := fresh(t, open)
		mustCreateBox(t, s, newBox("village-1"))
		mustAppend(t, s, "village-1", store.Batch{Epoch: e1, Floor: 1, Events: evsIn("a", 1, 2, 3, 4, 5)})
		got := mustAppend(t, s, "village-1", store.Batch{Epoch: e2, Floor: 1, Events: evsIn("b", 1, 2, 3)})
		want := protocol.Reset{Reason: protocol.ResetNewEpoch, OldEpoch: e1, NewEpoch: e2, OldIncarnation: 1, Incarnation: 2, OldWatermark: 5, Floor: 1}
		if got.Incarnation != 2 || got.Watermark != 3 || got.Ack != 3 || got.Diverged || got.Reset == nil || *got.Reset != want {
			t.Fatalf("AppendEvents = %+v (reset %+v), want incarnation 2 through 3 with reset %+v", got, got.Reset, want)
		}
		if b := mustGetBox(t, s, "village-1"); b.Epoch != e2 || b.Incarnation != 2 || b.Watermark != 3 {
			t.Fatalf("box %+v, want epoch %s in incarnation 2 at 3", b, e2)
		}
		wantLog(t, s, "village-1", entries(1, "a", 1, 2, 3, 4, 5), entries(2, "reset:new_epoch", 0), entries(2, "b", 1, 2, 3))
		reset := listAll(t, s, "village-1")[5]
		wantEv := store.ResetEvent("village-1", want, arrived)
		if g, w := normEvent(reset), normEvent(wantEv); !reflect.DeepEqual(g, w) {
			t.Fatalf("the reset event:\n got %+v\nwant %+v", g, w)
		}

		// A late batch of the old epoch goes to its own incarnation and
		// is acknowledged there; the current one stays.
		late := mustAppend(t, s, "village-1", store.Batch{Epoch: e1, Floor: 4, Events: evsIn("a", 5, 6)})
		if late.Incarnation != 1 || late.Watermark != 6 || late.Ack != 6 || late.From != 5 || late.Reset != nil {
			t.Fatalf("late batch = %+v, want incarnation 1 through 6", late)
		}
		if b := mustGetBox(t, s, "village-1"); b.Epoch != e2 || b.Incarnation != 2 || b.Watermark != 3 {
			t.Fatalf("box after the late batch %+v, want incarnation 2 still current", b)
		}
		wantLog(t, s, "village-1", entries(1, "a", 1, 2, 3, 4, 5, 6), entries(2, "reset:new_epoch", 0), entries(2, "b", 1, 2, 3))
	})

	// The box's data directory came back from a backup: the same epoch,
	// seqs the township holds other events under. The events the copy
	// shares with the township are vouched for, nothing else is stored,
	// and the box's next epoch begins an incarnation that says why.
	t.Run("a restored copy's epoch diverges and nothing of it is lost", func(t *testing.T) {
		s := fresh(t, open)
		mustCreateBox(t, s, newBox("village-1"))
		mustAppend(t, s, "village-1", store.Batch{Epoch: e1, Floor: 1, Events: evsIn("a", slices.Collect(seqRange(1, 10))...)})
		// The copy holds 5-7 as they were, and recorded 8 and 9 anew.
		batch := store.Batch{Epoch: e1, Floor: 5, Events: append(evsIn("a", 5, 6, 7), evsIn("copy", 8, 9)...)}
		got := mustAppend(t, s, "village-1", batch)
		if !got.Diverged || got.Incarnation != 1 || got.From != 5 || got.Ack != 7 || got.Watermark != 10 || got.Reset != nil {
			t.Fatalf("AppendEvents = %+v, want diverged, 5-7 vouched for", got)
		}
		// Events above anything stored do not count once the epoch has
		// diverged: nothing new is stored under it.
		got = mustAppend(t, s, "village-1", store.Batch{Epoch: e1, Floor: 8, Events: evsIn("copy", 8, 9, 10, 11)})
		if !got.Diverged || got.From != 8 || got.Ack != 7 {
			t.Fatalf("a later batch of the diverged epoch = %+v, want diverged, nothing vouched for", got)
		}
		got = mustAppend(t, s, "village-1", store.Batch{Epoch: e1, Floor: 11, Events: evsIn("copy", 11, 12)})
		if !got.Diverged || got.Ack != 10 {
			t.Fatalf("a batch of new seqs under the diverged epoch = %+v, want diverged, nothing vouched for", got)
		}
		wantLog(t, s, "village-1", entries(1, "a", slices.Collect(seqRange(1, 10))...))

		// The box moved what it holds to a new epoch.
		got = mustAppend(t, s, "village-1", store.Batch{Epoch: e2, Floor: 8, Events: evsIn("copy", 8, 9, 10, 11, 12)})
		want := protocol.Reset{Reason: protocol.ResetDiverged, OldEpoch: e1, NewEpoch: e2, OldIncarnation: 1, Incarnation: 2, OldWatermark: 10, Floor: 8}
		if got.Diverged || got.Incarnation != 2 || got.Watermark != 12 || got.Ack != 12 || got.Reset == nil || *got.Reset != want {
			t.Fatalf("AppendEvents = %+v (reset %+v), want incarnation 2 through 12 with reset %+v", got, got.Reset, want)
		}
		wantLog(t, s, "village-1", entries(1, "a", slices.Collect(seqRange(1, 10))...), entries(2, "reset:diverged", 0),
			entries(2, "copy", 8, 9, 10, 11, 12))
	})

	// A restored copy whose seqs the township never stored, but settled
	// (the original box dropped them under its disk cap): still diverged.
	t.Run("a seq at or below the watermark that was never stored diverges", func(t *testing.T) {
		s := fresh(t, open)
		mustCreateBox(t, s, newBox("village-1"))
		mustAppend(t, s, "village-1", store.Batch{Epoch: e1, Floor: 1, Events: evsIn("a", 1, 2)})
		mustAppend(t, s, "village-1", store.Batch{Epoch: e1, Floor: 9, Events: evsIn("a", 9)})
		got := mustAppend(t, s, "village-1", store.Batch{Epoch: e1, Floor: 3, Events: evsIn("copy", 3, 4)})
		if !got.Diverged || got.Ack != 2 {
			t.Fatalf("AppendEvents = %+v, want diverged, nothing vouched for", got)
		}
	})

	// A batch whose lowest seq the incarnation holds differently vouches
	// for nothing, even where later seqs match.
	t.Run("a diverged batch vouches only for a run from its lowest seq", func(t *testing.T) {
		s := fresh(t, open)
		mustCreateBox(t, s, newBox("village-1"))
		mustAppend(t, s, "village-1", store.Batch{Epoch: e1, Floor: 1, Events: evsIn("a", 1, 2, 3)})
		got := mustAppend(t, s, "village-1", store.Batch{Epoch: e1, Floor: 1, Events: append(evsIn("copy", 1), evsIn("a", 2, 3)...)})
		if !got.Diverged || got.From != 1 || got.Ack != 0 {
			t.Fatalf("AppendEvents = %+v, want diverged with nothing vouched for", got)
		}
	})

	// A box without an epoch cannot be told it diverged: seqs it reuses
	// for other events begin a new incarnation, and so do those of the
	// first epoch after them (a box re-flashed with a build that knows
	// epochs, where the box before it knew none).
	t.Run("seqs reused without an epoch begin a new incarnation", func(t *testing.T) {
		s := fresh(t, open)
		mustCreateBox(t, s, newBox("village-1"))
		mustCreateBox(t, s, newBox("village-2"))
		for _, box := range []string{"village-1", "village-2"} {
			mustAppend(t, s, box, store.Batch{Floor: 1, Events: evsIn("a", 1, 2, 3)})
		}
		got := mustAppend(t, s, "village-1", store.Batch{Floor: 1, Events: evsIn("b", 1, 2)})
		want := protocol.Reset{Reason: protocol.ResetSeqsReused, OldIncarnation: 1, Incarnation: 2, OldWatermark: 3, Floor: 1}
		if got.Diverged || got.Incarnation != 2 || got.Ack != 2 || got.Reset == nil || *got.Reset != want {
			t.Fatalf("village-1: %+v (reset %+v), want incarnation 2 with reset %+v", got, got.Reset, want)
		}
		wantLog(t, s, "village-1", entries(1, "a", 1, 2, 3), entries(2, "reset:seqs_reused", 0), entries(2, "b", 1, 2))

		got = mustAppend(t, s, "village-2", store.Batch{Epoch: e3, Floor: 1, Events: evsIn("b", 1, 2)})
		want = protocol.Reset{Reason: protocol.ResetSeqsReused, NewEpoch: e3, OldIncarnation: 1, Incarnation: 2, OldWatermark: 3, Floor: 1}
		if got.Diverged || got.Incarnation != 2 || got.Reset == nil || *got.Reset != want {
			t.Fatalf("village-2: %+v (reset %+v), want incarnation 2 with reset %+v", got, got.Reset, want)
		}
		if b := mustGetBox(t, s, "village-2"); b.Epoch != e3 || b.Incarnation != 2 {
			t.Fatalf("village-2 %+v, want epoch %s in incarnation 2", b, e3)
		}
		// The epoch is the new incarnation's from now on.
		if got := mustAppend(t, s, "village-2", store.Batch{Epoch: e3, Floor: 1, Events: evsIn("b", 3)}); got.Incarnation != 2 || got.Ack != 3 {
			t.Fatalf("village-2's next batch = %+v, want incarnation 2 through 3", got)
		}
	})

	t.Run("every incarnation pages and searches in order", func(t *testing.T) {
		s := fresh(t, open)
		mustCreateBox(t, s, newBox("village-1"))
		mustAppend(t, s, "village-1", store.Batch{Epoch: e1, Floor: 1, Events: evsIn("a", 1, 2, 3)})
		mustAppend(t, s, "village-1", store.Batch{Epoch: e2, Floor: 1, Events: evsIn("b", 1, 2)})
		mustAppend(t, s, "village-1", store.Batch{Epoch: e3, Floor: 1, Events: evsIn("c", 1)})
		want := slices.Concat(entries(1, "a", 1, 2, 3), entries(2, "reset:new_epoch", 0), entries(2, "b", 1, 2),
			entries(3, "reset:new_epoch", 0), entries(3, "c", 1))
		var paged []store.Event
		after := uint64(0)
		for range 20 {
			page, err := s.ListEvents(t.Context(), "village-1", after, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			paged = append(paged, page...)
			after = page[len(page)-1].Position()
		}
		if len(paged) != len(want) {
			t.Fatalf("paged %d events, want %d", len(paged), len(want))
		}
		for i, e := range paged {
			if e.Incarnation != want[i].inc || e.Seq != want[i].seq {
				t.Fatalf("page position %d: incarnation %d seq %d, want %+v", i, e.Incarnation, e.Seq, want[i])
			}
		}
		for limit := 1; limit <= len(want); limit++ {
			found := searchAll(t, s, store.EventFilter{BoxID: "village-1", Limit: limit})
			if len(found) != len(want) {
				t.Fatalf("searched by %d: %d events, want %d", limit, len(found), len(want))
			}
			for i, e := range found {
				w := want[len(want)-1-i]
				if e.Incarnation != w.inc || e.Seq != w.seq {
					t.Fatalf("searched by %d, position %d: incarnation %d seq %d, want %+v", limit, i, e.Incarnation, e.Seq, w)
				}
			}
		}
		resets := searchAll(t, s, store.EventFilter{Type: protocol.EventBoxReset, Limit: 10})
		if len(resets) != 2 || resets[0].Incarnation != 3 || resets[1].Incarnation != 2 {
			t.Fatalf("box.reset events found: %+v", resets)
		}
	})
}

// seqRange yields from through to.
func seqRange(from, to uint64) func(func(uint64) bool) {
	return func(yield func(uint64) bool) {
		for q := from; q <= to; q++ {
			if !yield(q) {
				return
			}
		}
	}
}
