package protocol

import (
	"errors"
	"fmt"
	"net/url"
)

// A camera's streams: every camera has a main stream (1080p to 4K, 4-8
// Mbit/s) and most a sub stream (D1 or 720p, 0.5-1 Mbit/s).
const (
	StreamMain = "main"
	StreamSub  = "sub"
)

// What a viewer's picture is made of (WHEPResult.Frames).
const (
	FramesAll       = "all"
	FramesReference = "reference" // the camera's disposable B-frames left out
)

// Notes of a WHEPResult: why the viewer gets other than what it asked for.
const (
	// NoteBFramesSub: the main stream has B-frames; the sub stream, which
	// has none, is shown instead.
	NoteBFramesSub = "bframes_sub"
	// NoteBFramesReference: the stream has B-frames a browser cannot
	// reorder; only the other frames are shown, so the picture moves at
	// their rate.
	NoteBFramesReference = "bframes_reference"
	// NoteH265Sub: the main stream is H.265, which the browser does not
	// play; the H.264 sub stream is shown instead.
	NoteH265Sub = "h265_sub"
	// NoteBudgetSub: the main stream would take the box past its viewing
	// budget; the sub stream is shown instead.
	NoteBudgetSub = "budget_sub"
	// NoteNoSub: the sub stream was asked for but the camera has none;
	// the main stream is shown.
	NoteNoSub = "no_sub"
)

// Codes of a camera.whep result that is not OK, beside the generic ones
// (CodeFailed and the others): the camera cannot be shown to this browser,
// and an official must change a camera setting. A receiver that does not
// know them treats them as CodeFailed.
const (
	// CodeCameraBFrames: every stream the camera has sends B-frames that
	// cannot be left out (B-frames used as references); turn B-frames off
	// in the camera's encoder settings.
	CodeCameraBFrames = "camera_bframes"
	// CodeCameraCodec: no stream of the camera is in a codec the browser
	// plays (H.265 without an H.264 sub stream, to a browser without
	// H.265); set the main or sub stream to H.264.
	CodeCameraCodec = "camera_codec"
)

// Budget defaults.
const (
	// DefaultSubBitrateKbps is what a sub stream viewer costs the budget
	// when the camera does not say and the box has not measured it.
	DefaultSubBitrateKbps = 800
	// UplinkSharePercent of a declared uplink is the viewing budget when
	// none is set: the rest stays for the outbox, the media downloads and
	// live paging, which must not stall behind video.
	UplinkSharePercent = 75
)

// Bounds of Cameras.MaxPayload: below the minimum a keyframe becomes
// hundreds of packets; above the maximum a packet no longer fits a
// 1500-byte link with SRTP on top.
const (
	MinMaxPayload = 600
	MaxMaxPayload = 1452
)

// Budget is the viewing budget in kbit/s that c sets: BudgetKbps, or
// UplinkSharePercent of UplinkKbps; 0 is none.
func (c Cameras) Budget() int {
	if c.BudgetKbps > 0 {
		return c.BudgetKbps
	}
	return c.UplinkKbps * UplinkSharePercent / 100
}

// CameraONVIF is how the box reaches a camera's ONVIF services.
type CameraONVIF struct {
	// URL is the device service, http://host[:port]/onvif/device_service
	// (as discovery finds it).
	URL string `json:"url"`
	// Profile is the media profile token that PTZ and snapshots use; empty:
	// the camera's first.
	Profile string `json:"profile,omitempty"`
}

// streamProblems checks the sub stream and ONVIF fields of c; each error
// begins with the field's path below the camera. Their hosts are held to
// CheckCameraHost as the main URL's are, unless allowLocal.
func (c Camera) streamProblems(allowLocal bool) []error {
	var errs []error
	local := func(field, raw, host string) {
		if err := CheckCameraHost(host); err != nil && !allowLocal {
			errs = append(errs, fmt.Errorf(".%s %q: %w; a camera must be on the village's network", field, raw, err))
		}
	}
	if c.SubURL != "" {
		u, err := url.Parse(c.SubURL)
		if err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Host == "" || u.User != nil {
			errs = append(errs, fmt.Errorf(".sub_url %q: want rtsp://host[:port]/path, credentials in username and password", c.SubURL))
		} else {
			local("sub_url", c.SubURL, u.Hostname())
		}
	}
	if c.SubBitrateKbps < 0 || c.SubBitrateKbps > 100_000 {
		errs = append(errs, fmt.Errorf(".sub_bitrate_kbps %d: want 1 to 100000, or 0 for %d", c.SubBitrateKbps, DefaultSubBitrateKbps))
	}
	if o := c.ONVIF; o != nil {
		u, err := url.Parse(o.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			errs = append(errs, fmt.Errorf(".onvif.url %q: want http://host[:port]/onvif/device_service, credentials in username and password", o.URL))
		} else {
			local("onvif.url", o.URL, u.Hostname())
		}
		if len(o.Profile) > 64 {
			errs = append(errs, errors.New(".onvif.profile: longer than 64 bytes"))
		}
	}
	return errs
}

// EventCameraStream is what the box found in a camera's stream, sent when
// it first learns it after a pull starts and when it changes. Data:
// CameraStream.
const EventCameraStream = "camera.stream"

// CameraStream describes one of a camera's streams as the box sees it.
type CameraStream struct {
	Camera string `json:"camera"`
	Stream string `json:"stream"` // StreamMain or StreamSub
	Codec  string `json:"codec"`  // "H264" or "H265"
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	// BFrames: the stream has B-frames, which WebRTC cannot reorder.
	BFrames bool `json:"bframes,omitempty"`
	// BFramesReferenced: some B-frames are references of other frames
	// (a B-pyramid), so they cannot be left out.
	BFramesReferenced bool `json:"bframes_referenced,omitempty"`
	// FPS is the frame rate, and ReferenceFPS that of the frames left
	// when disposable B-frames are left out.
	FPS          float64 `json:"fps,omitempty"`
	ReferenceFPS float64 `json:"reference_fps,omitempty"`
	// Kbps is the stream's measured bitrate.
	Kbps int `json:"kbps,omitempty"`
	// Audio is the camera's audio codec ("PCMA", "PCMU", "AAC"); empty
	// for none.
	Audio string `json:"audio,omitempty"`
}
