package protocol

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Cameras is the camera section of a desired state: the village's RTSP
// cameras the box relays, and how many may watch.
type Cameras struct {
	Cameras []Camera `json:"cameras,omitempty"`
	// ICE lists the STUN and TURN servers the box offers WebRTC viewers,
	// so it can be reached behind a village's 4G NAT.
	ICE []ICEServer `json:"ice,omitempty"`
	// MaxViewers bounds viewers of all cameras at once (RTSP and WebRTC);
	// 0 means DefaultMaxViewers.
	MaxViewers int `json:"max_viewers,omitempty"`
	// MaxViewersPerCamera bounds one camera's viewers; 0 means
	// DefaultMaxViewersPerCamera.
	MaxViewersPerCamera int `json:"max_viewers_per_camera,omitempty"`
	// BudgetKbps is the box's uplink budget for WebRTC viewers, in kbit/s;
	// a viewer that would exceed it is refused. 0: UplinkKbps decides.
	BudgetKbps int `json:"budget_kbps,omitempty"`
	// UplinkKbps is the village uplink's bandwidth as declared by the
	// township (a 4G router, a 20 Mbit/s line shared with the village
	// office), in kbit/s. With no BudgetKbps, the budget is UplinkShare of
	// it. 0: not declared, and no budget.
	UplinkKbps int `json:"uplink_kbps,omitempty"`
	// MaxPayload is the largest RTP payload the box sends WebRTC viewers,
	// in bytes, for a path whose MTU is smaller than TURN over a
	// 1500-byte link (a VPN); 0: the box's default, 1400.
	MaxPayload int `json:"max_payload,omitempty"`
	// AllowLocalTargets lets camera URLs name the box itself or other
	// targets no village camera has (see CheckCameraHost): for tests and
	// demos with a simulated camera on loopback. The township sets it from
	// its own configuration, whatever a client sent; the box refuses such
	// cameras unless it is set, whatever the township checked.
	AllowLocalTargets bool `json:"allow_local_targets,omitempty"`
}

// Viewer limits by default.
const (
	DefaultMaxViewers          = 32
	DefaultMaxViewersPerCamera = 8
	MaxCameras                 = 64
)

// Camera is one RTSP camera. Its credentials travel in the signed desired
// state: the broker (the township's, over TLS) sees them, villages do not.
type Camera struct {
	ID       string `json:"id"`
	Name     string `json:"name,omitempty"`
	URL      string `json:"url"` // rtsp://host[:port]/path
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// Transport is how the box pulls it: "tcp" (default), "udp" or "auto".
	Transport string `json:"transport,omitempty"`
	// AlwaysOn pulls the camera whether or not anyone watches (for an
	// NVR that records through the box); otherwise only on demand.
	AlwaysOn bool `json:"always_on,omitempty"`
	// BitrateKbps is what one viewer of it costs the budget; 0 means 4000.
	BitrateKbps int `json:"bitrate_kbps,omitempty"`
	// SubURL is the camera's sub stream (D1 or 720p, under 1 Mbit/s),
	// rtsp:// like URL, with the same credentials; optional. The box
	// re-serves it at rtsp://box:8554/<id>/sub and the camera grid shows it.
	SubURL string `json:"sub_url,omitempty"`
	// SubBitrateKbps is what one viewer of the sub stream costs the budget
	// until the box has measured it; 0 means DefaultSubBitrateKbps.
	SubBitrateKbps int `json:"sub_bitrate_kbps,omitempty"`
	// ONVIF, when set, is how the box reaches the camera's ONVIF services
	// (PTZ, snapshots), with Username and Password.
	ONVIF *CameraONVIF `json:"onvif,omitempty"`
}

