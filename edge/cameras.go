package edge

import (
	"cmp"
	"context"
	"strings"
	"time"

	"github.com/dalaba/dalaba/edge/desired"
	"github.com/dalaba/dalaba/edge/relay"
	"github.com/dalaba/dalaba/edge/whep"
	"github.com/dalaba/dalaba/protocol"
)

// applyCameras hands the camera section of a desired state to the relay,
// and its ICE servers and viewing budget to WebRTC viewing and paging. The
// applier validated the spec; a relay that still refuses it keeps what it
// had, and says so in the log.
func (e *Edge) applyCameras(st desired.State) {
	var c protocol.Cameras
	if st.Spec.Cameras != nil {
		c = *st.Spec.Cameras
	}
	var cams []relay.Camera
	for _, cam := range c.Cameras {
		cams = append(cams, relay.Camera{ID: cam.ID, Name: cam.Name, URL: cam.URL, Username: cam.Username, Password: cam.Password,
			Transport: cam.Transport, AlwaysOn: cam.AlwaysOn, AllowLocal: c.AllowLocalTargets})
	}
	e.wh.SetCameras(c)
	e.pg.SetICE(c.ICE) // the box's one list of STUN and TURN servers
	e.rl.SetLimits(cmp.Or(c.MaxViewersPerCamera, protocol.DefaultMaxViewersPerCamera), cmp.Or(c.MaxViewers, protocol.DefaultMaxViewers))
	if err := e.rl.SetCameras(cams); err != nil {
		e.log.Error("cameras refused by the relay; keeping the current ones", "rev", st.Rev, "err", err)
		return
	}
	e.log.Info("cameras applied", "rev", st.Rev, "cameras", len(cams))
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
		if strings.HasPrefix(ev.Reader, whep.ReaderPrefix) {
			return // recorded by the WebRTC side, with its bytes
		}
		err = e.record(ctx, protocol.EventCameraViewed, protocol.PriorityNotice, protocol.Viewing{
			Camera: ev.Camera, Viewer: ev.Reader, Via: "rtsp", From: ev.From, To: orNow(ev.To)})
	}
	if err != nil {
		e.log.Error("recording a camera event", "type", ev.Type, "camera_id", ev.Camera, "err", err)
	}
}

func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// viewing records a WebRTC viewer's session.
func (e *Edge) viewing(v protocol.Viewing) {
	if err := e.record(context.Background(), protocol.EventCameraViewed, protocol.PriorityNotice, v); err != nil {
		e.log.Error("recording a viewing", "camera_id", v.Camera, "err", err)
	}
}
