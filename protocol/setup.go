package protocol

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Commands for setting a village up: a chime on one horn to hear that it
// works, and a try at opening a camera before or after it is saved.
const (
	// CmdTestTone plays a short chime on one speaker only (TestToneArgs)
	// and answers once it has played, or could not (TestToneResult).
	CmdTestTone = "broadcast.test_tone"
	// CmdProbeCamera opens a camera as the relay would, DESCRIBE only,
	// within ProbeTimeoutMS (ProbeArgs), and answers with what it offers
	// or why it could not be opened (ProbeResult).
	CmdProbeCamera = "camera.probe"
)

// TestToneArgs names the speaker to chime on.
type TestToneArgs struct {
	Speaker string `json:"speaker"`
}

// Validate checks the arguments on their own; the speaker is the box's
// to know.
func (a TestToneArgs) Validate() error {
	if err := ValidateID(a.Speaker); err != nil {
		return fmt.Errorf("speaker: %w", err)
	}
	return nil
}

// Why a test tone was not heard (TestToneResult.Reason).
const (
	// ToneUnknownSpeaker: the box's desired state has no such speaker
	// (not applied yet, or removed).
	ToneUnknownSpeaker = "unknown_speaker"
	// ToneBusy: something of higher or equal priority (an emergency, a
	// live page) held the speaker's zones until it was too late.
	ToneBusy = "busy"
	// ToneFailed: the speaker's driver failed to play it (Error says why).
	ToneFailed = "failed"
)

// TestToneResult is what came of a test tone. The command itself succeeds
// whenever the box ran it: Played says whether the speaker took the whole
// chime, and the speaker's health is as the box sees it just after.
type TestToneResult struct {
	Speaker string `json:"speaker"`
	Played  bool   `json:"played"`
	Reason  string `json:"reason,omitempty"` // one of the Tone* constants when not Played
	Error   string `json:"error,omitempty"`  // the driver's or box's words when not Played
	// Reachable and HealthError are the speaker's health (see
	// SpeakerHealth); Reachable is false for an unknown speaker.
	Reachable   bool   `json:"reachable"`
	HealthError string `json:"health_error,omitempty"`
	DurationMS  int64  `json:"duration_ms,omitempty"` // of the chime played
}

// ProbeTimeoutMS bounds a camera probe on the box: connect, DESCRIBE and
// answer, well within a command's lifetime.
const ProbeTimeoutMS = 8000

// ProbeArgs is a camera to try: as saved (the township sends the stored
// credentials) or as about to be saved.
type ProbeArgs struct {
	Camera    string `json:"camera,omitempty"` // its id, for the box's log; optional
	URL       string `json:"url"`              // rtsp://host[:port]/path
	Username  string `json:"username,omitempty"`
	Password  string `json:"password,omitempty"`
	Transport string `json:"transport,omitempty"` // tcp (default), udp or auto
	// AllowLocalTargets is the township's allowance, as in Cameras: without
	// it a URL naming the box itself, link-local or other non-LAN addresses
	// is refused, so a probe cannot be used to scan the box's own ports.
	AllowLocalTargets bool `json:"allow_local_targets,omitempty"`
}

// Validate checks the arguments as a Camera of the desired state is
// checked.
func (a ProbeArgs) Validate() error {
	var errs []error
	if a.Camera != "" {
		if err := ValidateID(a.Camera); err != nil {
			errs = append(errs, fmt.Errorf("camera: %w", err))
		}
	}
	u, err := url.Parse(a.URL)
	if err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Host == "" || u.User != nil {
		errs = append(errs, fmt.Errorf("url %q: want rtsp://host[:port]/path, credentials in username and password", a.URL))
	} else if err := CheckCameraHost(u.Hostname()); err != nil && !a.AllowLocalTargets {
		errs = append(errs, fmt.Errorf("url %q: %w", a.URL, err))
	}
	if len(a.Username) > 128 || len(a.Password) > 128 || strings.ContainsAny(a.Username+a.Password, "\r\n\x00") {
		errs = append(errs, errors.New("credentials: at most 128 bytes each, no line breaks"))
	}
	switch a.Transport {
	case "", "tcp", "udp", "auto":
	default:
		errs = append(errs, fmt.Errorf("transport %q: want tcp, udp or auto", a.Transport))
	}
	return errors.Join(errs...)
}

// Why a camera could not be opened (ProbeResult.Reason).
const (
	ProbeUnreachable  = "unreachable"  // no connection: wrong address or port, or no route to it
	ProbeTimeout      = "timeout"      // connected, or tried to, but no answer in time
	ProbeUnauthorized = "unauthorized" // the camera refused the user name and password
	ProbeNotFound     = "not_found"    // the camera has no stream at that path
	ProbeNoVideo      = "no_video"     // it answered, but offers no H.264 or H.265 video the relay passes through
	ProbeFailed       = "failed"       // anything else (Error says what)
)

// ProbeResult is what came of a probe. The command succeeds whenever the
// box tried: Opened says whether the camera can be relayed.
type ProbeResult struct {
	Opened bool   `json:"opened"`
	Reason string `json:"reason,omitempty"` // one of the Probe* constants when not Opened
	Error  string `json:"error,omitempty"`
	// Video is the codec the relay would pass through (H264 or H265).
	Video string `json:"video,omitempty"`
	// Tracks are every track the camera offered, as "video H264",
	// "audio MPEG4-audio"...
	Tracks []string `json:"tracks,omitempty"`
	TookMS int64    `json:"took_ms"`
}
