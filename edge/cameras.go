package edge

import (
	"context"
	"time"

	"github.com/dalaba/dalaba/edge/relay"
	"github.com/dalaba/dalaba/protocol"
)

// applyCameras hands the cameras of a desired state to the relay. The
// applier validated the spec; a relay that still refuses it keeps what it
// had, and says so in the log.
func (e *Edge) applyCameras(d protocol.Desired) {
	s, err := protocol.DecodeSpec(d.Spec)
	if err != nil {
		e.log.Error("desired state's spec does not decode; cameras unchanged", "rev", d.Rev, "err", err)
		return
	}
	var cams []relay.Camera
	if s.Cameras != nil {
		for _, c := range s.Cameras.Cameras {
			cams = append(cams, relay.Camera{ID: c.ID, Name: c.Name, URL: c.URL, Username: c.Username, Password: c.Password,
				Transport: c.Transport, AlwaysOn: c.AlwaysOn})
		}
	}
	if err := e.rl.SetCameras(cams); err != nil {
		e.log.Error("cameras refused by the relay; keeping the current ones", "rev", d.Rev, "err", err)
		return
	}
	e.log.Info("cameras applied", "rev", d.Rev, "cameras", len(cams))
}

// cameraEvent turns the relay's events into outbox events.
func (e *Edge) cameraEvent(ev relay.Event) {
	ctx := context.Background()
	var err error
	switch ev.Type {
	case relay.EventOnline:
		err = e.record(ctx, protocol.EventCameraOnline, protocol.PriorityNotice, protocol.CameraState{Camera: ev.Camera})
	case relay.EventOffline:
		err = e.record(ctx, protocol.EventCameraOffline, protocol.PriorityCritical, protocol.CameraState{Camera: ev.Camera, Error: ev.Error})
	default: // a viewer left: the viewing audit
		err = e.record(ctx, protocol.EventCameraViewed, protocol.PriorityNotice, protocol.Viewing{
			Camera: ev.Camera, Viewer: ev.Reader, Via: "rtsp", From: ev.From, To: orNow(ev.To)})
	}
	if err != nil {
		e.log.Error("recording a camera event", "type", ev.Type, "camera", ev.Camera, "err", err)
	}
}

func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}