// ICEServer is a STUN or TURN server.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Validate reports every problem with c at once, each naming where it is.
func (c *Cameras) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(c.Cameras) > MaxCameras {
		add("cameras: %d cameras, limit %d", len(c.Cameras), MaxCameras)
	}
	ids := map[string]bool{}
	for i, cam := range c.Cameras {
		where := fmt.Sprintf("cameras.cameras[%d]", i)
		if err := ValidateID(cam.ID); err != nil {
			add("%s: %w", where, err)
		} else if ids[cam.ID] {
			add("%s: id %q used twice", where, cam.ID)
		}
		ids[cam.ID] = true
		if len(cam.Name) > MaxNameLen {
			add("%s.name: longer than %d bytes", where, MaxNameLen)
		}
		u, err := url.Parse(cam.URL)
		if err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Host == "" || u.User != nil {
			add("%s (%s).url %q: want rtsp://host[:port]/path, credentials in username and password", where, cam.ID, cam.URL)
		} else if err := CheckCameraHost(u.Hostname()); err != nil && !c.AllowLocalTargets {
			add("%s (%s).url %q: %w; a camera must be on the village's network (the township's cameras.allow_local_targets allows it, for tests)",
				where, cam.ID, cam.URL, err)
		}
		if len(cam.Username) > 128 || len(cam.Password) > 128 || strings.ContainsAny(cam.Username+cam.Password, "\r\n\x00") {
			add("%s (%s): bad credentials (at most 128 bytes, no line breaks)", where, cam.ID)
		}
		switch cam.Transport {
		case "", "tcp", "udp", "auto":
		default:
			add("%s (%s).transport %q: want tcp, udp or auto", where, cam.ID, cam.Transport)
		}
		if cam.BitrateKbps < 0 || cam.BitrateKbps > 100_000 {
			add("%s (%s).bitrate_kbps %d: want 1 to 100000, or 0 for 4000", where, cam.ID, cam.BitrateKbps)
		}
		for _, err := range cam.streamProblems(c.AllowLocalTargets) {
			add("%s (%s)%w", where, cam.ID, err)
		}
	}
	for i, s := range c.ICE {
		if len(s.URLs) == 0 {
			add("cameras.ice[%d]: no urls", i)
		}
		for _, raw := range s.URLs {
			scheme, _, ok := strings.Cut(raw, ":")
			if !ok || (scheme != "stun" && scheme != "stuns" && scheme != "turn" && scheme != "turns") {
				add("cameras.ice[%d]: %q: want stun:, stuns:, turn: or turns:", i, raw)
			}
		}
	}
	if c.MaxViewers < 0 || c.MaxViewers > 1000 || c.MaxViewersPerCamera < 0 || c.MaxViewersPerCamera > 1000 {
		add("cameras: viewer limits %d/%d: want 1 to 1000, or 0 for the defaults", c.MaxViewers, c.MaxViewersPerCamera)
	}
	if c.BudgetKbps < 0 {
		add("cameras.budget_kbps %d: want 0 (none) or more", c.BudgetKbps)
	}
	if c.MaxPayload != 0 && (c.MaxPayload < MinMaxPayload || c.MaxPayload > MaxMaxPayload) {
		add("cameras.max_payload %d: want %d to %d bytes, or 0 for the default", c.MaxPayload, MinMaxPayload, MaxMaxPayload)
	}
	if c.UplinkKbps < 0 || c.UplinkKbps > 10_000_000 {
		add("cameras.uplink_kbps %d: want 0 (not declared) to 10000000", c.UplinkKbps)
	}
	return errors.Join(errs...)
}

// ErrLocalTarget marks a camera host that is no camera: the box itself,
// link-local and cloud metadata addresses, and addresses that reach no
// single device on a LAN. A relay that pulled from one would let its
// readers probe the box's own ports and the cloud's metadata service.
var ErrLocalTarget = errors.New("not a camera address")

// CheckCameraHost refuses, wrapping ErrLocalTarget, a camera URL's host
// (a name or a literal IP, without port or brackets) that a box must not
// dial: "localhost" and names under .localhost, and the literal addresses
// CheckCameraIP refuses. Other names are not resolved here: the box checks
// the address it dials (the relay's dialer).
func CheckCameraHost(host string) error {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return fmt.Errorf("%w: host %s is the box itself", ErrLocalTarget, host)
	}
	if zone := strings.IndexByte(h, '%'); zone >= 0 { // fe80::1%eth0
		h = h[:zone]
	}
	ip, err := netip.ParseAddr(h)
	if err != nil {
		return nil // a name
	}
	return CheckCameraIP(ip)
}

