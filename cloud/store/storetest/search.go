package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
)

// logEvent is one event of the search fixture, named like "b3" (box
// village-b, seq 3) so an expected order reads at a glance.
type logEvent struct {
	name string
	typ  string
	at   string // "15:04" on t0's day
}

// searchFixture is three boxes' histories. village-b's clock jumped back
// at b3, so its seq order is not its time order; c1 has a3's time.
var searchFixture = map[string][]logEvent{
	"village-a": {{"a1", "box.health", "10:00"}, {"a2", "broadcast.played", "10:02"}, {"a3", "camera.viewed", "10:04"}},
	"village-b": {{"b1", "box.health", "10:01"}, {"b2", "camera.viewed", "10:03"}, {"b3", "box.health", "09:00"}, {"b4", "broadcast.played", "10:05"}},
	"village-c": {{"c1", "camera.viewed", "10:04"}},
}

// at is hh:mm on t0's day.
func at(hhmm string) time.Time {
	d, err := time.Parse("15:04", hhmm)
	if err != nil {
		panic(err)
	}
	return time.Date(t0.Year(), t0.Month(), t0.Day(), d.Hour(), d.Minute(), 0, 0, time.UTC)
}

func loadSearchFixture(t *testing.T, s store.Store) map[string]store.Event {
	t.Helper()
	byName := map[string]store.Event{}
	for box, les := range searchFixture {
		mustCreateBox(t, s, newBox(box))
		var evs []store.Event
		for i, le := range les {
			e := store.Event{
				BoxID: box, Incarnation: 1, Seq: uint64(i + 1), Time: at(le.at), Type: le.typ, Priority: i % 3,
				Data: fmt.Appendf(nil, `{"name":%q}`, le.name), ReceivedAt: at("12:00"),
			}
			evs = append(evs, e)
			byName[le.name] = e
		}
		if _, err := s.AppendEvents(t.Context(), box, store.Batch{Floor: 1, Events: evs}); err != nil {
			t.Fatal(err)
		}
	}
	mustCreateBox(t, s, newBox("village-quiet")) // no events at all
	return byName
}

// names maps found events back to the fixture's names.
func names(t *testing.T, evs []store.Event, byName map[string]store.Event) []string {
	t.Helper()
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		found := ""
		for n, want := range byName {
			if want.BoxID == e.BoxID && want.Position() == e.Position() {
				found = n
				if g, w := normEvent(e), normEvent(want); !reflect.DeepEqual(g, w) {
					t.Errorf("%s:\n got %+v\nwant %+v", n, g, w)
				}
			}
		}
		if found == "" {
			found = fmt.Sprintf("%s#%d", e.BoxID, e.Seq)
		}
		out = append(out, found)
	}
	return out
}

