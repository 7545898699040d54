package broadcast

import (
	"slices"
	"testing"
	"time"
)

// An item for some speakers of its zones plays on those alone, and holds
// the zones meanwhile: what comes for them waits its turn.
func TestItemForOneSpeakerOfItsZone(t *testing.T) {
	r := newRig(t, map[string][]string{"square": {"s1", "s2"}})
	ctx := t.Context()
	if err := r.a.Submit(ctx, Item{ID: "tone", Priority: Paging, Zones: []string{"square"}, Speakers: []string{"s2"}, Clip: clip(300 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if err := r.a.Submit(ctx, Item{ID: "news", Priority: Scheduled, Zones: []string{"square"}, Clip: clip(200 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	p := r.next(t)
	if p.ItemID != "tone" || p.Result != ResultPlayed || !slices.Equal(p.Speakers, []string{"s2"}) {
		t.Fatalf("the tone's playback %+v, want played on s2 alone", p)
	}
	if n := r.sims["s1"].Stats().Spurts; n != 0 {
		t.Errorf("s1 heard %d spurts during the tone for s2", n)
	}
	if p := r.next(t); p.ItemID != "news" || p.Result != ResultPlayed || len(p.Speakers) != 2 {
		t.Fatalf("the item after the tone: %+v", p)
	}
}

// An item that could not start by its StartBy is dropped as skipped when
// its zones come free, never played late.
func TestStartByDropsAnItemThatWaitedTooLong(t *testing.T) {
	r := newRig(t, map[string][]string{"square": {"s1"}})
	ctx := t.Context()
	if err := r.a.Submit(ctx, Item{ID: "flood", Priority: Emergency, Zones: []string{"square"}, Clip: clip(600 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if err := r.a.Submit(ctx, Item{ID: "tone", Priority: Paging, Zones: []string{"square"}, Clip: clip(200 * time.Millisecond),
		StartBy: time.Now().Add(100 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if p := r.next(t); p.ItemID != "flood" || p.Result != ResultPlayed {
		t.Fatalf("first %+v, want the emergency played", p)
	}
	p := r.next(t)
	if p.ItemID != "tone" || p.Result != ResultSkipped || p.Errors["item"] == "" || len(p.Speakers) != 0 {
		t.Fatalf("the late item %+v, want it skipped unplayed", p)
	}
	if n := r.sims["s1"].Stats().Spurts; n != 1 {
		t.Errorf("the speaker heard %d spurts, want the emergency's alone", n)
	}
}
