package protocol

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
)

// Commands that reach the village's cameras through ONVIF: finding them on
// the box's LAN, reading what one has, turning it, and taking a still.
const (
	// CmdCameraDiscover probes the box's LAN for ONVIF cameras
	// (DiscoverArgs); the result is DiscoverResult, also recorded as an
	// EventCameraDiscovered event.
	CmdCameraDiscover = "camera.discover"
	// CmdCameraONVIF reads a camera's device information, media profiles,
	// stream and snapshot URIs (ONVIFArgs); the result is ONVIFResult.
	CmdCameraONVIF = "camera.onvif"
	// CmdCameraPTZ turns or zooms a camera of the desired state, or sends
	// it to a preset (PTZArgs).
	CmdCameraPTZ = "camera.ptz"
	// CmdCameraSnapshot takes a still from a camera of the desired state
	// (SnapshotArgs); the result is SnapshotResult.
	CmdCameraSnapshot = "camera.snapshot"
)

// EventCameraDiscovered is what a discovery found. Data: DiscoverResult.
const EventCameraDiscovered = "camera.discovered"

// DiscoverArgs asks the box to probe its LAN.
type DiscoverArgs struct {
	// WaitMs is how long answers are collected, 500 to 5000; 0 is 2000.
	WaitMs int `json:"wait_ms,omitempty"`
}

// Validate checks the arguments on their own.
func (a DiscoverArgs) Validate() error {
	if a.WaitMs != 0 && (a.WaitMs < 500 || a.WaitMs > 5000) {
		return fmt.Errorf("wait_ms %d: want 500 to 5000, or 0 for 2000", a.WaitMs)
	}
	return nil
}

// MaxDiscovered bounds the devices a DiscoverResult lists.
const MaxDiscovered = 64

// DiscoverResult lists the ONVIF devices that answered.
type DiscoverResult struct {
	Devices []DiscoveredCamera `json:"devices"`
}

// DiscoveredCamera is a device that answered a probe.
type DiscoveredCamera struct {
	URL      string `json:"url"` // its device service (for CameraONVIF.URL)
	Name     string `json:"name,omitempty"`
	Hardware string `json:"hardware,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
}

// ONVIFArgs asks the box to read a camera's ONVIF services: one of the
// desired state's (Camera), or one found by discovery (URL and
// credentials, which travel signed like the desired state's).
type ONVIFArgs struct {
	Camera   string `json:"camera,omitempty"`
	URL      string `json:"url,omitempty"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
}

// Validate checks the arguments on their own.
func (a ONVIFArgs) Validate() error {
	var errs []error
	switch {
	case a.Camera != "" && a.URL != "":
		errs = append(errs, errors.New("camera or url, not both"))
	case a.Camera != "":
		if err := ValidateID(a.Camera); err != nil {
			errs = append(errs, fmt.Errorf("camera: %w", err))
		}
	default:
		if err := checkONVIFURL(a.URL); err != nil {
			errs = append(errs, err)
		}
	}
	if len(a.Username) > 128 || len(a.Password) > 128 || strings.ContainsAny(a.Username+a.Password, "\r\n\x00") {
		errs = append(errs, errors.New("bad credentials (at most 128 bytes, no line breaks)"))
	}
	return errors.Join(errs...)
}

func checkONVIFURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("url %q: want http://host[:port]/onvif/device_service, credentials apart", raw)
	}
	return nil
}

// ONVIFResult is what a camera told of itself.
type ONVIFResult struct {
	Manufacturer string         `json:"manufacturer,omitempty"`
	Model        string         `json:"model,omitempty"`
	Firmware     string         `json:"firmware,omitempty"`
	Serial       string         `json:"serial,omitempty"`
	Profiles     []ONVIFProfile `json:"profiles"`
	PTZ          bool           `json:"ptz,omitempty"`
	Presets      []PTZPreset    `json:"presets,omitempty"`
	// MainURL and SubURL are the stream URIs of the profiles that suit
	// the camera's main and sub streams (the first profile, and the
	// smallest H.264 one after it), without credentials.
	MainURL string `json:"main_url,omitempty"`
	SubURL  string `json:"sub_url,omitempty"`
}