// searchAll pages through f's results until next is "", checking each
// page's size.
func searchAll(t *testing.T, s store.Store, f store.EventFilter) []store.Event {
	t.Helper()
	var all []store.Event
	for range 1000 {
		page, next, err := s.SearchEvents(t.Context(), f)
		if err != nil {
			t.Fatalf("SearchEvents(%+v): %v", f, err)
		}
		if len(page) > f.Limit {
			t.Fatalf("a page of %d events, limit %d", len(page), f.Limit)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		f.Cursor = next
	}
	t.Fatalf("SearchEvents(%+v) never ended", f)
	return nil
}

func testSearchEvents(t *testing.T, open func(t *testing.T) store.Store) {
	s := fresh(t, open)
	byName := loadSearchFixture(t, s)
	cases := []struct {
		name string
		f    store.EventFilter
		want []string
	}{
		// After b4, village-b's next is b3 of 09:00: the box's own order
		// holds, so b2 (10:03) comes after it.
		{"everything, newest first", store.EventFilter{}, []string{"b4", "a3", "c1", "a2", "a1", "b3", "b2", "b1"}},
		{"one box in seq order", store.EventFilter{BoxID: "village-b"}, []string{"b4", "b3", "b2", "b1"}},
		{"one type", store.EventFilter{Type: "box.health"}, []string{"a1", "b3", "b1"}},
		{"equal times by box id", store.EventFilter{Type: "camera.viewed"}, []string{"a3", "c1", "b2"}},
		{"a time range holds from, not to", store.EventFilter{From: at("10:01"), To: at("10:04")}, []string{"b2", "a2", "b1"}},
		{"from only", store.EventFilter{From: at("10:04")}, []string{"b4", "a3", "c1"}},
		{"to only", store.EventFilter{To: at("10:00")}, []string{"b3"}},
		{"box, type and range", store.EventFilter{BoxID: "village-b", Type: "camera.viewed", From: at("10:00"), To: at("10:05")}, []string{"b2"}},
		{"an empty range", store.EventFilter{From: at("10:02"), To: at("10:02")}, nil},
		{"a type nobody sent", store.EventFilter{Type: "no.such"}, nil},
		{"a box without events", store.EventFilter{BoxID: "village-quiet"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := c.f
			f.Limit = 100
			got, next, err := s.SearchEvents(t.Context(), f)
			if err != nil {
				t.Fatal(err)
			}
			if g := names(t, got, byName); !slices.Equal(g, c.want) {
				t.Errorf("SearchEvents = %v, want %v", g, c.want)
			}
			if next != "" {
				t.Errorf("next = %q after the last match, want \"\"", next)
			}
			// Every page size gives the same events, each once.
			for limit := 1; limit <= len(c.want); limit++ {
				f.Limit = limit
				if g := names(t, searchAll(t, s, f), byName); !slices.Equal(g, c.want) {
					t.Errorf("paged by %d: %v, want %v", limit, g, c.want)
				}
			}
		})
	}

	t.Run("a cursor does not see events stored after its first page", func(t *testing.T) {
		s := fresh(t, open)
		byName := loadSearchFixture(t, s)
		f := store.EventFilter{BoxID: "village-b", Limit: 2}
		first, next, err := s.SearchEvents(t.Context(), f)
		if err != nil || next == "" {
			t.Fatalf("first page: %v, next %q", err, next)
		}
		late := store.Event{BoxID: "village-b", Seq: 5, Time: at("11:00"), Type: "box.health", ReceivedAt: at("12:00")}
		if _, err := s.AppendEvents(t.Context(), "village-b", store.Batch{Floor: 1, Events: []store.Event{late}}); err != nil {
			t.Fatal(err)
		}
		f.Cursor = next
		rest := searchAll(t, s, f)
		if g := names(t, append(first, rest...), byName); !slices.Equal(g, []string{"b4", "b3", "b2", "b1"}) {
			t.Errorf("pages = %v, want b4 b3 b2 b1", g)
		}
	})

	t.Run("a rare type in a long history is found by paging on", func(t *testing.T) {
		s := fresh(t, open)
		mustCreateBox(t, s, newBox("village-long"))
		const n = 25_000
		evs := make([]store.Event, 0, n)
		for seq := uint64(1); seq <= n; seq++ {
			e := store.Event{BoxID: "village-long", Seq: seq, Time: t0.Add(time.Duration(seq) * time.Second), Type: "box.health", ReceivedAt: t0}
			if seq == 1 || seq == n {
				e.Type = "camera.viewed"
			}
			evs = append(evs, e)
		}
		if _, err := s.AppendEvents(t.Context(), "village-long", store.Batch{Floor: 1, Events: evs}); err != nil {
			t.Fatal(err)
		}
		got := searchAll(t, s, store.EventFilter{Type: "camera.viewed", Limit: 10})
		if g := seqsOf(got); !slices.Equal(g, []uint64{n, 1}) {
			t.Errorf("found seqs %v, want [%d 1]", g, n)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		_, next, err := s.SearchEvents(t.Context(), store.EventFilter{BoxID: "village-b", Limit: 1})
		if err != nil || next == "" {
			t.Fatalf("a first page of village-b: %v, next %q", err, next)
		}
		for _, c := range []struct {
			name string
			f    store.EventFilter
			want error
		}{
			{"an unknown box", store.EventFilter{BoxID: "no-such-box", Limit: 10}, store.ErrNotFound},
			{"limit 0", store.EventFilter{}, store.ErrBadFilter},
			{"from after to", store.EventFilter{From: at("11:00"), To: at("10:00"), Limit: 10}, store.ErrBadFilter},
			{"a malformed cursor", store.EventFilter{Cursor: "not a cursor!", Limit: 10}, store.ErrBadFilter},
			{"another box's cursor", store.EventFilter{BoxID: "village-a", Cursor: next, Limit: 10}, store.ErrBadFilter},
		} {
			t.Run(c.name, func(t *testing.T) {
				if _, _, err := s.SearchEvents(t.Context(), c.f); !errors.Is(err, c.want) {
					t.Errorf("SearchEvents(%+v) = %v, want %v", c.f, err, c.want)
				}
			})
		}
	})
}
