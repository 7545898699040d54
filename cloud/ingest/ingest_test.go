package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/protocol"
)

const box = "village-1"

var received = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

// batch builds a batch payload of box with the given floor and seqs.
func batch(boxID string, floor uint64, seqs ...uint64) string {
	var evs []string
	for _, s := range seqs {
		evs = append(evs, fmt.Sprintf(`{"seq":%d,"time":"2026-11-01T08:00:%02dZ","type":"play.done","prio":2,"data":{"n":%d}}`, s, s%60, s))
	}
	return fmt.Sprintf(`{"v":1,"box_id":%q,"floor":%d,"events":[%s]}`, boxID, floor, strings.Join(evs, ","))
}

// cases are the batches a box might send, good and bad; they seed FuzzHandle
// too. reason is the protocol.Reason* a bad one is refused with.
var cases = []struct {
	name    string
	payload string
	reason  string
}{
	{"one event", batch(box, 1, 1), ""},
	{"three events", batch(box, 1, 1, 2, 3), ""},
	{"gap", batch(box, 1, 1, 2, 4), ""},
	{"floor only", batch(box, 7), ""},
	{"floor with events", batch(box, 5, 5, 6), ""},
	{"not json", `events please`, protocol.ReasonMalformed},
	{"truncated", batch(box, 1, 1)[:40], protocol.ReasonMalformed},
	{"unknown field", `{"v":1,"box_id":"village-1","floor":1,"events":[],"more":1}`, protocol.ReasonMalformed},
	{"trailing data", batch(box, 1, 1) + `{}`, protocol.ReasonMalformed},
	{"string seq", `{"v":1,"box_id":"village-1","floor":1,"events":[{"seq":"1","time":"2026-11-01T08:00:00Z","type":"x","prio":1}]}`, protocol.ReasonMalformed},
	{"missing version", `{"box_id":"village-1","floor":1,"events":[]}`, protocol.ReasonVersion},
	{"newer version", `{"v":2,"box_id":"village-1","floor":1,"events":[]}`, protocol.ReasonVersion},
	{"another box's batch", batch("village-2", 1, 1), protocol.ReasonWrongBox},
	{"floor 0", batch(box, 0, 1), protocol.ReasonInvalid},
	{"seqs not increasing", batch(box, 1, 2, 1), protocol.ReasonInvalid},
	{"seq repeated", batch(box, 1, 1, 1), protocol.ReasonInvalid},
	{"seq below floor", batch(box, 3, 2, 3), protocol.ReasonInvalid},
	{"empty event type", `{"v":1,"box_id":"village-1","floor":1,"events":[{"seq":1,"time":"2026-11-01T08:00:00Z","type":"","prio":1}]}`, protocol.ReasonInvalid},
	{"priority out of range", `{"v":1,"box_id":"village-1","floor":1,"events":[{"seq":1,"time":"2026-11-01T08:00:00Z","type":"x","prio":9}]}`, protocol.ReasonInvalid},
	{"oversized", `{"v":1,"box_id":"village-1","floor":1,"events":[],"pad":"` + strings.Repeat("x", protocol.KindEvents.MaxPayload()) + `"}`, protocol.ReasonTooLarge},
}

type fixture struct {
	store *boltstore.Store
	in    *Ingester
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.CreateBox(t.Context(), store.Box{ID: box, CreatedAt: received}); err != nil {
		t.Fatal(err)
	}
	in, err := New(Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Store: s, Now: func() time.Time { return received }})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{store: s, in: in}
}

// state is what a batch can change: how many events and the watermark.
func (f fixture) state(t testing.TB) (count, watermark uint64) {
	t.Helper()
	n, err := f.store.CountEvents(t.Context(), box)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.store.GetBox(t.Context(), box)
	if err != nil {
		t.Fatal(err)
	}
	return n, b.Watermark
}

