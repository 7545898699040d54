package storetest

import (
	"reflect"
	"slices"
	"testing"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// testOverviews: the whole fleet in one call reads as each box's own
// reads would: its record, its plan (or the empty one) and its latest
// events of the asked types, within the window around its watermark.
func testOverviews(t *testing.T, open func(t *testing.T) store.Store) {
	s := fresh(t, open)
	for _, id := range []string{"village-3", "village-1", "village-2"} {
		mustCreateBox(t, s, newBox(id))
	}
	want := samplePlan()
	if err := s.UpdatePlan(t.Context(), "village-1", func(p *store.Plan) error { p.Broadcast = want; return nil }); err != nil {
		t.Fatal(err)
	}
	// village-1: seqs 1-30, every third a health report; window 5 reads
	// from seq 26 (watermark 30 less 5) on, at most 10 events.
	var evs []store.Event
	for n := uint64(1); n <= 30; n++ {
		e := ev(n)
		if n%3 == 0 {
			e.Type = "box.health"
		}
		evs = append(evs, e)
	}
	mustAppend(t, s, "village-1", store.Batch{Events: evs})
	// village-2: three events, below any window.
	mustAppend(t, s, "village-2", store.Batch{Events: []store.Event{ev(1), ev(2), ev(3)}})

	got, err := s.ListOverviews(t.Context(), 5, []string{"box.health", "test.e2"})
	if err != nil {
		t.Fatalf("ListOverviews: %v", err)
	}
	var ids []string
	for _, o := range got {
		ids = append(ids, o.Box.ID)
	}
	if !slices.Equal(ids, []string{"village-1", "village-2", "village-3"}) {
		t.Fatalf("ListOverviews boxes %v, want every box by id", ids)
	}
	for _, o := range got {
		wantBox(t, o.Box, mustGetBox(t, s, o.Box.ID))
	}
	// The plan's devices, by id and name.
	var wantSpeakers []protocol.Speaker
	for _, s := range want.Speakers {
		wantSpeakers = append(wantSpeakers, protocol.Speaker{ID: s.ID, Name: s.Name})
	}
	if !reflect.DeepEqual(got[0].Plan.Broadcast.Speakers, wantSpeakers) || got[0].Plan.BoxID != "village-1" || len(wantSpeakers) == 0 {
		t.Errorf("village-1's speakers %+v, want %+v", got[0].Plan.Broadcast.Speakers, wantSpeakers)
	}
	if got[1].Plan.BoxID != "village-2" || !reflect.DeepEqual(got[1].Plan.Broadcast, store.Plan{}.Broadcast) {
		t.Errorf("village-2's plan %+v, want the empty plan of village-2", got[1].Plan)
	}
	wantSeqs := func(o store.Overview, seqs ...uint64) {
		t.Helper()
		var got []uint64
		for _, e := range o.Recent {
			got = append(got, e.Seq)
			if e.BoxID != o.Box.ID {
				t.Errorf("%s: event %d of box %q", o.Box.ID, e.Seq, e.BoxID)
			}
		}
		if !slices.Equal(got, seqs) {
			t.Errorf("%s: recent seqs %v, want %v", o.Box.ID, got, seqs)
		}
	}
	wantSeqs(got[0], 27, 30)
	wantSeqs(got[1], 2)
	wantSeqs(got[2])
	if e := got[0].Recent[1]; string(e.Data) != `{"n":30}` || e.Type != "box.health" || !e.Time.Equal(ev(30).Time) {
		t.Errorf("recent event %+v, want the stored event whole", e)
	}

	all, err := s.ListOverviews(t.Context(), 2, nil)
	if err != nil {
		t.Fatalf("ListOverviews of every type: %v", err)
	}
	// Watermark 30, window 2: seqs 29 and 30, every type.
	wantSeqs(all[0], 29, 30)
	wantSeqs(all[1], 2, 3)
	if _, err := s.ListOverviews(t.Context(), 0, nil); err == nil {
		t.Error("ListOverviews with window 0: nil error, want one")
	}

}
