package onvif

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DeviceInfo is what GetDeviceInformation tells.
type DeviceInfo struct {
	Manufacturer    string `xml:"Manufacturer"`
	Model           string `xml:"Model"`
	FirmwareVersion string `xml:"FirmwareVersion"`
	SerialNumber    string `xml:"SerialNumber"`
	HardwareID      string `xml:"HardwareId"`
}

// DeviceInformation reads the camera's make, model and firmware.
func (c *Client) DeviceInformation(ctx context.Context) (DeviceInfo, error) {
	var out DeviceInfo
	err := c.call(ctx, c.URL, `<tds:GetDeviceInformation/>`, &out)
	return out, err
}

// Services are the addresses of the camera's services; PTZ is empty for a
// camera that cannot turn.
type Services struct {
	Media, PTZ string
}

// Services reads where the media and PTZ services are (GetCapabilities).
// A camera that names a host other than the one it was reached at (its
// own idea of its address, behind NAT or with two interfaces) is taken at
// the address it was reached at.
func (c *Client) Services(ctx context.Context) (Services, error) {
	var out struct {
		Capabilities struct {
			Media struct {
				XAddr string `xml:"XAddr"`
			} `xml:"Media"`
			PTZ struct {
				XAddr string `xml:"XAddr"`
			} `xml:"PTZ"`
		} `xml:"Capabilities"`
	}
	if err := c.call(ctx, c.URL, `<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>`, &out); err != nil {
		return Services{}, err
	}
	s := Services{Media: c.rebase(out.Capabilities.Media.XAddr), PTZ: c.rebase(out.Capabilities.PTZ.XAddr)}
	if s.Media == "" {
		s.Media = c.URL // many cameras serve every service at one address
	}
	return s, nil
}

// rebase keeps the path of a service address on the device URL's host.
func (c *Client) rebase(addr string) string {
	if addr == "" {
		return ""
	}
	u, err := url.Parse(strings.TrimSpace(addr))
	base, err2 := url.Parse(c.URL)
	if err != nil || err2 != nil {
		return ""
	}
	u.Scheme, u.Host = base.Scheme, base.Host
	return u.String()
}

// Profile is one of the camera's media profiles: a stream it encodes.
type Profile struct {
	Token    string
	Name     string
	Encoding string // "H264", "H265", "JPEG"
	Width    int
	Height   int
	FPS      int
	Kbps     int
	PTZ      bool // the profile has a PTZ configuration
}

// Profiles reads the camera's media profiles, in its order (the main
// stream first, as cameras list them).
func (c *Client) Profiles(ctx context.Context, s Services) ([]Profile, error) {
	var out struct {
		Profiles []struct {
			Token string `xml:"token,attr"`
			Name  string `xml:"Name"`
			Video *struct {
				Encoding   string `xml:"Encoding"`
				Resolution struct {
					Width  int `xml:"Width"`
					Height int `xml:"Height"`
				} `xml:"Resolution"`
				RateControl struct {
					FrameRateLimit int `xml:"FrameRateLimit"`
					BitrateLimit   int `xml:"BitrateLimit"`
				} `xml:"RateControl"`
			} `xml:"VideoEncoderConfiguration"`
			PTZ *struct{} `xml:"PTZConfiguration"`
		} `xml:"Profiles"`
	}
	if err := c.call(ctx, s.Media, `<trt:GetProfiles/>`, &out); err != nil {
		return nil, err
	}
	ps := make([]Profile, 0, len(out.Profiles))
	for _, p := range out.Profiles {
		q := Profile{Token: p.Token, Name: p.Name, PTZ: p.PTZ != nil}
		if v := p.Video; v != nil {
			q.Encoding, q.Width, q.Height = strings.ToUpper(v.Encoding), v.Resolution.Width, v.Resolution.Height
			q.FPS, q.Kbps = v.RateControl.FrameRateLimit, v.RateControl.BitrateLimit
		}
		ps = append(ps, q)
	}
	return ps, nil
}

// StreamURI reads a profile's RTSP address (RTP over RTSP, unicast).
func (c *Client) StreamURI(ctx context.Context, s Services, profile string) (string, error) {
	var out struct {
		URI string `xml:"MediaUri>Uri"`
	}
	err := c.call(ctx, s.Media, `<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>`+
		`<tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>`+
		`<trt:ProfileToken>`+escape(profile)+`</trt:ProfileToken></trt:GetStreamUri>`, &out)
	return strings.TrimSpace(out.URI), err
}

// SnapshotURI reads where a profile's still image is (HTTP).
func (c *Client) SnapshotURI(ctx context.Context, s Services, profile string) (string, error) {
	var out struct {
		URI string `xml:"MediaUri>Uri"`
	}
	err := c.call(ctx, s.Media, `<trt:GetSnapshotUri><trt:ProfileToken>`+escape(profile)+`</trt:ProfileToken></trt:GetSnapshotUri>`, &out)
	return strings.TrimSpace(out.URI), err
}

// ErrTooBig is a snapshot over the limit asked for.
var ErrTooBig = errors.New("onvif: the snapshot is larger than allowed")

