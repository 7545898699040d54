package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Clock states of a box.
const (
	clockTrusted   = "trusted"
	clockUntrusted = "untrusted"
	clockUnknown   = "unknown"
)

// clockKey is the message key of a clock state.
func clockKey(state string) string {
	switch state {
	case clockTrusted:
		return "ClockTrusted"
	case clockUntrusted:
		return "ClockUntrusted"
	}
	return "Unknown"
}

// healthWindow is how many of a box's latest events are searched for its
// last reports. The store keeps no health state of its own, so this is a
// bounded guess: a box that sent more other events since its last report
// shows "unknown" rather than costing a long scan every few seconds per
// box.
const healthWindow = 64

// device is a speaker or camera of a box's plan with its last reported
// health; known is false when no report is among the latest events.
type device struct {
	ID    string
	Name  string
	OK    bool
	Known bool
	Error string
}

// boxState is what a box's latest events and its plan say of it.
type boxState struct {
	Clock    string
	Health   *protocol.Health // the last health report; nil when none is in the window
	Speakers []device
	Cameras  []device
}

// stateOf reads box b's latest events, newest first, for its last health
// report and each device's last report, and lists the devices its plan
// has. A speaker never reported on counts as fine, as the box's drivers
// start optimistic and report only changes; a camera never reported on is
// unknown, as the box pulls cameras only while someone watches.
func (c *Console) stateOf(ctx context.Context, b store.Box) (boxState, error) {
	// The current incarnation's latest: what the box says of itself now.
	after := store.Position(b.Incarnation, 0)
	if b.Watermark > healthWindow {
		after = store.Position(b.Incarnation, b.Watermark-healthWindow)
	}
	evs, err := c.st.ListEvents(ctx, b.ID, after, 2*healthWindow)
	if err != nil {
		return boxState{}, fmt.Errorf("console: events of %s: %w", b.ID, err)
	}
	p, err := c.st.GetPlan(ctx, b.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return boxState{}, fmt.Errorf("console: plan of %s: %w", b.ID, err)
	}
	st := boxState{Clock: clockUnknown}
	for _, s := range p.Broadcast.Speakers {
		st.Speakers = append(st.Speakers, device{ID: s.ID, Name: s.Name, OK: true})
	}
	for _, cam := range p.Cameras.Cameras {
		st.Cameras = append(st.Cameras, device{ID: cam.ID, Name: cam.Name})
	}
	report := func(devs []device, id string, ok bool, why string) {
		if i := slices.IndexFunc(devs, func(d device) bool { return d.ID == id }); i >= 0 && !devs[i].Known {
			devs[i].OK, devs[i].Known, devs[i].Error = ok, true, why
		}
	}
	for i := len(evs) - 1; i >= 0; i-- {
		ev := evs[i]
		switch ev.Type {
		case protocol.EventHealth:
			var h protocol.Health
			if st.Health != nil || json.Unmarshal(ev.Data, &h) != nil {
				continue // a malformed report says nothing; look at older ones
			}
			st.Health = &h
			st.Clock = clockUntrusted
			if h.ClockTrusted {
				st.Clock = clockTrusted
			}
		case protocol.EventSpeakerHealth:
			var h protocol.SpeakerHealth
			if json.Unmarshal(ev.Data, &h) == nil {
				report(st.Speakers, h.ID, h.Reachable, h.Error)
			}
		case protocol.EventCameraOnline, protocol.EventCameraOffline:
			var cs protocol.CameraState
			if json.Unmarshal(ev.Data, &cs) == nil {
				report(st.Cameras, cs.Camera, ev.Type == protocol.EventCameraOnline, cs.Error)
			}
		}
	}
	return st, nil
}
