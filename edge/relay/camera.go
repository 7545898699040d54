package relay

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"syscall"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"github.com/dalaba/dalaba/protocol"
)

// Camera is one camera the box relays; it comes from the desired state.
type Camera struct {
	// ID names the camera on the box: rtsp://BOX:PORT/<ID>. Letters,
	// digits, '-' and '_', at most 64.
	ID string `json:"id"`
	// Name is what a person reads ("村委会门口"); optional.
	Name string `json:"name,omitempty"`
	// URL is the camera's stream, rtsp://host[:port]/path (or rtsps://),
	// without credentials: they go in Username and Password.
	URL string `json:"url"`
	// Username and Password are the camera's credentials, if it wants some.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// Transport is how the box pulls the camera: "tcp" (the default:
	// interleaved, survives NAT and loss), "udp", or "auto" (UDP, then
	// TCP if no packet arrives).
	Transport string `json:"transport,omitempty"`
	// AlwaysOn pulls the camera for as long as the relay runs, readers or
	// not, so the first viewer waits for nothing.
	AlwaysOn bool `json:"always_on,omitempty"`
	// AllowLocal lets the URL name the box itself, link-local or other
	// addresses no camera has (protocol.CheckCameraIP): the township's
	// allowance, for tests and demos. Without it such a URL is refused,
	// and so is a name that resolves to such an address when dialled, so
	// the relay's readers cannot probe the box's own ports or the cloud's
	// metadata service through it.
	AllowLocal bool `json:"allow_local,omitempty"`
}

// Transports a Camera may name.
const (
	TransportTCP  = "tcp"
	TransportUDP  = "udp"
	TransportAuto = "auto"
)

// maxIDLen bounds Camera.ID: it is a URL path segment and a log key.
const maxIDLen = 64

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Validate reports every problem of c at once.
func (c Camera) Validate() error {
	var errs []error
	switch {
	case c.ID == "":
		errs = append(errs, errors.New("id is empty"))
	case len(c.ID) > maxIDLen:
		errs = append(errs, fmt.Errorf("id %q is longer than %d", c.ID, maxIDLen))
	case !idPattern.MatchString(c.ID):
		errs = append(errs, fmt.Errorf("id %q has characters other than letters, digits, '-' and '_'", c.ID))
	}
	if err := checkURL(c.URL, c.AllowLocal); err != nil {
		errs = append(errs, err)
	}
	if c.Username == "" && c.Password != "" {
		errs = append(errs, errors.New("a password without a username"))
	}
	switch c.Transport {
	case "", TransportTCP, TransportUDP, TransportAuto:
	default:
		errs = append(errs, fmt.Errorf("transport %q is not tcp, udp or auto", c.Transport))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("camera %q: %w", c.ID, err)
	}
	return nil
}

func checkURL(raw string, allowLocal bool) error {
	if raw == "" {
		return errors.New("url is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		return fmt.Errorf("url %q: scheme is not rtsp or rtsps", redact(raw))
	}
	if u.Hostname() == "" {
		return fmt.Errorf("url %q: no host", redact(raw))
	}
	if u.User != nil {
		// One place for secrets: a URL ends up in logs and events.
		return fmt.Errorf("url %q: credentials go in username and password, not in the url", redact(raw))
	}
	if err := protocol.CheckCameraHost(u.Hostname()); err != nil && !allowLocal {
		return fmt.Errorf("url %q: %w", raw, err)
	}
	return nil
}

// refuseLocal is the dialer's check of the address a camera's host name
// resolved to, just before the connection is made: a name in the LAN's
// DNS (or /etc/hosts) that points at the box itself is refused like the
// literal address.
func refuseLocal(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("relay: dialling %q: %w", address, err)
	}
	return protocol.CheckCameraIP(ap.Addr())
}

// redact drops the user info of a URL for logs and errors.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}

// protocol is the gortsplib transport for c.Transport; nil is "auto".
func (c Camera) protocol() *gortsplib.Protocol {
	var p gortsplib.Protocol
	switch c.Transport {
	case TransportUDP:
		p = gortsplib.ProtocolUDP
	case TransportAuto:
		return nil
	default:
		p = gortsplib.ProtocolTCP
	}
	return &p
}

// validateCameras checks a whole set: each camera and unique IDs.
func validateCameras(cams []Camera) error {
	var errs []error
	seen := make(map[string]bool, len(cams))
	for i, c := range cams {
		if err := c.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("camera %d: %w", i, err))
			continue
		}
		if seen[c.ID] {
			errs = append(errs, fmt.Errorf("camera %d: id %q appears twice", i, c.ID))
		}
		seen[c.ID] = true
	}
	return errors.Join(errs...)
}

// CodecName names a stream's format for logs and refusals ("H264",
// "H265", "MPEG4-GENERIC"): the encoding name of its RTP map, or its Go
// type when it has none.
func CodecName(f format.Format) string {
	if name, _, _ := strings.Cut(f.RTPMap(), "/"); name != "" {
		return name
	}
	return fmt.Sprintf("%T", f)
}
