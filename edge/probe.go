package edge

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/dalaba/dalaba/edge/command"
	"github.com/dalaba/dalaba/edge/relay"
	"github.com/dalaba/dalaba/protocol"
)

// registerProbe gives the command runner camera.probe: the township's
// "test this camera" (relay.Probe), on the slow lane since it waits on
// the camera. The camera comes whole in the arguments, saved or not, so
// the box needs nothing of its desired state for it.
func registerProbe(r *command.Runner, log *slog.Logger) {
	command.Register(r, protocol.CmdProbeCamera, command.Slow, func(ctx context.Context, c protocol.Command, a protocol.ProbeArgs) (any, error) {
		return probeCamera(ctx, log, c, a), nil
	})
}

func probeCamera(ctx context.Context, log *slog.Logger, c protocol.Command, a protocol.ProbeArgs) protocol.ProbeResult {
	start := time.Now()
	got, err := relay.Probe(ctx, relay.Camera{ID: a.Camera, URL: a.URL, Username: a.Username, Password: a.Password, Transport: a.Transport, AllowLocal: a.AllowLocalTargets},
		protocol.ProbeTimeoutMS*time.Millisecond)
	res := protocol.ProbeResult{Opened: err == nil, Video: got.Video, Tracks: got.Tracks, TookMS: time.Since(start).Milliseconds()}
	if err != nil {
		res.Reason, res.Error = protocol.ProbeFailed, err.Error()
		if pe, ok := errors.AsType[*relay.ProbeError](err); ok {
			res.Reason = probeReason(pe.Reason)
		}
	}
	log.Info("camera probed", "camera_id", a.Camera, "opened", res.Opened, "reason", res.Reason, "command_id", c.ID)
	return res
}

// probeReason is the relay's reason as the protocol names it.
func probeReason(r string) string {
	switch r {
	case relay.ProbeUnreachable:
		return protocol.ProbeUnreachable
	case relay.ProbeTimeout:
		return protocol.ProbeTimeout
	case relay.ProbeUnauthorized:
		return protocol.ProbeUnauthorized
	case relay.ProbeNotFound:
		return protocol.ProbeNotFound
	case relay.ProbeNoVideo:
		return protocol.ProbeNoVideo
	}
	return protocol.ProbeFailed
}
