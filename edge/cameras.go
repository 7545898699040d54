package edge

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dalaba/dalaba/edge/relay"
	"github.com/dalaba/dalaba/edge/whep"
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
	var ice []protocol.ICEServer
	if s.Cameras != nil {
		ice = s.Cameras.ICE
		for _, c := range s.Cameras.Cameras {
			cams = append(cams, relay.Camera{ID: c.ID, Name: c.Name, URL: c.URL, Username: c.Username, Password: c.Password,
				Transport: c.Transport, AlwaysOn: c.AlwaysOn, AllowLocal: s.Cameras.AllowLocalTargets})
		}
	}
	e.wh.SetICE(ice)
	limits := protocol.Cameras{}
	if s.Cameras != nil {
		limits = *s.Cameras
	}
	e.rl.SetLimits(cmp.Or(limits.MaxViewersPerCamera, protocol.DefaultMaxViewersPerCamera), cmp.Or(limits.MaxViewers, protocol.DefaultMaxViewers))
	e.camMu.Lock()
	e.cams = limits
	e.camMu.Unlock()
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
		if strings.HasPrefix(ev.Reader, whep.ReaderPrefix) {
			return // recorded by the WebRTC side, with its bytes
		}
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

// viewing records a WebRTC viewer's session.
func (e *Edge) viewing(v protocol.Viewing) {
	if err := e.record(context.Background(), protocol.EventCameraViewed, protocol.PriorityNotice, v); err != nil {
		e.log.Error("recording a viewing", "camera", v.Camera, "err", err)
	}
}

// answerWHEP runs the camera.whep command: a township viewer's offer.
func (e *Edge) answerWHEP(ctx context.Context, c protocol.Command) (any, error) {
	var a protocol.WHEPArgs
	if err := protocol.DecodeArgs(c.Args, &a); err != nil {
		return nil, fmt.Errorf("whep: arguments: %w", err)
	}
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("whep: %w", err)
	}
	if err := e.withinBudget(a.Camera); err != nil {
		return nil, err
	}
	return e.wh.Answer(ctx, a)
}

// stopWHEP runs the camera.whep_stop command.
func (e *Edge) stopWHEP(_ context.Context, c protocol.Command) (any, error) {
	var a protocol.WHEPStopArgs
	if err := protocol.DecodeArgs(c.Args, &a); err != nil {
		return nil, fmt.Errorf("whep stop: arguments: %w", err)
	}
	return nil, e.wh.Stop(a.Session)
}

// defaultBitrateKbps is what a camera's viewer costs the budget when the
// desired state does not say.
const defaultBitrateKbps = 4000

// withinBudget refuses a WebRTC viewer who would take the box's uplink
// past the desired state's budget, counting every viewer at the bitrate
// of the camera asked for: the village's 4G uplink is shared with the
// loudspeakers' downloads and the outbox.
func (e *Edge) withinBudget(camera string) error {
	e.camMu.Lock()
	c := e.cams
	e.camMu.Unlock()
	if c.BudgetKbps == 0 {
		return nil
	}
	kbps := defaultBitrateKbps
	for _, cam := range c.Cameras {
		if cam.ID == camera && cam.BitrateKbps > 0 {
			kbps = cam.BitrateKbps
		}
	}
	if n := e.wh.Sessions(); (n+1)*kbps > c.BudgetKbps {
		return fmt.Errorf("whep: the box's viewing budget of %d kbit/s is used by %d viewers; camera %s needs %d kbit/s more", c.BudgetKbps, n, camera, kbps)
	}
	return nil
}