// Snapshot fetches a still image (a JPEG) from uri with the camera's
// credentials (HTTP basic, or digest when the camera asks for it), at most
// limit bytes. It returns the image and its content type.
func (c *Client) Snapshot(ctx context.Context, uri string, limit int) ([]byte, string, error) {
	get := func(auth string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
		if err != nil {
			return nil, err
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		} else if c.Username != "" {
			req.SetBasicAuth(c.Username, c.Password)
		}
		return c.http().Do(req)
	}
	resp, err := get("")
	if err != nil {
		return nil, "", fmt.Errorf("onvif: snapshot: %w", err)
	}
	if resp.StatusCode == http.StatusUnauthorized && c.Username != "" {
		ch := resp.Header.Get("WWW-Authenticate")
		resp.Body.Close()
		if !strings.HasPrefix(strings.ToLower(ch), "digest ") {
			return nil, "", ErrUnauthorized
		}
		u, _ := url.Parse(uri)
		if resp, err = get(digestAuth(ch, c.Username, c.Password, http.MethodGet, u.RequestURI())); err != nil {
			return nil, "", fmt.Errorf("onvif: snapshot: %w", err)
		}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, "", ErrUnauthorized
	case resp.StatusCode != http.StatusOK:
		return nil, "", fmt.Errorf("onvif: snapshot: HTTP %d", resp.StatusCode)
	}
	img, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return nil, "", fmt.Errorf("onvif: snapshot: %w", err)
	}
	if len(img) > limit {
		return nil, "", fmt.Errorf("%w (%d bytes)", ErrTooBig, limit)
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = http.DetectContentType(img)
	}
	return img, ct, nil
}

// Move is a continuous PTZ move: velocities from -1 to 1 (pan right, tilt
// up, zoom in positive) for at most Timeout, after which the camera stops
// on its own (0: the camera's default).
type Move struct {
	Pan, Tilt, Zoom float64
	Timeout         time.Duration
}

// ContinuousMove starts a move of the profile's PTZ unit.
func (c *Client) ContinuousMove(ctx context.Context, s Services, profile string, m Move) error {
	if s.PTZ == "" {
		return errNoPTZ
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	var b strings.Builder
	b.WriteString(`<tptz:ContinuousMove><tptz:ProfileToken>` + escape(profile) + `</tptz:ProfileToken><tptz:Velocity>`)
	if m.Pan != 0 || m.Tilt != 0 {
		b.WriteString(`<tt:PanTilt x="` + f(m.Pan) + `" y="` + f(m.Tilt) + `"/>`)
	}
	if m.Zoom != 0 {
		b.WriteString(`<tt:Zoom x="` + f(m.Zoom) + `"/>`)
	}
	b.WriteString(`</tptz:Velocity>`)
	if m.Timeout > 0 {
		b.WriteString(`<tptz:Timeout>PT` + strconv.FormatFloat(m.Timeout.Seconds(), 'f', 1, 64) + `S</tptz:Timeout>`)
	}
	b.WriteString(`</tptz:ContinuousMove>`)
	return c.call(ctx, s.PTZ, b.String(), nil)
}

// Stop stops the profile's PTZ unit, pan, tilt and zoom.
func (c *Client) Stop(ctx context.Context, s Services, profile string) error {
	if s.PTZ == "" {
		return errNoPTZ
	}
	return c.call(ctx, s.PTZ, `<tptz:Stop><tptz:ProfileToken>`+escape(profile)+`</tptz:ProfileToken>`+
		`<tptz:PanTilt>true</tptz:PanTilt><tptz:Zoom>true</tptz:Zoom></tptz:Stop>`, nil)
}

// Preset is a position the camera remembers.
type Preset struct {
	Token, Name string
}

// Presets lists the profile's presets.
func (c *Client) Presets(ctx context.Context, s Services, profile string) ([]Preset, error) {
	if s.PTZ == "" {
		return nil, errNoPTZ
	}
	var out struct {
		Presets []struct {
			Token string `xml:"token,attr"`
			Name  string `xml:"Name"`
		} `xml:"Preset"`
	}
	if err := c.call(ctx, s.PTZ, `<tptz:GetPresets><tptz:ProfileToken>`+escape(profile)+`</tptz:ProfileToken></tptz:GetPresets>`, &out); err != nil {
		return nil, err
	}
	ps := make([]Preset, 0, len(out.Presets))
	for _, p := range out.Presets {
		ps = append(ps, Preset{Token: p.Token, Name: p.Name})
	}
	return ps, nil
}

// GotoPreset turns the profile's PTZ unit to a preset.
func (c *Client) GotoPreset(ctx context.Context, s Services, profile, preset string) error {
	if s.PTZ == "" {
		return errNoPTZ
	}
	return c.call(ctx, s.PTZ, `<tptz:GotoPreset><tptz:ProfileToken>`+escape(profile)+`</tptz:ProfileToken>`+
		`<tptz:PresetToken>`+escape(preset)+`</tptz:PresetToken></tptz:GotoPreset>`, nil)
}

// ErrNoPTZ is a PTZ request to a camera without a PTZ service.
var ErrNoPTZ = errors.New("onvif: the camera has no PTZ service")

var errNoPTZ = ErrNoPTZ
