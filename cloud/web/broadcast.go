package web

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/plan"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
	"github.com/dalaba/dalaba/protocol/schedule"
)

// Limits of the upcoming view.
const (
	DefaultUpcomingDays = 7
	MaxUpcomingDays     = 31
	// MaxUpcoming bounds the occurrences in one answer.
	MaxUpcoming = 5000
)

func (s *Server) broadcastRoutes() {
	view, edit := auth.ActionViewBroadcast, auth.ActionManageBroadcast
	s.route("GET /api/v1/boxes/{id}/broadcast", view, TargetBox, s.getPlan)
	s.route("PUT /api/v1/boxes/{id}/broadcast", edit, TargetBox, s.putPlan)
	s.route("PUT /api/v1/boxes/{id}/speakers/{sid}", edit, TargetBox, s.putSpeaker)
	s.route("DELETE /api/v1/boxes/{id}/speakers/{sid}", edit, TargetBox, s.deleteSpeaker)
	s.route("PUT /api/v1/boxes/{id}/zones/{zid}", edit, TargetBox, s.putZone)
	s.route("DELETE /api/v1/boxes/{id}/zones/{zid}", edit, TargetBox, s.deleteZone)
	s.route("PUT /api/v1/boxes/{id}/schedules/{schid}", edit, TargetBox, s.putSchedule)
	s.route("DELETE /api/v1/boxes/{id}/schedules/{schid}", edit, TargetBox, s.deleteSchedule)
	s.route("GET /api/v1/boxes/{id}/upcoming", view, TargetBox, s.upcoming)
}

// planIn is what a client may write of a plan: everything but the media
// list, which is compiled from the references.
type planIn struct {
	Quiet     []schedule.Quiet    `json:"quiet"`
	TZ        string              `json:"tz"`
	Chime     string              `json:"chime"`
	Speakers  []protocol.Speaker  `json:"speakers"`
	Zones     []protocol.Zone     `json:"zones"`
	Schedules []protocol.Schedule `json:"schedules"`
}

// planJSON is a plan as the API shows it.
type planJSON struct {
	BoxID      string             `json:"box_id"`
	Broadcast  protocol.Broadcast `json:"broadcast"`
	UpdatedAt  time.Time          `json:"updated_at,omitzero"`
	UpdatedBy  string             `json:"updated_by,omitempty"`
	DesiredRev uint64             `json:"desired_rev,omitempty"` // after a change
}

func toJSON(p store.Plan, rev uint64) planJSON {
	return planJSON{BoxID: p.BoxID, Broadcast: p.Broadcast, UpdatedAt: p.UpdatedAt, UpdatedBy: p.UpdatedBy, DesiredRev: rev}
}

func (s *Server) getPlan(w http.ResponseWriter, r *http.Request) {
	p, err := s.pl.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toJSON(p, 0))
}

// change applies fn to the plan of the box in the path and answers with the
// saved plan and its desired rev.
func (s *Server) change(w http.ResponseWriter, r *http.Request, fn func(*protocol.Broadcast) error) {
	p, rev, err := s.pl.Update(r.Context(), r.PathValue("id"), userOf(r), fn)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toJSON(p, rev))
}

func (s *Server) putPlan(w http.ResponseWriter, r *http.Request) {
	var in planIn
	if !decode(w, r, &in) {
		return
	}
	s.change(w, r, func(b *protocol.Broadcast) error {
		*b = protocol.Broadcast{Quiet: in.Quiet, TZ: in.TZ, Chime: in.Chime, Speakers: in.Speakers, Zones: in.Zones, Schedules: in.Schedules}
		return nil
	})
}

// pathID reads and checks the id named key in the path.
func pathID(w http.ResponseWriter, r *http.Request, key string) (string, bool) {
	id := r.PathValue(key)
	if err := protocol.ValidateID(id); err != nil {
		refuse(w, CodeBadRequest, err)
		return "", false
	}
	return id, true
}

// bodyID reconciles the id in a body with the one in the path: empty
// takes the path's, another is refused.
func bodyID(w http.ResponseWriter, body *string, path string) bool {
	if *body != "" && *body != path {
		refuse(w, CodeBadRequest, fmt.Errorf("id %q in the body is not %q of the path", *body, path))
		return false
	}
	*body = path
	return true
}