// handle sends payload and returns the acked seq, failing on any error.
func (f fixture) handle(t *testing.T, payload string) (seq uint64, ack []byte) {
	t.Helper()
	ack, err := f.in.Handle(t.Context(), box, []byte(payload))
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	a, err := protocol.DecodeEventsAck(box, ack)
	if err != nil {
		t.Fatalf("the ack does not decode: %v", err)
	}
	return a.Seq, ack
}

func TestBadBatchesAreRejectedAndStoreNothing(t *testing.T) {
	for _, c := range cases {
		if c.reason == "" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			ack, err := f.in.Handle(t.Context(), box, []byte(c.payload))
			re, ok := errors.AsType[*protocol.RejectError](err)
			if !ok || re.Reason != c.reason {
				t.Fatalf("Handle = %v, want a *protocol.RejectError %q", err, c.reason)
			}
			if ack != nil {
				t.Fatalf("an ack for a rejected batch: %s", ack)
			}
			if n, wm := f.state(t); n != 0 || wm != 0 {
				t.Fatalf("after a rejected batch: %d events, watermark %d; want nothing", n, wm)
			}
		})
	}
}

func TestGoodBatchesAreAckedAtTheWatermark(t *testing.T) {
	want := map[string]uint64{"one event": 1, "three events": 3, "gap": 2, "floor only": 6, "floor with events": 6}
	for _, c := range cases {
		if c.reason != "" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			seq, _ := f.handle(t, c.payload)
			if _, wm := f.state(t); seq != want[c.name] || wm != seq {
				t.Fatalf("acked %d, store watermark %d; want both %d", seq, wm, want[c.name])
			}
		})
	}
}

func TestSameBatchTwiceIsStoredOnceAndAckedTheSame(t *testing.T) {
	f := newFixture(t)
	p := batch(box, 1, 1, 2, 3)
	seq1, ack1 := f.handle(t, p)
	seq2, ack2 := f.handle(t, p)
	if seq1 != 3 || seq2 != 3 || !bytes.Equal(ack1, ack2) {
		t.Fatalf("acks %s then %s; want the same, seq 3", ack1, ack2)
	}
	if n, _ := f.state(t); n != 3 {
		t.Fatalf("%d events stored, want 3", n)
	}
}

func TestOutOfOrderBatches(t *testing.T) {
	f := newFixture(t)
	steps := []struct {
		payload string
		ack     uint64
		wm      uint64
	}{
		{batch(box, 1, 4, 5), 0, 0}, // 1-3 are still on their way
		{batch(box, 1, 1, 2), 2, 2},
		{batch(box, 1, 3), 3, 5}, // fills the gap, the watermark walks over 4 and 5; the ack stays within the batch
		{batch(box, 1, 1, 2, 3, 4, 5), 5, 5},
	}
	for i, s := range steps {
		if seq, _ := f.handle(t, s.payload); seq != s.ack {
			t.Fatalf("step %d: acked %d, want %d", i, seq, s.ack)
		}
		if _, wm := f.state(t); wm != s.wm {
			t.Fatalf("step %d: watermark %d, want %d", i, wm, s.wm)
		}
	}
	if n, _ := f.state(t); n != 5 {
		t.Fatalf("%d events stored, want 5", n)
	}
}

// The floor is how a box that dropped events under its disk cap still gets
// an ack past them.
func TestFloorSettlesDroppedEvents(t *testing.T) {
	f := newFixture(t)
	if seq, _ := f.handle(t, batch(box, 1, 1, 2)); seq != 2 {
		t.Fatalf("acked %d, want 2", seq)
	}
	// 3-9 were dropped; the box says so with floor 10.
	if seq, _ := f.handle(t, batch(box, 10, 10, 11)); seq != 11 {
		t.Fatalf("acked %d, want 11", seq)
	}
	// A late batch with an old floor does not move the watermark back;
	// its ack vouches for that batch alone.
	if seq, _ := f.handle(t, batch(box, 1, 2)); seq != 2 {
		t.Fatalf("acked %d, want 2", seq)
	}
	if _, wm := f.state(t); wm != 11 {
		t.Fatalf("watermark %d, want 11", wm)
	}
	if n, _ := f.state(t); n != 4 {
		t.Fatalf("%d events stored, want 4", n)
	}
}

