package storetest

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
	"github.com/dalaba/dalaba/protocol/schedule"
)

// samplePlan uses every kind of field a plan has, so a field the store
// drops shows.
func samplePlan() protocol.Broadcast {
	sha := strings.Repeat("ab", 32)
	return protocol.Broadcast{
		Quiet: []schedule.Quiet{{From: "22:00", To: "06:30"}},
		TZ:    "Asia/Shanghai",
		Chime: protocol.ChimeOff,
		Speakers: []protocol.Speaker{
			{ID: "east", Name: "东头喇叭", Driver: protocol.DriverRTP, Addr: "192.168.1.20:5004", Codec: "PCMA", Volume: 80},
			{ID: "line", Driver: protocol.DriverSoundcard},
		},
		Zones: []protocol.Zone{{ID: "square", Name: "广场", Speakers: []string{"east", "line"}, Volume: 90}},
		Schedules: []protocol.Schedule{{
			ID: "morning", Name: "早间新闻", Media: []string{sha}, Zones: []string{"square"},
			Rule:     schedule.Rule{At: []string{"07:30"}, Weekdays: []int{1, 2, 3, 4, 5}, Start: "2026-11-01"},
			Priority: protocol.PlayScheduled, OnPreempt: protocol.PreemptSkip, NoChime: true,
		}},
	}
}

