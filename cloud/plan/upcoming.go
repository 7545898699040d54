package plan

import (
	"cmp"
	"slices"
	"time"

	"github.com/dalaba/dalaba/protocol"
	"github.com/dalaba/dalaba/protocol/schedule"
)

// Occurrence is one coming playback of a schedule.
type Occurrence struct {
	At         time.Time             `json:"at"` // in the rule's zone
	ScheduleID string                `json:"schedule_id"`
	Name       string                `json:"name,omitempty"`
	Media      []string              `json:"media"`
	Zones      []string              `json:"zones,omitempty"`
	Priority   protocol.PlayPriority `json:"priority,omitempty"`
	// Quiet marks an occurrence in quiet hours: the box skips it.
	Quiet bool `json:"quiet,omitempty"`
}

// Upcoming returns the occurrences of b's schedules in (from, to], in
// time order (ties by schedule id), computed with the calendar code the
// box fires them with, at most limit of them; truncated says some were
// left out.
func Upcoming(b protocol.Broadcast, from, to time.Time, limit int) (out []Occurrence, truncated bool) {
	zone := b.TZ
	if zone == "" {
		zone = schedule.DefaultZone
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		loc = nil // Validate refuses such a plan; read quiet hours in each instant's own zone
	}
	for _, s := range b.Schedules {
		times := schedule.Between(s.Rule, from, to)
		if len(times) > limit {
			times, truncated = times[:limit], true // the earliest are the ones kept
		}
		for _, at := range times {
			out = append(out, Occurrence{
				At: at, ScheduleID: s.ID, Name: s.Name, Media: s.Media, Zones: s.Zones, Priority: s.Priority,
				Quiet: schedule.InQuiet(b.Quiet, at, loc),
			})
		}
	}
	slices.SortStableFunc(out, func(x, y Occurrence) int {
		return cmp.Or(x.At.Compare(y.At), cmp.Compare(x.ScheduleID, y.ScheduleID))
	})
	if len(out) > limit {
		return out[:limit], true
	}
	return out, false
}