// upsert replaces the element of list with id, or appends v.
func upsert[T any](list []T, id string, idOf func(T) string, v T) []T {
	if i := slices.IndexFunc(list, func(x T) bool { return idOf(x) == id }); i >= 0 {
		list[i] = v
		return list
	}
	return append(list, v)
}

// remove deletes the element of list with id; store.ErrNotFound if none.
func remove[T any](list []T, what, id string, idOf func(T) string) ([]T, error) {
	i := slices.IndexFunc(list, func(x T) bool { return idOf(x) == id })
	if i < 0 {
		return nil, fmt.Errorf("%s %q: %w", what, id, store.ErrNotFound)
	}
	return slices.Delete(list, i, i+1), nil
}

func speakerID(x protocol.Speaker) string   { return x.ID }
func zoneID(x protocol.Zone) string         { return x.ID }
func scheduleID(x protocol.Schedule) string { return x.ID }

func (s *Server) putSpeaker(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "sid")
	if !ok {
		return
	}
	var in protocol.Speaker
	if !decode(w, r, &in) || !bodyID(w, &in.ID, id) {
		return
	}
	s.change(w, r, func(b *protocol.Broadcast) error {
		b.Speakers = upsert(b.Speakers, id, speakerID, in)
		return nil
	})
}

func (s *Server) deleteSpeaker(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "sid")
	if !ok {
		return
	}
	s.change(w, r, func(b *protocol.Broadcast) error {
		var users []string
		for _, z := range b.Zones {
			if slices.Contains(z.Speakers, id) {
				users = append(users, z.ID)
			}
		}
		if len(users) > 0 {
			return fmt.Errorf("%w: speaker %q is in zone(s) %s; take it out of them first", plan.ErrInUse, id, strings.Join(users, ", "))
		}
		var err error
		b.Speakers, err = remove(b.Speakers, "speaker", id, speakerID)
		return err
	})
}

func (s *Server) putZone(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "zid")
	if !ok {
		return
	}
	var in protocol.Zone
	if !decode(w, r, &in) || !bodyID(w, &in.ID, id) {
		return
	}
	s.change(w, r, func(b *protocol.Broadcast) error {
		b.Zones = upsert(b.Zones, id, zoneID, in)
		return nil
	})
}

func (s *Server) deleteZone(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "zid")
	if !ok {
		return
	}
	s.change(w, r, func(b *protocol.Broadcast) error {
		var users []string
		for _, sc := range b.Schedules {
			if slices.Contains(sc.Zones, id) {
				users = append(users, sc.ID)
			}
		}
		if len(users) > 0 {
			return fmt.Errorf("%w: zone %q is used by schedule(s) %s; change them first", plan.ErrInUse, id, strings.Join(users, ", "))
		}
		var err error
		b.Zones, err = remove(b.Zones, "zone", id, zoneID)
		return err
	})
}

func (s *Server) putSchedule(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "schid")
	if !ok {
		return
	}
	var in protocol.Schedule
	if !decode(w, r, &in) || !bodyID(w, &in.ID, id) {
		return
	}
	s.change(w, r, func(b *protocol.Broadcast) error {
		b.Schedules = upsert(b.Schedules, id, scheduleID, in)
		return nil
	})
}

func (s *Server) deleteSchedule(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "schid")
	if !ok {
		return
	}
	s.change(w, r, func(b *protocol.Broadcast) error {
		var err error
		b.Schedules, err = remove(b.Schedules, "schedule", id, scheduleID)
		return err
	})
}

// upcoming answers ?days=N (1-31, default 7) with the plan's playbacks from
// now, quiet-hour ones flagged, for the console's calendar.
func (s *Server) upcoming(w http.ResponseWriter, r *http.Request) {
	days := DefaultUpcomingDays
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxUpcomingDays {
			refuse(w, CodeBadRequest, fmt.Errorf("days: a whole number from 1 to %d", MaxUpcomingDays))
			return
		}
		days = n
	}
	p, err := s.pl.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	from := s.now()
	to := from.AddDate(0, 0, days)
	occ, truncated := plan.Upcoming(p.Broadcast, from, to, MaxUpcoming)
	if occ == nil {
		occ = []plan.Occurrence{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": from, "to": to, "items": occ, "truncated": truncated})
}
