package plan

import (
	"errors"
	"slices"
	"testing"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// TestUpdateManyTellsEachBox: a change to several boxes at once is saved
// and signed for each box it is valid for, and told box by box in order;
// a box it is not valid for, or an unknown one, keeps its plan and
// desired state and is told why.
func TestUpdateManyTellsEachBox(t *testing.T) {
	p, pub, key := planner(t, false)
	// village-1 has a horn in zone "all".
	if _, _, err := p.Update(t.Context(), "village-1", "李干事", func(b *protocol.Broadcast) error {
		b.Speakers = []protocol.Speaker{{ID: "east", Driver: protocol.DriverRTP, Addr: "192.168.1.20:5004"}}
		b.Zones = []protocol.Zone{{ID: "all", Speakers: []string{"east"}}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before, err := p.Get(t.Context(), "village-1")
	if err != nil {
		t.Fatal(err)
	}
	published := len(pub.payloads)
	type told struct {
		box string
		rev uint64
		err error
	}
	var got []told
	err = p.UpdateMany(t.Context(), []string{"village-1", "nobody"}, "王主任", func(b *protocol.Broadcast) error {
		b.Quiet = nil
		b.Chime = ""
		return nil
	}, func(box string, rev uint64, err error) { got = append(got, told{box, rev, err}) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].box != "village-1" || got[0].err != nil || got[0].rev == 0 ||
		got[1].box != "nobody" || !errors.Is(got[1].err, store.ErrNotFound) {
		t.Fatalf("told %+v, want village-1 done with a rev, then nobody not found", got)
	}
	if len(pub.payloads) != published+1 {
		t.Errorf("%d desired states published, want 1", len(pub.payloads)-published)
	}
	if s := pub.lastSpec(t, key); s.Broadcast == nil || !slices.ContainsFunc(s.Broadcast.Zones, func(z protocol.Zone) bool { return z.ID == "all" }) {
		t.Errorf("village-1's new desired state lost its plan: %+v", s.Broadcast)
	}
	after, err := p.Get(t.Context(), "village-1")
	if err != nil || after.UpdatedBy != "王主任" || after.UpdatedAt.Before(before.UpdatedAt) {
		t.Errorf("village-1's plan after: %+v, %v", after, err)
	}

	// A change not valid for the box (a zone it has not) changes nothing.
	published = len(pub.payloads)
	got = nil
	err = p.UpdateMany(t.Context(), []string{"village-1"}, "王主任", func(b *protocol.Broadcast) error {
		b.Schedules = append(b.Schedules, protocol.Schedule{ID: "x", Media: []string{"00"}, Zones: []string{"none"}})
		return nil
	}, func(box string, rev uint64, err error) { got = append(got, told{box, rev, err}) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !errors.Is(got[0].err, ErrInvalid) || got[0].rev != 0 || len(pub.payloads) != published {
		t.Errorf("invalid change told %+v, %d published; want ErrInvalid and nothing published", got, len(pub.payloads)-published)
	}
	if pl, _ := p.Get(t.Context(), "village-1"); len(pl.Broadcast.Schedules) != 0 {
		t.Errorf("an invalid change was saved: %+v", pl.Broadcast.Schedules)
	}
}
