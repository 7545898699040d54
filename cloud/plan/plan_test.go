package plan

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
	"github.com/dalaba/dalaba/protocol/schedule"
)

var (
	shaA = strings.Repeat("a", 64)
	shaB = strings.Repeat("b", 64)
)

func base() protocol.Broadcast {
	return protocol.Broadcast{
		Speakers:  []protocol.Speaker{{ID: "s1", Driver: protocol.DriverSoundcard}},
		Zones:     []protocol.Zone{{ID: "all", Speakers: []string{"s1"}}},
		Schedules: []protocol.Schedule{{ID: "morning", Media: []string{shaA}, Rule: schedule.Rule{At: []string{"07:30"}}}},
	}
}

func TestCompile(t *testing.T) {
	index := map[string]store.MediaInfo{
		shaA: {SHA256: shaA, Name: "早间新闻", Size: 100, DurationMS: 2000},
		shaB: {SHA256: shaB, Name: "叮咚", Size: 50, DurationMS: 1000},
	}
	cases := []struct {
		name  string
		edit  func(*protocol.Broadcast)
		media []string // want, in order; nil with err
		err   string
	}{
		{"media filled from the index", func(*protocol.Broadcast) {}, []string{shaA}, ""},
		{"a chime clip comes first", func(b *protocol.Broadcast) { b.Chime = shaB }, []string{shaB, shaA}, ""},
		{"chime off needs no clip", func(b *protocol.Broadcast) { b.Chime = protocol.ChimeOff }, []string{shaA}, ""},
		{"stale media in the input are dropped", func(b *protocol.Broadcast) { b.Media = []protocol.Media{{SHA256: shaB, Size: 1}} }, []string{shaA}, ""},
		{"a clip never uploaded", func(b *protocol.Broadcast) { b.Schedules[0].Media = []string{strings.Repeat("c", 64)} }, nil, "never uploaded"},
		{"an invalid rule", func(b *protocol.Broadcast) { b.Schedules[0].Rule.At = []string{"25:00"} }, nil, "rule"},
		{"an unknown zone", func(b *protocol.Broadcast) { b.Schedules[0].Zones = []string{"nowhere"} }, nil, "unknown zone"},
		{"a malformed reference", func(b *protocol.Broadcast) { b.Schedules[0].Media = []string{"x"} }, nil, "sha256"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := base()
			c.edit(&b)
			s, err := Compile(b, index)
			if c.err != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("Compile = %v, want ErrInvalid saying %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range s.Broadcast.Media {
				if m != (protocol.Media{SHA256: m.SHA256, Name: index[m.SHA256].Name, Size: index[m.SHA256].Size, DurationMS: index[m.SHA256].DurationMS}) {
					t.Errorf("medium %+v does not match the index", m)
				}
				got = append(got, m.SHA256)
			}
			if strings.Join(got, ",") != strings.Join(c.media, ",") {
				t.Fatalf("media %v, want %v", got, c.media)
			}
		})
	}
}

func TestUpcoming(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	b := base()
	b.Quiet = []schedule.Quiet{{From: "22:00", To: "06:00"}}
	b.Schedules = append(b.Schedules, protocol.Schedule{ID: "night", Media: []string{shaA}, Rule: schedule.Rule{At: []string{"22:30"}, Weekdays: []int{1}}})
	from := time.Date(2026, 11, 2, 0, 0, 0, 0, sh) // a Monday
	got, truncated := Upcoming(b, from, from.AddDate(0, 0, 3), 100)
	want := []struct {
		at    time.Time
		id    string
		quiet bool
	}{
		{time.Date(2026, 11, 2, 7, 30, 0, 0, sh), "morning", false},
		{time.Date(2026, 11, 2, 22, 30, 0, 0, sh), "night", true},
		{time.Date(2026, 11, 3, 7, 30, 0, 0, sh), "morning", false},
		{time.Date(2026, 11, 4, 7, 30, 0, 0, sh), "morning", false},
	}
	if truncated || len(got) != len(want) {
		t.Fatalf("Upcoming = %+v (truncated %v), want %d", got, truncated, len(want))
	}
	for i, w := range want {
		if !got[i].At.Equal(w.at) || got[i].ScheduleID != w.id || got[i].Quiet != w.quiet {
			t.Errorf("[%d] = %+v, want %s %s quiet=%v", i, got[i], w.at, w.id, w.quiet)
		}
	}
	if got, truncated := Upcoming(b, from, from.AddDate(0, 0, 3), 2); len(got) != 2 || !truncated {
		t.Fatalf("limit 2: %d occurrences, truncated %v", len(got), truncated)
	}
}
