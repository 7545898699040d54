package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
)

// Probing is trying a camera as the relay would open it, without keeping
// it: connect and DESCRIBE within a deadline, and say which video the
// relay would pass through, or why the camera cannot be opened. It is how
// an official setting a village up learns that the URL, the credentials
// and the camera's codec will do, before or after saving it.

// Reasons a probe gives for a camera it could not open (ProbeError).
const (
	ProbeUnreachable  = "unreachable"  // no connection: wrong address or port, or no route
	ProbeTimeout      = "timeout"      // no answer within the deadline
	ProbeUnauthorized = "unauthorized" // the camera refused the credentials
	ProbeNotFound     = "not_found"    // no stream at that path
	ProbeNoVideo      = "no_video"     // no H.264 or H.265 video track
	ProbeFailed       = "failed"       // anything else
)

// ProbeError is why a probe could not open a camera.
type ProbeError struct {
	Reason string // one of the Probe* constants
	Err    error
}

func (e *ProbeError) Error() string { return "probe: " + e.Reason + ": " + e.Err.Error() }
func (e *ProbeError) Unwrap() error { return e.Err }

// Probed is what a camera offers.
type Probed struct {
	// Video is the codec of the track the relay would pass through:
	// "H264" or "H265".
	Video string
	// Tracks are every track offered, "video H264", "audio MPEG-4 Audio"...
	Tracks []string
}

// Probe opens cam, DESCRIBEs it and closes it, within timeout or until
// ctx ends, whichever is first. The error is a *ProbeError, or cam's own
// validation error.
func Probe(ctx context.Context, cam Camera, timeout time.Duration) (Probed, error) {
	if cam.ID == "" {
		cam.ID = "probe" // a camera not saved yet has none; Validate wants one
	}
	if err := cam.Validate(); err != nil {
		return Probed{}, err
	}
	u, err := base.ParseURL(cam.URL)
	if err != nil {
		return Probed{}, &ProbeError{ProbeFailed, fmt.Errorf("parse url: %w", err)}
	}
	if cam.Username != "" {
		u.User = url.UserPassword(cam.Username, cam.Password)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &gortsplib.Client{
		Scheme:       u.Scheme,
		Host:         u.Host,
		Protocol:     cam.protocol(),
		ReadTimeout:  timeout,
		WriteTimeout: timeout,
	}
	if !cam.AllowLocal {
		// As the relay's own pulls: a name that resolves to the box itself
		// is refused when dialled, not only a literal address.
		c.DialContext = (&net.Dialer{Control: refuseLocal}).DialContext
	}
	if err := c.Start(); err != nil {
		return Probed{}, &ProbeError{ProbeFailed, fmt.Errorf("start client: %w", err)}
	}
	defer c.Close()
	// Describe blocks without a context: closing the client aborts it.
	stop := context.AfterFunc(ctx, c.Close)
	defer stop()
	desc, _, err := c.Describe(u)
	if err != nil {
		return Probed{}, &ProbeError{probeReason(ctx, err), err}
	}
	var out Probed
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			out.Tracks = append(out.Tracks, string(m.Type)+" "+CodecName(f))
		}
	}
	medi, forma, _ := pickVideo(desc)
	if medi == nil {
		return out, &ProbeError{ProbeNoVideo, errNoVideo}
	}
	out.Video = CodecName(forma)
	return out, nil
}

// probeReason names why DESCRIBE failed.
func probeReason(ctx context.Context, err error) string {
	if bad, ok := errors.AsType[liberrors.ErrClientBadStatusCode](err); ok {
		switch bad.Code {
		case base.StatusUnauthorized, base.StatusForbidden:
			return ProbeUnauthorized
		case base.StatusNotFound:
			return ProbeNotFound
		}
		return ProbeFailed
	}
	// The client's own read timeout equals the probe's deadline, so on a
	// slow box either may fire first: both mean the camera did not answer.
	if _, ok := errors.AsType[liberrors.ErrClientRequestTimedOut](err); ok || ctx.Err() != nil {
		return ProbeTimeout
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return ProbeTimeout
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return ProbeUnreachable
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return ProbeUnreachable
	}
	return ProbeFailed
}
