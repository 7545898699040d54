package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Run runs the whole suite. open must return a new, empty store for each
// call; Run closes it when the subtest that opened it ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Boxes", func(t *testing.T) { testBoxes(t, open) })
	t.Run("Desired", func(t *testing.T) { testDesired(t, open) })
	t.Run("AppendEvents", func(t *testing.T) { testAppendEvents(t, open) })
	t.Run("Incarnations", func(t *testing.T) { testIncarnations(t, open) })
	t.Run("ListEvents", func(t *testing.T) { testListEvents(t, open) })
	t.Run("SearchEvents", func(t *testing.T) { testSearchEvents(t, open) })
	t.Run("Users", func(t *testing.T) { testUsers(t, open) })
	t.Run("Townships", func(t *testing.T) { testTownships(t, open) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, open) })
	t.Run("Plans", func(t *testing.T) { testPlans(t, open) })
	t.Run("Media", func(t *testing.T) { testMedia(t, open) })
	t.Run("Lists", func(t *testing.T) { testLists(t, open) })
	t.Run("Community", func(t *testing.T) { testCommunity(t, open) })
	t.Run("Alerts", func(t *testing.T) { testAlerts(t, open) })
	t.Run("Claims", func(t *testing.T) { testClaims(t, open) })
	t.Run("Ping", func(t *testing.T) { testPing(t, open) })
	t.Run("Updates", func(t *testing.T) { testUpdates(t, open) })
	t.Run("AppendMany", func(t *testing.T) { testAppendMany(t, open) })
	t.Run("UpdateBoxes", func(t *testing.T) { testUpdateBoxes(t, open) })
	t.Run("Health", func(t *testing.T) { testHealth(t, open) })
	t.Run("Overviews", func(t *testing.T) { testOverviews(t, open) })
	t.Run("Batches", func(t *testing.T) { testBatches(t, open) })
}

// testPing: a working store pings clean, as often as asked, without
// changing what it holds; a closed one cannot take a write and says so.
func testPing(t *testing.T, open func(t *testing.T) store.Store) {
	s := fresh(t, open)
	mustCreateBox(t, s, newBox("village-1"))
	before := mustGetBox(t, s, "village-1")
	for range 3 {
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping of a working store: %v", err)
		}
	}
	if after := mustGetBox(t, s, "village-1"); !reflect.DeepEqual(normBox(after), normBox(before)) {
		t.Errorf("Ping changed a box: %+v, was %+v", after, before)
	}
	if boxes, err := s.ListBoxes(t.Context()); err != nil || len(boxes) != 1 {
		t.Errorf("ListBoxes after Ping: %d boxes, %v", len(boxes), err)
	}

	closed := open(t)
	if err := closed.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := closed.Ping(t.Context()); err == nil {
		t.Error("Ping of a closed store: nil, want an error")
	}
}

// t0 has microsecond precision on purpose: see the package comment.
var t0 = time.Date(2026, 11, 1, 8, 30, 15, 123456000, time.UTC)

func fresh(t *testing.T, open func(t *testing.T) store.Store) store.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func newBox(id string) store.Box {
	return store.Box{
		ID:         id,
		Name:       "示范村 " + id,
		SecretHash: []byte("sha256-of-" + id + "-secret-padded-to-32"),
		CreatedAt:  t0,
		// A box's log begins with its first incarnation (also when
		// CreateBox is given 0).
		Incarnation: 1,
	}
}

func mustCreateBox(t *testing.T, s store.Store, b store.Box) {
	t.Helper()
	if err := s.CreateBox(t.Context(), b); err != nil {
		t.Fatalf("CreateBox(%s): %v", b.ID, err)
	}
}

func mustGetBox(t *testing.T, s store.Store, id string) store.Box {
	t.Helper()
	b, err := s.GetBox(t.Context(), id)
	if err != nil {
		t.Fatalf("GetBox(%s): %v", id, err)
	}
	return b
}

// normBox makes two boxes comparable with reflect.DeepEqual: times in UTC
// without monotonic readings, empty byte slices as nil.
func normBox(b store.Box) store.Box {
	b.SecretHash = normBytes(b.SecretHash)
	b.CreatedAt = b.CreatedAt.UTC()
	b.LastSeen = b.LastSeen.UTC()
	b.ReportedAt = b.ReportedAt.UTC()
	b.RetiredAt = b.RetiredAt.UTC()
	b.Health.Time = b.Health.Time.UTC()
	b.Health.Data = normBytes(b.Health.Data)
	return b
}

// normEvent also truncates times to the microsecond (see the package
// comment): ev's times for seqs near protocol.MaxSeq overflow a Duration
// into nanoseconds no PostgreSQL timestamp keeps.
func normEvent(e store.Event) store.Event {
	e.Data = normBytes(e.Data)
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	e.ReceivedAt = e.ReceivedAt.UTC().Truncate(time.Microsecond)
	return e
}

func normBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func wantBox(t *testing.T, got, want store.Box) {
	t.Helper()
	if g, w := normBox(got), normBox(want); !reflect.DeepEqual(g, w) {
		t.Errorf("box %s:\n got %+v\nwant %+v", want.ID, g, w)
	}
}

func testBoxes(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("create then get returns every field", func(t *testing.T) {
		s := fresh(t, open)
		b := newBox("village-1")
		b.Online = true
		b.LastSeen = t0.Add(time.Minute)
		b.AppliedRev = 3
		b.OutboxBacklog = 17
		b.ReportedAt = t0.Add(2 * time.Minute)
		b.Place = "东山片区"
		mustCreateBox(t, s, b)
		wantBox(t, mustGetBox(t, s, "village-1"), b)
	})
	t.Run("create of a taken id is ErrExists and keeps the first", func(t *testing.T) {
		s := fresh(t, open)
		first := newBox("village-1")
		mustCreateBox(t, s, first)
		second := newBox("village-1")
		second.Name = "impostor"
		if err := s.CreateBox(t.Context(), second); !errors.Is(err, store.ErrExists) {
			t.Fatalf("second CreateBox = %v, want ErrExists", err)
		}
		wantBox(t, mustGetBox(t, s, "village-1"), first)
	})
	t.Run("get of an unknown id is ErrNotFound", func(t *testing.T) {
		s := fresh(t, open)
		if _, err := s.GetBox(t.Context(), "nowhere"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetBox = %v, want ErrNotFound", err)
		}
	})
	t.Run("list is ordered by id", func(t *testing.T) {
		s := fresh(t, open)
		if got, err := s.ListBoxes(t.Context()); err != nil || len(got) != 0 {
			t.Fatalf("ListBoxes on an empty store = %v, %v; want none", got, err)
		}
		ids := []string{"village-3", "village-1", "a-hamlet", "village-10", "village-2"}
		for _, id := range ids {
			mustCreateBox(t, s, newBox(id))
		}
		got, err := s.ListBoxes(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []string
		for _, b := range got {
			gotIDs = append(gotIDs, b.ID)
			wantBox(t, b, newBox(b.ID))
		}
		want := slices.Clone(ids)
		slices.Sort(want)
		if !slices.Equal(gotIDs, want) {
			t.Fatalf("ListBoxes ids = %v, want %v", gotIDs, want)
		}
	})
	t.Run("update writes what fn changed", func(t *testing.T) {
		s := fresh(t, open)
		b := newBox("village-1")
		mustCreateBox(t, s, b)
		err := s.UpdateBox(t.Context(), "village-1", func(x *store.Box) error {
			x.Name = "renamed"
			x.Online = true
			x.LastSeen = t0.Add(time.Hour)
			x.AppliedRev = 9
			x.OutboxBacklog = 2
			x.ReportedAt = t0.Add(time.Hour)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		b.Name, b.Online, b.LastSeen, b.AppliedRev, b.OutboxBacklog, b.ReportedAt = "renamed", true, t0.Add(time.Hour), 9, 2, t0.Add(time.Hour)
		wantBox(t, mustGetBox(t, s, "village-1"), b)
	})
	t.Run("update passes fn the stored box", func(t *testing.T) {
		s := fresh(t, open)
		b := newBox("village-1")
		b.AppliedRev = 4
		mustCreateBox(t, s, b)
		var seen store.Box
		if err := s.UpdateBox(t.Context(), "village-1", func(x *store.Box) error { seen = *x; return nil }); err != nil {
			t.Fatal(err)
		}
		wantBox(t, seen, b)
	})
	t.Run("update whose fn fails writes nothing and returns its error", func(t *testing.T) {
		s := fresh(t, open)
		b := newBox("village-1")
		mustCreateBox(t, s, b)
		boom := errors.New("boom")
		err := s.UpdateBox(t.Context(), "village-1", func(x *store.Box) error {
			x.Name = "half-done"
			x.Online = true
			return fmt.Errorf("checking: %w", boom)
		})
		if !errors.Is(err, boom) {
			t.Fatalf("UpdateBox = %v, want fn's error", err)
		}
		wantBox(t, mustGetBox(t, s, "village-1"), b)
	})
	t.Run("update of an unknown id is ErrNotFound and never calls fn", func(t *testing.T) {
		s := fresh(t, open)
		called := false
		err := s.UpdateBox(t.Context(), "nowhere", func(*store.Box) error { called = true; return nil })
		if !errors.Is(err, store.ErrNotFound) || called {
			t.Fatalf("UpdateBox = %v (fn called: %v), want ErrNotFound without calling fn", err, called)
		}
		if _, err := s.GetBox(t.Context(), "nowhere"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UpdateBox created the box: GetBox = %v", err)
		}
	})
	t.Run("update cannot change id, secret hash or creation time", func(t *testing.T) {
		s := fresh(t, open)
		b := newBox("village-1")
		mustCreateBox(t, s, b)
		err := s.UpdateBox(t.Context(), "village-1", func(x *store.Box) error {
			x.ID = "village-2"
			x.SecretHash = []byte("another secret hash, 32 bytes..")
			x.CreatedAt = t0.Add(24 * time.Hour)
			x.Name = "renamed"
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		b.Name = "renamed"
		wantBox(t, mustGetBox(t, s, "village-1"), b)
		if _, err := s.GetBox(t.Context(), "village-2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("changing ID in fn made a box village-2: GetBox = %v", err)
		}
	})
	t.Run("update cannot retire a box", func(t *testing.T) {
		s := fresh(t, open)
		b := newBox("village-1")
		mustCreateBox(t, s, b)
		if err := s.UpdateBox(t.Context(), "village-1", func(x *store.Box) error { x.RetiredAt = t0; x.Place = "西片"; return nil }); err != nil {
			t.Fatal(err)
		}
		b.Place = "西片"
		wantBox(t, mustGetBox(t, s, "village-1"), b)
	})
	t.Run("update of credentials changes the secret hash and retirement with the rest", func(t *testing.T) {
		s := fresh(t, open)
		b := newBox("village-1")
		mustCreateBox(t, s, b)
		if _, err := s.AppendEvents(t.Context(), "village-1", store.Batch{Floor: 1, Events: evs(1, 2)}); err != nil {
			t.Fatal(err)
		}
		b = mustGetBox(t, s, "village-1")
		rotated := []byte("a new secret hash of 32 bytes...")
		if err := s.UpdateBoxCredentials(t.Context(), "village-1", func(x *store.Box) error {
			x.SecretHash = rotated
			x.ID, x.CreatedAt, x.Watermark = "village-2", t0.Add(time.Hour), 99
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		b.SecretHash = rotated
		wantBox(t, mustGetBox(t, s, "village-1"), b)
		if err := s.UpdateBoxCredentials(t.Context(), "village-1", func(x *store.Box) error {
			x.SecretHash, x.RetiredAt, x.Online = nil, t0.Add(time.Hour), false
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		b.SecretHash, b.RetiredAt, b.Online = nil, t0.Add(time.Hour), false
		got := mustGetBox(t, s, "village-1")
		wantBox(t, got, b)
		if !got.Retired() || len(got.SecretHash) != 0 {
			t.Errorf("retired box %+v: want retired without a secret", got)
		}
		if n, err := s.CountEvents(t.Context(), "village-1"); err != nil || n != 2 {
			t.Errorf("a retired box's events: %d, %v; want its 2 kept", n, err)
		}
		boom := errors.New("boom")
		if err := s.UpdateBoxCredentials(t.Context(), "village-1", func(x *store.Box) error { x.SecretHash = rotated; return boom }); !errors.Is(err, boom) {
			t.Fatalf("UpdateBoxCredentials = %v, want fn's error", err)
		}
		wantBox(t, mustGetBox(t, s, "village-1"), b)
		if err := s.UpdateBoxCredentials(t.Context(), "nowhere", func(*store.Box) error { return nil }); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UpdateBoxCredentials of an unknown box = %v, want ErrNotFound", err)
		}
	})
	t.Run("concurrent updates are not lost", func(t *testing.T) {
		s := fresh(t, open)
		mustCreateBox(t, s, newBox("village-1"))
		const workers, each = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Go(func() {
				for range each {
					if err := s.UpdateBox(t.Context(), "village-1", func(x *store.Box) error { x.AppliedRev++; return nil }); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if got := mustGetBox(t, s, "village-1").AppliedRev; got != workers*each {
			t.Fatalf("AppliedRev = %d after %d increments", got, workers*each)
		}
	})
}

func testDesired(t *testing.T, open func(t *testing.T) store.Store) {
	d := func(rev uint64) store.Desired {
		return store.Desired{BoxID: "village-1", Rev: rev, Payload: fmt.Appendf(nil, `{"v":1,"body":{"rev":%d},"sig":"c2ln"}`, rev)}
	}
	type put struct {
		d   store.Desired
		err error // nil or the sentinel
	}
	cases := []struct {
		name string
		puts []put
		want store.Desired // what GetDesired returns at the end
	}{
		{"first rev is stored", []put{{d(1), nil}}, d(1)},
		{"a higher rev replaces", []put{{d(1), nil}, {d(5), nil}}, d(5)},
		{"the same rev again is ErrExists", []put{{d(3), nil}, {d(3), store.ErrExists}}, d(3)},
		{"a lower rev is ErrExists", []put{{d(3), nil}, {d(2), store.ErrExists}}, d(3)},
		{"a rewrite with other bytes at the same rev is ErrExists", []put{
			{d(3), nil}, {store.Desired{BoxID: "village-1", Rev: 3, Payload: []byte("other")}, store.ErrExists}}, d(3)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := fresh(t, open)
			mustCreateBox(t, s, newBox("village-1"))
			for i, p := range c.puts {
				err := s.PutDesired(t.Context(), p.d)
				if (p.err == nil && err != nil) || (p.err != nil && !errors.Is(err, p.err)) {
					t.Fatalf("put %d (rev %d) = %v, want %v", i, p.d.Rev, err, p.err)
				}
			}
			got, err := s.GetDesired(t.Context(), "village-1")
			if err != nil {
				t.Fatal(err)
			}
			if got.BoxID != c.want.BoxID || got.Rev != c.want.Rev || !bytes.Equal(got.Payload, c.want.Payload) {
				t.Fatalf("GetDesired = %+v, want %+v", got, c.want)
			}
			if b := mustGetBox(t, s, "village-1"); b.DesiredRev != c.want.Rev {
				t.Fatalf("box DesiredRev = %d, want %d", b.DesiredRev, c.want.Rev)
			}
		})
	}
	t.Run("get before any put is ErrNotFound", func(t *testing.T) {
		s := fresh(t, open)
		mustCreateBox(t, s, newBox("village-1"))
		if _, err := s.GetDesired(t.Context(), "village-1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetDesired = %v, want ErrNotFound", err)
		}
	})
	t.Run("put for an unknown box is ErrNotFound", func(t *testing.T) {
		s := fresh(t, open)
		err := s.PutDesired(t.Context(), store.Desired{BoxID: "nowhere", Rev: 1, Payload: []byte("{}")})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("PutDesired = %v, want ErrNotFound", err)
		}
	})
	t.Run("each box has its own rev", func(t *testing.T) {
		s := fresh(t, open)
		mustCreateBox(t, s, newBox("village-1"))
		mustCreateBox(t, s, newBox("village-2"))
		for _, p := range []store.Desired{d(7), {BoxID: "village-2", Rev: 2, Payload: []byte("two")}} {
			if err := s.PutDesired(t.Context(), p); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.GetDesired(t.Context(), "village-2"); err != nil || got.Rev != 2 || string(got.Payload) != "two" {
			t.Fatalf("GetDesired(village-2) = %+v, %v", got, err)
		}
		if b := mustGetBox(t, s, "village-2"); b.DesiredRev != 2 {
			t.Fatalf("village-2 DesiredRev = %d, want 2", b.DesiredRev)
		}
	})
}

// ev is the event a box would send with seq n; its fields vary with n so a
// mix-up between seqs shows.
func ev(n uint64) store.Event {
	return store.Event{
		Incarnation: 1,
		Seq:         n,
		Time:        t0.Add(time.Duration(n) * time.Second),
		Type:        fmt.Sprintf("test.e%d", n),
		Priority:    int(n % 4),
		Data:        fmt.Appendf(nil, `{"n":%d}`, n),
		ReceivedAt:  t0.Add(time.Hour),
	}
}

func evs(seqs ...uint64) []store.Event {
	out := make([]store.Event, 0, len(seqs))
	for _, n := range seqs {
		out = append(out, ev(n))
	}
	return out
}

func seqsOf(es []store.Event) []uint64 {
	out := make([]uint64, 0, len(es))
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func listAll(t *testing.T, s store.Store, box string) []store.Event {
	t.Helper()
	got, err := s.ListEvents(t.Context(), box, 0, 1_000_000)
	if err != nil {
		t.Fatalf("ListEvents(%s): %v", box, err)
	}
	return got
}

func testAppendEvents(t *testing.T, open func(t *testing.T) store.Store) {
	type step struct {
		floor uint64
		seqs  []uint64
		want  uint64 // watermark returned
		ack   uint64 // what the box may delete through: at most the batch's end
	}
	s := func(seqs ...uint64) []uint64 { return seqs }
	cases := []struct {
		name   string
		steps  []step
		stored []uint64
	}{
		{"a contiguous batch moves the watermark to its end", []step{{1, s(1, 2, 3), 3, 3}}, s(1, 2, 3)},
		{"a gap holds the watermark until it is filled", []step{{1, s(1, 2, 4), 2, 2}, {1, s(3), 4, 3}}, s(1, 2, 3, 4)},
		{"out-of-order batches", []step{{1, s(3, 4), 0, 0}, {1, s(1, 2), 4, 2}}, s(1, 2, 3, 4)},
		{"a re-sent batch is stored once", []step{{1, s(1, 2), 2, 2}, {1, s(1, 2), 2, 2}}, s(1, 2)},
		{"overlapping batches", []step{{1, s(1, 2, 3), 3, 3}, {1, s(2, 3, 4, 5), 5, 5}}, s(1, 2, 3, 4, 5)},
		{"a batch need not be sorted", []step{{1, s(3, 1, 2), 3, 3}}, s(1, 2, 3)},
		{"a seq twice in one batch is stored once", []step{{1, s(1, 1, 2), 2, 2}}, s(1, 2)},
		{"the floor settles seqs the box dropped", []step{{5, s(5, 6), 6, 6}}, s(5, 6)},
		{"a floor alone moves the watermark to floor-1", []step{{10, nil, 9, 9}}, nil},
		{"the floor stops at a gap above it", []step{{5, s(7), 4, 4}, {5, s(5, 6), 7, 6}}, s(5, 6, 7)},
		{"from the floor the watermark walks over seqs already stored", []step{{1, s(5, 6), 0, 0}, {5, nil, 6, 4}}, s(5, 6)},
		{"a lower floor never lowers the watermark", []step{{1, s(1, 2, 3), 3, 3}, {1, nil, 3, 0}, {2, s(2), 3, 2}}, s(1, 2, 3)},
		{"floor 0 settles nothing", []step{{0, nil, 0, 0}, {0, s(2), 0, 0}, {0, s(1), 2, 1}}, s(1, 2)},
		{"an empty batch changes nothing", []step{{1, nil, 0, 0}}, nil},
		{"the highest seq", []step{{protocol.MaxSeq, s(protocol.MaxSeq), protocol.MaxSeq, protocol.MaxSeq}}, s(protocol.MaxSeq)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := fresh(t, open)
			mustCreateBox(t, st, newBox("village-1"))
			for i, p := range c.steps {
				got, err := st.AppendEvents(t.Context(), "village-1", store.Batch{Floor: p.floor, Events: evs(p.seqs...)})
				if err != nil {
					t.Fatalf("step %d: AppendEvents(floor %d, %v): %v", i, p.floor, p.seqs, err)
				}
				if got.Watermark != p.want || got.Ack != p.ack || got.Incarnation != 1 || got.Diverged || got.Reset != nil {
					t.Fatalf("step %d: AppendEvents(floor %d, %v) = %+v, want watermark %d and ack %d in incarnation 1", i, p.floor, p.seqs, got, p.want, p.ack)
				}
				if got := mustGetBox(t, st, "village-1").Watermark; got != p.want {
					t.Fatalf("step %d: box Watermark = %d, want %d", i, got, p.want)
				}
			}
			got := listAll(t, st, "village-1")
			if !slices.Equal(seqsOf(got), c.stored) {
				t.Fatalf("stored seqs = %v, want %v", seqsOf(got), c.stored)
			}
			for _, e := range got {
				want := ev(e.Seq)
				want.BoxID = "village-1"
				if g, w := normEvent(e), normEvent(want); !reflect.DeepEqual(g, w) {
					t.Fatalf("stored event:\n got %+v\nwant %+v", g, w)
				}
			}
			n, err := st.CountEvents(t.Context(), "village-1")
			if err != nil || n != uint64(len(c.stored)) {
				t.Fatalf("CountEvents = %d, %v; want %d", n, err, len(c.stored))
			}
		})
	}

	t.Run("seqs out of range are refused and nothing is stored", func(t *testing.T) {
		st := fresh(t, open)
		mustCreateBox(t, st, newBox("village-1"))
		for _, b := range []store.Batch{
			{Floor: 1, Events: evs(1, 0)},
			{Floor: 1, Events: evs(1, protocol.MaxSeq+1)},
			{Floor: protocol.MaxSeq + 2},
		} {
			if _, err := st.AppendEvents(t.Context(), "village-1", b); err == nil {
				t.Errorf("AppendEvents(%+v) succeeded", b)
			}
		}
		if n, err := st.CountEvents(t.Context(), "village-1"); err != nil || n != 0 {
			t.Fatalf("CountEvents = %d, %v after refused batches", n, err)
		}
	})
	t.Run("the box id comes from the argument, not the events", func(t *testing.T) {
		st := fresh(t, open)
		mustCreateBox(t, st, newBox("village-1"))
		e := ev(1)
		e.BoxID = "village-2"
		if _, err := st.AppendEvents(t.Context(), "village-1", store.Batch{Floor: 1, Events: []store.Event{e}}); err != nil {
			t.Fatal(err)
		}
		if got := listAll(t, st, "village-1"); len(got) != 1 || got[0].BoxID != "village-1" {
			t.Fatalf("stored %+v, want one event of village-1", got)
		}
	})
	t.Run("boxes are independent", func(t *testing.T) {
		st := fresh(t, open)
		mustCreateBox(t, st, newBox("village-1"))
		mustCreateBox(t, st, newBox("village-2"))
		if _, err := st.AppendEvents(t.Context(), "village-1", store.Batch{Floor: 1, Events: evs(1, 2, 3)}); err != nil {
			t.Fatal(err)
		}
		got, err := st.AppendEvents(t.Context(), "village-2", store.Batch{Floor: 1, Events: evs(2)})
		if err != nil || got.Watermark != 0 {
			t.Fatalf("village-2 AppendEvents = %+v, %v; want watermark 0 (its seq 1 is missing)", got, err)
		}
		if n, err := st.CountEvents(t.Context(), "village-2"); err != nil || n != 1 {
			t.Fatalf("village-2 CountEvents = %d, %v; want 1", n, err)
		}
		if got := seqsOf(listAll(t, st, "village-1")); !slices.Equal(got, []uint64{1, 2, 3}) {
			t.Fatalf("village-1 seqs = %v", got)
		}
		if wm := mustGetBox(t, st, "village-1").Watermark; wm != 3 {
			t.Fatalf("village-1 Watermark = %d, want 3", wm)
		}
	})
	t.Run("an unknown box is ErrNotFound and nothing is stored", func(t *testing.T) {
		st := fresh(t, open)
		if _, err := st.AppendEvents(t.Context(), "village-9", store.Batch{Floor: 1, Events: evs(1, 2)}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("AppendEvents = %v, want ErrNotFound", err)
		}
		if _, err := st.CountEvents(t.Context(), "village-9"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("CountEvents = %v, want ErrNotFound", err)
		}
		if _, err := st.ListEvents(t.Context(), "village-9", 0, 10); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("ListEvents = %v, want ErrNotFound", err)
		}
		mustCreateBox(t, st, newBox("village-9"))
		if n, err := st.CountEvents(t.Context(), "village-9"); err != nil || n != 0 {
			t.Fatalf("after creating the box, CountEvents = %d, %v; want 0", n, err)
		}
		if wm := mustGetBox(t, st, "village-9").Watermark; wm != 0 {
			t.Fatalf("after creating the box, Watermark = %d, want 0", wm)
		}
	})
	t.Run("concurrent re-sent batches end contiguous", func(t *testing.T) {
		st := fresh(t, open)
		mustCreateBox(t, st, newBox("village-1"))
		const batches, size = 40, 10
		work := make(chan []uint64, 2*batches)
		// Every batch twice, the second copies in reverse order, so
		// workers race on the same seqs and fill gaps in any order.
		for pass := range 2 {
			for i := range batches {
				b := i
				if pass == 1 {
					b = batches - 1 - i
				}
				seqs := make([]uint64, size)
				for j := range seqs {
					seqs[j] = uint64(b*size + j + 1)
				}
				work <- seqs
			}
		}
		close(work)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				for seqs := range work {
					if _, err := st.AppendEvents(t.Context(), "village-1", store.Batch{Floor: 1, Events: evs(seqs...)}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if wm := mustGetBox(t, st, "village-1").Watermark; wm != batches*size {
			t.Fatalf("Watermark = %d, want %d", wm, batches*size)
		}
		if n, err := st.CountEvents(t.Context(), "village-1"); err != nil || n != batches*size {
			t.Fatalf("CountEvents = %d, %v; want %d", n, err, batches*size)
		}
	})
	t.Run("UpdateBox keeps the watermark AppendEvents set", func(t *testing.T) {
		st := fresh(t, open)
		mustCreateBox(t, st, newBox("village-1"))
		if _, err := st.AppendEvents(t.Context(), "village-1", store.Batch{Floor: 1, Events: evs(1, 2)}); err != nil {
			t.Fatal(err)
		}
		change := func(b *store.Box) error {
			b.Online, b.Watermark, b.Epoch, b.Incarnation = true, 99, testEpoch(9), 7
			return nil
		}
		if err := st.UpdateBox(t.Context(), "village-1", change); err != nil {
			t.Fatal(err)
		}
		if b := mustGetBox(t, st, "village-1"); b.Watermark != 2 || !b.Online || b.Epoch != "" || b.Incarnation != 1 {
			t.Fatalf("after UpdateBox: %+v, want watermark 2, online, no epoch, incarnation 1", b)
		}
	})
}

func testListEvents(t *testing.T, open func(t *testing.T) store.Store) {
	st := fresh(t, open)
	mustCreateBox(t, st, newBox("village-1"))
	mustCreateBox(t, st, newBox("village-2"))
	// 1..10 without 5, and another box's events interleaved in key order.
	if _, err := st.AppendEvents(t.Context(), "village-1", store.Batch{Floor: 1, Events: evs(1, 2, 3, 4, 6, 7, 8, 9, 10)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AppendEvents(t.Context(), "village-2", store.Batch{Floor: 1, Events: evs(1, 2, 3, 11, 12)}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		after uint64
		limit int
		want  []uint64
	}{
		{"first page", 0, 3, []uint64{1, 2, 3}},
		{"a page across the gap", 3, 3, []uint64{4, 6, 7}},
		{"after a missing seq", 5, 2, []uint64{6, 7}},
		{"the last, short page", 8, 5, []uint64{9, 10}},
		{"past the end", 10, 5, nil},
		{"far past the end", 1 << 40, 5, nil},
		{"everything", 0, 100, []uint64{1, 2, 3, 4, 6, 7, 8, 9, 10}},
		{"limit 1", 6, 1, []uint64{7}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := st.ListEvents(t.Context(), "village-1", c.after, c.limit)
			if err != nil {
				t.Fatal(err)
			}
			if g := seqsOf(got); !slices.Equal(g, c.want) {
				t.Fatalf("ListEvents(after %d, limit %d) = %v, want %v", c.after, c.limit, g, c.want)
			}
			for _, e := range got {
				if e.BoxID != "village-1" {
					t.Fatalf("event of %q in village-1's list", e.BoxID)
				}
			}
		})
	}
	t.Run("paging with after=last seq visits every event once", func(t *testing.T) {
		var all []uint64
		after := uint64(0)
		for range 20 {
			page, err := st.ListEvents(t.Context(), "village-1", after, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			all = append(all, seqsOf(page)...)
			after = page[len(page)-1].Seq
		}
		if want := []uint64{1, 2, 3, 4, 6, 7, 8, 9, 10}; !slices.Equal(all, want) {
			t.Fatalf("paged seqs = %v, want %v", all, want)
		}
	})
	t.Run("count", func(t *testing.T) {
		for box, want := range map[string]uint64{"village-1": 9, "village-2": 5} {
			if n, err := st.CountEvents(t.Context(), box); err != nil || n != want {
				t.Errorf("CountEvents(%s) = %d, %v; want %d", box, n, err, want)
			}
		}
	})
}

func testUsers(t *testing.T, open func(t *testing.T) store.Store) {
	user := func(name string, role store.Role) store.User {
		return store.User{Name: name, PasswordHash: []byte("$2a$10$hash-of-" + name), Role: role, CreatedAt: t0}
	}
	same := func(a, b store.User) bool {
		return a.Name == b.Name && bytes.Equal(a.PasswordHash, b.PasswordHash) && a.Role == b.Role && a.CreatedAt.Equal(b.CreatedAt) &&
			a.Disabled == b.Disabled
	}
	t.Run("create then get", func(t *testing.T) {
		s := fresh(t, open)
		u := user("wang", store.RoleReviewer)
		if err := s.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetUser(t.Context(), "wang")
		if err != nil || !same(got, u) {
			t.Fatalf("GetUser = %+v, %v; want %+v", got, err, u)
		}
	})
	t.Run("create of a taken name is ErrExists and keeps the first", func(t *testing.T) {
		s := fresh(t, open)
		u := user("wang", store.RoleViewer)
		if err := s.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUser(t.Context(), user("wang", store.RoleAdmin)); !errors.Is(err, store.ErrExists) {
			t.Fatalf("second CreateUser = %v, want ErrExists", err)
		}
		if got, err := s.GetUser(t.Context(), "wang"); err != nil || got.Role != store.RoleViewer {
			t.Fatalf("GetUser = %+v, %v; want the first, a viewer", got, err)
		}
	})
	t.Run("get of an unknown name is ErrNotFound", func(t *testing.T) {
		s := fresh(t, open)
		if _, err := s.GetUser(t.Context(), "nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetUser = %v, want ErrNotFound", err)
		}
	})
	t.Run("list is ordered by name", func(t *testing.T) {
		s := fresh(t, open)
		if got, err := s.ListUsers(t.Context()); err != nil || len(got) != 0 {
			t.Fatalf("ListUsers on an empty store = %v, %v; want none", got, err)
		}
		for _, n := range []string{"zhao", "admin", "li", "wang"} {
			if err := s.CreateUser(t.Context(), user(n, store.RoleOperator)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.ListUsers(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, u := range got {
			names = append(names, u.Name)
			if !same(u, user(u.Name, store.RoleOperator)) {
				t.Errorf("listed %+v", u)
			}
		}
		if want := []string{"admin", "li", "wang", "zhao"}; !slices.Equal(names, want) {
			t.Fatalf("ListUsers names = %v, want %v", names, want)
		}
	})
	t.Run("a disabled user is stored as disabled", func(t *testing.T) {
		s := fresh(t, open)
		u := user("wang", store.RoleViewer)
		u.Disabled = true
		if err := s.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetUser(t.Context(), "wang"); err != nil || !same(got, u) {
			t.Fatalf("GetUser = %+v, %v; want %+v", got, err, u)
		}
	})
	testUpdateUser(t, open, user, same)
}

// testUpdateUser checks UpdateUser and the sessions it ends.
func testUpdateUser(t *testing.T, open func(t *testing.T) store.Store, user func(string, store.Role) store.User, same func(a, b store.User) bool) {
	hash := func(s string) []byte { return []byte(fmt.Sprintf("%-32s", "sha256("+s+")")) }
	// setup stores wang (operator) and li with a session each.
	setup := func(t *testing.T) store.Store {
		s := fresh(t, open)
		for _, n := range []string{"wang", "li"} {
			if err := s.CreateUser(t.Context(), user(n, store.RoleOperator)); err != nil {
				t.Fatal(err)
			}
			if err := s.PutSession(t.Context(), store.Session{TokenHash: hash(n), User: n, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	hasSession := func(t *testing.T, s store.Store, n string) bool {
		t.Helper()
		_, err := s.GetSession(t.Context(), hash(n))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	changes := []struct {
		name string
		fn   func(*store.User)
	}{
		{"role", func(u *store.User) { u.Role = store.RoleViewer }},
		{"password", func(u *store.User) { u.PasswordHash = []byte("$2a$10$another-hash") }},
		{"disabled", func(u *store.User) { u.Disabled = true }},
	}
	for _, c := range changes {
		t.Run("a change of "+c.name+" is stored and ends only that user's sessions", func(t *testing.T) {
			s := setup(t)
			want := user("wang", store.RoleOperator)
			c.fn(&want)
			got, err := s.UpdateUser(t.Context(), "wang", func(u *store.User) error {
				c.fn(u)
				u.Name, u.CreatedAt = "renamed", t0.Add(time.Hour) // not changeable
				return nil
			})
			if err != nil || !same(got, want) {
				t.Fatalf("UpdateUser = %+v, %v; want %+v", got, err, want)
			}
			if got, err := s.GetUser(t.Context(), "wang"); err != nil || !same(got, want) {
				t.Fatalf("GetUser after the update = %+v, %v; want %+v", got, err, want)
			}
			if _, err := s.GetUser(t.Context(), "renamed"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the update renamed the user: GetUser(renamed) = %v", err)
			}
			if hasSession(t, s, "wang") {
				t.Error("wang's session outlived the change")
			}
			if !hasSession(t, s, "li") {
				t.Error("li's session ended with wang's change")
			}
		})
	}
	t.Run("an update that changes nothing keeps the sessions", func(t *testing.T) {
		s := setup(t)
		if _, err := s.UpdateUser(t.Context(), "wang", func(*store.User) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if !hasSession(t, s, "wang") {
			t.Error("a no-op update ended the session")
		}
	})
	t.Run("fn's error writes nothing", func(t *testing.T) {
		s := setup(t)
		boom := errors.New("refused")
		_, err := s.UpdateUser(t.Context(), "wang", func(u *store.User) error {
			u.Role, u.Disabled = store.RoleAdmin, true
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("UpdateUser = %v, want fn's error", err)
		}
		if got, err := s.GetUser(t.Context(), "wang"); err != nil || !same(got, user("wang", store.RoleOperator)) {
			t.Fatalf("GetUser after a refused update = %+v, %v", got, err)
		}
		if !hasSession(t, s, "wang") {
			t.Error("a refused update ended the session")
		}
	})
	t.Run("update of an unknown name is ErrNotFound", func(t *testing.T) {
		s := setup(t)
		called := false
		if _, err := s.UpdateUser(t.Context(), "nobody", func(*store.User) error { called = true; return nil }); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UpdateUser = %v, want ErrNotFound", err)
		}
		if called {
			t.Error("fn was called for an unknown user")
		}
	})
}

func testSessions(t *testing.T, open func(t *testing.T) store.Store) {
	hash := func(s string) []byte { return []byte(fmt.Sprintf("%-32s", "sha256("+s+")")) }
	sess := func(token, user string) store.Session {
		return store.Session{TokenHash: hash(token), User: user, CreatedAt: t0, ExpiresAt: t0.Add(12 * time.Hour)}
	}
	same := func(a, b store.Session) bool {
		return bytes.Equal(a.TokenHash, b.TokenHash) && a.User == b.User && a.CreatedAt.Equal(b.CreatedAt) && a.ExpiresAt.Equal(b.ExpiresAt)
	}
	get := func(t *testing.T, s store.Store, token string) (store.Session, error) {
		t.Helper()
		return s.GetSession(t.Context(), hash(token))
	}
	t.Run("put, get, delete", func(t *testing.T) {
		s := fresh(t, open)
		if err := s.CreateUser(t.Context(), store.User{Name: "wang", Role: store.RoleAdmin, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		a, b := sess("token-a", "wang"), sess("token-b", "wang")
		for _, x := range []store.Session{a, b} {
			if err := s.PutSession(t.Context(), x); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := get(t, s, "token-a"); err != nil || !same(got, a) {
			t.Fatalf("GetSession(a) = %+v, %v; want %+v", got, err, a)
		}
		if err := s.DeleteSession(t.Context(), a.TokenHash); err != nil {
			t.Fatal(err)
		}
		if _, err := get(t, s, "token-a"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetSession after delete = %v, want ErrNotFound", err)
		}
		if got, err := get(t, s, "token-b"); err != nil || !same(got, b) {
			t.Fatalf("deleting a removed b too: GetSession(b) = %+v, %v", got, err)
		}
	})
	t.Run("get of an unknown token is ErrNotFound", func(t *testing.T) {
		s := fresh(t, open)
		if _, err := get(t, s, "never-issued"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetSession = %v, want ErrNotFound", err)
		}
	})
	t.Run("deleting an unknown token is not an error", func(t *testing.T) {
		s := fresh(t, open)
		if err := s.DeleteSession(t.Context(), hash("never-issued")); err != nil {
			t.Fatalf("DeleteSession = %v, want nil", err)
		}
	})
}