func TestStoredEventsKeepWhatTheBoxSent(t *testing.T) {
	f := newFixture(t)
	f.handle(t, `{"v":1,"box_id":"village-1","floor":1,"events":[{"seq":1,"time":"2026-11-01T08:00:00.5+08:00","type":"desired.applied","prio":2,"data":{"rev":7}}]}`)
	got, err := f.store.ListEvents(t.Context(), box, 0, 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("ListEvents = %+v, %v", got, err)
	}
	e := got[0]
	wantTime := time.Date(2026, 11, 1, 0, 0, 0, 5e8, time.UTC)
	if e.BoxID != box || e.Seq != 1 || e.Type != protocol.EventDesiredApplied || e.Priority != int(protocol.PriorityNotice) ||
		string(e.Data) != `{"rev":7}` || !e.Time.Equal(wantTime) || !e.ReceivedAt.Equal(received) {
		t.Fatalf("stored %+v", e)
	}
}

func TestUnknownBoxIsNotFound(t *testing.T) {
	f := newFixture(t)
	ack, err := f.in.Handle(t.Context(), "village-9", []byte(batch("village-9", 1, 1)))
	if !errors.Is(err, store.ErrNotFound) || ack != nil {
		t.Fatalf("Handle = %s, %v; want no ack and store.ErrNotFound", ack, err)
	}
	if _, ok := errors.AsType[*protocol.RejectError](err); ok {
		t.Fatalf("an unknown box reported as a bad payload: %v", err)
	}
}

// No ack without a commit: when the store cannot write, the box hears
// nothing and keeps its events.
func TestNoAckWhenTheStoreFails(t *testing.T) {
	f := newFixture(t)
	if err := f.store.Close(); err != nil {
		t.Fatal(err)
	}
	ack, err := f.in.Handle(t.Context(), box, []byte(batch(box, 1, 1)))
	if err == nil || ack != nil {
		t.Fatalf("Handle on a closed store = %s, %v; want an error and no ack", ack, err)
	}
}

func TestNewRefusesMissingDeps(t *testing.T) {
	s := newFixture(t).store
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := func() time.Time { return received }
	for name, d := range map[string]Deps{
		"no logger": {Store: s, Now: now},
		"no store":  {Logger: log, Now: now},
		"no clock":  {Logger: log, Store: s},
	} {
		if _, err := New(d); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

// Whoever watches the events (alerts, metrics) hears of a batch once it is
// stored, with where its events went, and of nothing refused.
func TestStoredIsToldOfWhatWasStored(t *testing.T) {
	f := newFixture(t)
	type told struct {
		box  string
		got  store.Appended
		seqs []uint64
		inc  uint32
	}
	var heard []told
	in, err := New(Deps{Logger: slog.New(slog.DiscardHandler), Store: f.store, Now: func() time.Time { return received },
		Stored: func(b string, got store.Appended, evs []store.Event) {
			tl := told{box: b, got: got}
			for _, e := range evs {
				tl.seqs = append(tl.seqs, e.Seq)
				tl.inc = e.Incarnation
				if n, _ := f.store.CountEvents(t.Context(), box); n < uint64(len(evs)) {
					t.Errorf("told before the events were stored")
				}
			}
			heard = append(heard, tl)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Handle(t.Context(), box, []byte(batch(box, 1, 1, 2))); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Handle(t.Context(), box, []byte(batch(box, 1, 1, 1))); err == nil {
		t.Fatal("a bad batch was taken")
	}
	if len(heard) != 1 || heard[0].box != box || fmt.Sprint(heard[0].seqs) != "[1 2]" || heard[0].inc != 1 || heard[0].got.Ack != 2 {
		t.Errorf("told %+v", heard)
	}
}
