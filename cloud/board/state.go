package board

import (
	"encoding/json"
	"slices"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Clock states of a box.
const (
	ClockTrusted   = "trusted"
	ClockUntrusted = "untrusted"
	ClockUnknown   = "unknown"
)

// Window is how many of a box's latest events are searched for its last
// reports. The store keeps no health state of its own, so this is a
// bounded guess: a box that sent more other events since its last report
// shows "unknown" rather than costing a long scan every few seconds per
// box.
const Window = 64

// Types are the event types a box's state is read from.
var Types = []string{protocol.EventHealth, protocol.EventSpeakerHealth, protocol.EventCameraOnline, protocol.EventCameraOffline}

// Device is a speaker or camera of a box's plan with its last reported
// health; Known is false when no report is among the latest events.
type Device struct {
	ID    string
	Name  string
	OK    bool
	Known bool
	Error string
}

// State is what a box's latest events and its plan say of it.
type State struct {
	Clock    string
	Health   *protocol.Health // the last health report; nil when none is in the window
	Speakers []Device
	Cameras  []Device
}

// Derive reads o's events, newest first, for the last health report and
// each device's last report, and lists the devices its plan has. A
// speaker never reported on counts as fine, as the box's drivers start
// optimistic and report only changes; a camera never reported on is
// unknown, as the box pulls cameras only while someone watches.
func Derive(o store.Overview) State {
	st := State{Clock: ClockUnknown}
	for _, s := range o.Plan.Broadcast.Speakers {
		st.Speakers = append(st.Speakers, Device{ID: s.ID, Name: s.Name, OK: true})
	}
	for _, cam := range o.Plan.Cameras.Cameras {
		st.Cameras = append(st.Cameras, Device{ID: cam.ID, Name: cam.Name})
	}
	report := func(devs []Device, id string, ok bool, why string) {
		if i := slices.IndexFunc(devs, func(d Device) bool { return d.ID == id }); i >= 0 && !devs[i].Known {
			devs[i].OK, devs[i].Known, devs[i].Error = ok, true, why
		}
	}
	for i := len(o.Recent) - 1; i >= 0; i-- {
		ev := o.Recent[i]
		switch ev.Type {
		case protocol.EventHealth:
			var h protocol.Health
			if st.Health != nil || json.Unmarshal(ev.Data, &h) != nil {
				continue // a malformed report says nothing; look at older ones
			}
			st.Health = &h
			st.Clock = ClockUntrusted
			if h.ClockTrusted {
				st.Clock = ClockTrusted
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
	return st
}

// DiskLow is the free share under which the disk is a problem: the outbox
// and the media cache need room while the uplink is down.
const DiskLow = 0.10

// DiskIsLow reports whether st's last health report has the disk under
// DiskLow free.
func (st State) DiskIsLow() bool {
	h := st.Health
	return h != nil && h.DiskTotalBytes > 0 && float64(h.DiskFreeBytes) < DiskLow*float64(h.DiskTotalBytes)
}

// AllOK reports whether every device is known to be fine (a speaker
// never reported on counts as fine, a camera nobody watched does not
// count against it).
func AllOK(devs []Device) bool {
	for _, d := range devs {
		if d.Known && !d.OK {
			return false
		}
	}
	return true
}

// Problems a box can have, in the order they are listed.
const (
	ProblemOffline  = "offline"  // not connected
	ProblemPending  = "pending"  // has not applied its latest desired state
	ProblemClock    = "clock"    // its clock is not trusted: schedules may not fire
	ProblemDisk     = "disk_low" // under DiskLow free
	ProblemSpeakers = "speakers" // a speaker reported down
	ProblemCameras  = "cameras"  // a camera reported down
)