// cameraRefusals are the address ranges no camera is at, with why. Private
// LAN ranges (10/8, 172.16/12, 192.168/16, fc00::/7) and public addresses
// are cameras' homes and are not here.
var cameraRefusals = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), `"this network", which reaches the box itself`},
	{netip.MustParsePrefix("127.0.0.0/8"), "the box's own loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local, where clouds keep their metadata service (169.254.169.254)"},
	{netip.MustParsePrefix("100.100.100.200/32"), "Alibaba Cloud's metadata service"},
	{netip.MustParsePrefix("192.0.2.0/24"), "a documentation range (TEST-NET-1)"},
	{netip.MustParsePrefix("198.51.100.0/24"), "a documentation range (TEST-NET-2)"},
	{netip.MustParsePrefix("203.0.113.0/24"), "a documentation range (TEST-NET-3)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved, with the broadcast address 255.255.255.255"},
	{netip.MustParsePrefix("::/128"), "the unspecified address, which reaches the box itself"},
	{netip.MustParsePrefix("::1/128"), "the box's own loopback"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "a cloud's metadata service"},
	{netip.MustParsePrefix("2001:db8::/32"), "a documentation range"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// CheckCameraIP refuses, wrapping ErrLocalTarget, an address a box must
// not pull a camera from: its own loopback, "this network" and the
// unspecified address, link-local (IPv4 169.254.0.0/16 with the cloud
// metadata address, IPv6 fe80::/10), the metadata addresses of clouds
// outside it, multicast, broadcast and reserved, and the documentation
// ranges. An IPv4-mapped IPv6 address is judged as its IPv4 address.
func CheckCameraIP(ip netip.Addr) error {
	ip = ip.Unmap().WithZone("")
	for _, r := range cameraRefusals {
		if r.prefix.Contains(ip) {
			return fmt.Errorf("%w: %s is %s", ErrLocalTarget, ip, r.why)
		}
	}
	return nil
}

// Commands of the camera feature.
const (
	// CmdWHEP carries a browser's SDP offer for a camera (WHEPArgs); the
	// result is WHEPResult with the box's answer.
	CmdWHEP = "camera.whep"
	// CmdWHEPStop ends a viewer's session (WHEPStopArgs).
	CmdWHEPStop = "camera.whep_stop"
)

// MaxSDP bounds an SDP offer or answer.
const MaxSDP = 32 << 10

// WHEPArgs asks the box to answer a viewer's offer.
type WHEPArgs struct {
	Camera string `json:"camera"`
	Offer  string `json:"offer"`  // SDP
	Viewer string `json:"viewer"` // who watches, for the viewing audit
	// Stream is the stream asked for: StreamMain (the default: a full
	// view) or StreamSub (a tile of the grid). The box may send the other
	// one and says so in the result.
	Stream string `json:"stream,omitempty"`
}

// Validate checks the arguments on their own.
func (a WHEPArgs) Validate() error {
	var errs []error
	if err := ValidateID(a.Camera); err != nil {
		errs = append(errs, fmt.Errorf("camera: %w", err))
	}
	if a.Offer == "" || len(a.Offer) > MaxSDP || !strings.HasPrefix(a.Offer, "v=0") {
		errs = append(errs, fmt.Errorf("offer: want an SDP offer of at most %d bytes", MaxSDP))
	}
	if len(a.Viewer) > MaxNameLen {
		errs = append(errs, fmt.Errorf("viewer: longer than %d bytes", MaxNameLen))
	}
	switch a.Stream {
	case "", StreamMain, StreamSub:
	default:
		errs = append(errs, fmt.Errorf("stream %q: want main or sub", a.Stream))
	}
	return errors.Join(errs...)
}

// WHEPResult is the box's answer, and what the viewer gets.
type WHEPResult struct {
	Session string `json:"session"`
	Answer  string `json:"answer"` // SDP
	// Stream is the stream sent: StreamMain or StreamSub.
	Stream string `json:"stream,omitempty"`
	// Codec is the video codec sent: "H264" or "H265".
	Codec string `json:"codec,omitempty"`
	// Frames is FramesAll, or FramesReference when the camera's B-frames
	// are left out (a browser cannot reorder them): the picture moves at
	// the rate of the camera's other frames.
	Frames string `json:"frames,omitempty"`
	// Note says why the viewer gets something other than what it asked
	// for (one of the Note* codes), for the console to explain; empty
	// when it gets what it asked for, whole.
	Note string `json:"note,omitempty"`
	// Audio is the camera's audio sent with the video ("PCMA" or
	// "PCMU"); empty for none.
	Audio string `json:"audio,omitempty"`
	// FPS is the frame rate the viewer should decode (that of the frames
	// sent), as far as the box knows it; 0 if not yet.
	FPS float64 `json:"fps,omitempty"`
}

// WHEPStopArgs ends a viewer's session.
type WHEPStopArgs struct {
	Session string `json:"session"`
}

// Validate checks the arguments on their own.
func (a WHEPStopArgs) Validate() error {
	if err := ValidateID(a.Session); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	return nil
}

// Event types of the camera feature.
const (
	EventCameraOnline  = "camera.online"  // data: CameraState
	EventCameraOffline = "camera.offline" // data: CameraState
	EventCameraViewed  = "camera.viewed"  // data: Viewing
)

// CameraState is a camera's reachability as the box sees it.
type CameraState struct {
	Camera string `json:"camera"`
	// Stream is StreamSub for the camera's sub stream; empty for the main
	// one.
	Stream string `json:"stream,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Viewing is one viewer's session, recorded when it ends: who watched
// which camera, from when to when, over what.
type Viewing struct {
	Camera string    `json:"camera"`
	Viewer string    `json:"viewer"`
	Via    string    `json:"via"` // rtsp or webrtc
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Bytes  uint64    `json:"bytes,omitempty"`
}