// ONVIFProfile is one of a camera's media profiles.
type ONVIFProfile struct {
	Token       string `json:"token"`
	Name        string `json:"name,omitempty"`
	Encoding    string `json:"encoding,omitempty"` // H264, H265, JPEG
	Width       int    `json:"width,omitempty"`
	Height      int    `json:"height,omitempty"`
	FPS         int    `json:"fps,omitempty"`
	Kbps        int    `json:"kbps,omitempty"`
	StreamURL   string `json:"stream_url,omitempty"`
	SnapshotURL string `json:"snapshot_url,omitempty"`
}

// PTZPreset is a position a camera remembers.
type PTZPreset struct {
	Token string `json:"token"`
	Name  string `json:"name,omitempty"`
}

// PTZ actions.
const (
	PTZMove     = "move"   // continuous move at Pan, Tilt, Zoom for at most TimeoutMs
	PTZStop     = "stop"   // stop moving and zooming
	PTZGoPreset = "preset" // go to Preset
)

// PTZArgs turns a camera.
type PTZArgs struct {
	Camera string `json:"camera"`
	Action string `json:"action"`
	// Pan (right positive), Tilt (up positive) and Zoom (in positive) are
	// velocities from -1 to 1, for PTZMove.
	Pan  float64 `json:"pan,omitempty"`
	Tilt float64 `json:"tilt,omitempty"`
	Zoom float64 `json:"zoom,omitempty"`
	// TimeoutMs bounds a move, 100 to 10000; 0 is 1000: the camera stops
	// on its own if the stop is lost.
	TimeoutMs int    `json:"timeout_ms,omitempty"`
	Preset    string `json:"preset,omitempty"`
}

// Validate checks the arguments on their own.
func (a PTZArgs) Validate() error {
	var errs []error
	if err := ValidateID(a.Camera); err != nil {
		errs = append(errs, fmt.Errorf("camera: %w", err))
	}
	speed := func(name string, v float64) {
		if math.IsNaN(v) || v < -1 || v > 1 {
			errs = append(errs, fmt.Errorf("%s %v: want -1 to 1", name, v))
		}
	}
	switch a.Action {
	case PTZMove:
		speed("pan", a.Pan)
		speed("tilt", a.Tilt)
		speed("zoom", a.Zoom)
		if a.Pan == 0 && a.Tilt == 0 && a.Zoom == 0 {
			errs = append(errs, errors.New("move: pan, tilt and zoom are all 0"))
		}
		if a.TimeoutMs != 0 && (a.TimeoutMs < 100 || a.TimeoutMs > 10_000) {
			errs = append(errs, fmt.Errorf("timeout_ms %d: want 100 to 10000, or 0 for 1000", a.TimeoutMs))
		}
	case PTZStop:
	case PTZGoPreset:
		if a.Preset == "" || len(a.Preset) > 64 || strings.ContainsAny(a.Preset, "<>&\"'\r\n\x00") {
			errs = append(errs, fmt.Errorf("preset %q: want a token of 1 to 64 plain characters", a.Preset))
		}
	default:
		errs = append(errs, fmt.Errorf("action %q: want move, stop or preset", a.Action))
	}
	return errors.Join(errs...)
}

// SnapshotArgs asks for a still of a camera.
type SnapshotArgs struct {
	Camera string `json:"camera"`
}

// Validate checks the arguments on their own.
func (a SnapshotArgs) Validate() error {
	if err := ValidateID(a.Camera); err != nil {
		return fmt.Errorf("camera: %w", err)
	}
	return nil
}

// MaxSnapshot bounds a snapshot carried in a command result (base64 in
// JSON, under the topic's 64 KiB): the box takes the still of the
// camera's smallest profile.
const MaxSnapshot = 44 << 10

// SnapshotResult is a still of a camera.
type SnapshotResult struct {
	ContentType string `json:"content_type"` // image/jpeg
	Image       []byte `json:"image"`        // base64 in JSON
	Profile     string `json:"profile,omitempty"`
}