func testPlans(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("get before any update is ErrNotFound", func(t *testing.T) {
		s := fresh(t, open)
		mustCreateBox(t, s, newBox("village-1"))
		if _, err := s.GetPlan(t.Context(), "village-1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetPlan = %v, want ErrNotFound", err)
		}
	})
	t.Run("update starts from the empty plan and stores every field", func(t *testing.T) {
		s := fresh(t, open)
		mustCreateBox(t, s, newBox("village-1"))
		want := samplePlan()
		err := s.UpdatePlan(t.Context(), "village-1", func(p *store.Plan) error {
			if p.BoxID != "village-1" || !reflect.DeepEqual(p.Broadcast, protocol.Broadcast{}) {
				t.Errorf("first update sees %+v, want the empty plan of village-1", p)
			}
			p.Broadcast = want
			p.UpdatedAt, p.UpdatedBy = t0, "王主任"
			p.BoxID = "village-2" // ignored
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.GetPlan(t.Context(), "village-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.BoxID != "village-1" || !got.UpdatedAt.Equal(t0) || got.UpdatedBy != "王主任" || !reflect.DeepEqual(got.Broadcast, want) {
			t.Fatalf("GetPlan =\n %+v\nwant the sample plan of village-1 by 王主任 at %s", got, t0)
		}
		if _, err := s.GetPlan(t.Context(), "village-2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a changed BoxID moved the plan: %v", err)
		}
	})
	t.Run("a second update sees the first", func(t *testing.T) {
		s := fresh(t, open)
		mustCreateBox(t, s, newBox("village-1"))
		for i := range 2 {
			err := s.UpdatePlan(t.Context(), "village-1", func(p *store.Plan) error {
				if len(p.Broadcast.Speakers) != i {
					t.Errorf("update %d sees %d speakers", i, len(p.Broadcast.Speakers))
				}
				p.Broadcast.Speakers = append(p.Broadcast.Speakers, protocol.Speaker{ID: "s" + string(rune('0'+i)), Driver: protocol.DriverSoundcard})
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("an error from fn writes nothing", func(t *testing.T) {
		s := fresh(t, open)
		mustCreateBox(t, s, newBox("village-1"))
		if err := s.UpdatePlan(t.Context(), "village-1", func(p *store.Plan) error { p.Broadcast = samplePlan(); return nil }); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("refused")
		err := s.UpdatePlan(t.Context(), "village-1", func(p *store.Plan) error {
			p.Broadcast.Speakers = nil
			p.UpdatedBy = "nobody"
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("UpdatePlan = %v, want fn's error", err)
		}
		got, err := s.GetPlan(t.Context(), "village-1")
		if err != nil || !reflect.DeepEqual(got.Broadcast, samplePlan()) || got.UpdatedBy != "" {
			t.Fatalf("a refused update changed the plan: %+v, %v", got, err)
		}
	})
	t.Run("an unknown box is ErrNotFound and fn is not called", func(t *testing.T) {
		s := fresh(t, open)
		called := false
		err := s.UpdatePlan(t.Context(), "nowhere", func(*store.Plan) error { called = true; return nil })
		if !errors.Is(err, store.ErrNotFound) || called {
			t.Fatalf("UpdatePlan = %v (fn called: %v), want ErrNotFound", err, called)
		}
	})
	t.Run("each box has its own plan", func(t *testing.T) {
		s := fresh(t, open)
		mustCreateBox(t, s, newBox("village-1"))
		mustCreateBox(t, s, newBox("village-2"))
		if err := s.UpdatePlan(t.Context(), "village-2", func(p *store.Plan) error { p.Broadcast.TZ = "UTC"; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetPlan(t.Context(), "village-1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("village-1 got village-2's plan: %v", err)
		}
	})
}

func clip(n int, at time.Time) store.MediaInfo {
	return store.MediaInfo{
		SHA256: strings.Repeat(string(rune('0'+n)), 64), Name: "通知" + string(rune('0'+n)) + ".mp3", Format: "mp3",
		Size: int64(1000 + n), DurationMS: int64(2000 + n), UploadedBy: "李干事", UploadedAt: at,
	}
}

func wantMedia(t *testing.T, got, want store.MediaInfo) {
	t.Helper()
	got.UploadedAt, want.UploadedAt = got.UploadedAt.UTC(), want.UploadedAt.UTC()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("media:\n got %+v\nwant %+v", got, want)
	}
}

func testMedia(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("put then get returns every field", func(t *testing.T) {
		s := fresh(t, open)
		m := clip(1, t0)
		if err := s.PutMedia(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetMedia(t.Context(), m.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		wantMedia(t, got, m)
	})
	t.Run("get of an unknown sha is ErrNotFound", func(t *testing.T) {
		s := fresh(t, open)
		if _, err := s.GetMedia(t.Context(), strings.Repeat("f", 64)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetMedia = %v, want ErrNotFound", err)
		}
	})
	t.Run("the same sha again keeps the first record", func(t *testing.T) {
		s := fresh(t, open)
		first := clip(1, t0)
		again := first
		again.Name, again.UploadedBy, again.UploadedAt = "again.mp3", "someone else", t0.Add(time.Hour)
		for _, m := range []store.MediaInfo{first, again} {
			if err := s.PutMedia(t.Context(), m); err != nil {
				t.Fatalf("PutMedia: %v", err)
			}
		}
		got, err := s.GetMedia(t.Context(), first.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		wantMedia(t, got, first)
		if all, err := s.ListMedia(t.Context()); err != nil || len(all) != 1 {
			t.Fatalf("ListMedia = %d clips, %v; want 1", len(all), err)
		}
	})
	t.Run("list is newest first, ties by sha", func(t *testing.T) {
		s := fresh(t, open)
		if all, err := s.ListMedia(t.Context()); err != nil || len(all) != 0 {
			t.Fatalf("empty ListMedia = %v, %v", all, err)
		}
		in := []store.MediaInfo{clip(1, t0), clip(3, t0.Add(time.Minute)), clip(2, t0)}
		for _, m := range in {
			if err := s.PutMedia(t.Context(), m); err != nil {
				t.Fatal(err)
			}
		}
		all, err := s.ListMedia(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 3 {
			t.Fatalf("ListMedia = %d clips, want 3", len(all))
		}
		for i, want := range []store.MediaInfo{in[1], in[0], in[2]} {
			wantMedia(t, all[i], want)
		}
	})
}
