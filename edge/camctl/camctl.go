package camctl

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dalaba/dalaba/devices/camera/onvif"
	"github.com/dalaba/dalaba/edge/command"
	"github.com/dalaba/dalaba/protocol"
)

// Deadlines of the calls to a camera: PTZ must feel immediate to the
// official pressing an arrow, and a camera that takes longer is not
// answering; a still of a sub stream is small.
const (
	ptzDeadline      = 2 * time.Second
	stopDeadline     = time.Second
	onvifDeadline    = 8 * time.Second
	snapshotDeadline = 8 * time.Second
	defaultMoveTime  = time.Second
)

// Errors a command returns, wrapped.
var (
	ErrUnknownCamera = errors.New("no such camera")
	ErrNoONVIF       = errors.New("the camera has no ONVIF address in the desired state")
)

// Config says where discovery probes go.
type Config struct {
	// Discovery is the probes' target: "" for the LAN's multicast group,
	// or a host:port.
	Discovery string
	// Interface sends them out of that interface; "" lets the system pick.
	Interface string
}

// Recorder appends an event to the outbox; it returns once durable.
type Recorder func(ctx context.Context, typ string, prio protocol.Priority, data any) error

// Deps are what the Controller is given.
type Deps struct {
	Logger *slog.Logger
	// Record gets camera.discovered events; nil drops them.
	Record Recorder
	// HTTP reaches the cameras; nil is a client of its own.
	HTTP *http.Client
}

// Controller runs the ONVIF commands.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	record Recorder
	http   *http.Client

	// allowLocal lets the cameras be where no village camera is (the box
	// itself, link-local, ...): the desired state's allow_local_targets.
	allowLocal atomic.Bool

	mu   sync.Mutex
	cams map[string]protocol.Camera
	// services, per camera id: where its media and PTZ services are,
	// learnt at its first command (they do not move).
	services map[string]onvif.Services
	// stopped, per camera id: when the township issued the latest stop
	// seen. A stop goes on the control lane and a move on the slow one,
	// so a stop can run before the move it was meant to end; the issue
	// times, from the township's one clock, put them back in order.
	stopped map[string]time.Time
}

// New validates cfg; it starts nothing.
func New(cfg Config, deps Deps) (*Controller, error) {
	if cfg.Discovery != "" {
		if _, err := url.Parse("udp://" + cfg.Discovery); err != nil {
			return nil, fmt.Errorf("camctl: discovery %q: %w", cfg.Discovery, err)
		}
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Controller{cfg: cfg, log: log.With("component", "camctl"), record: deps.Record, http: deps.HTTP,
		cams: map[string]protocol.Camera{}, services: map[string]onvif.Services{}, stopped: map[string]time.Time{}}
	if c.http == nil {
		// The address dialled is checked, not only the name given: a
		// camera's ONVIF URL (or one a device announced) must not lead
		// the box to its own ports or a cloud's metadata service.
		d := &net.Dialer{Timeout: 5 * time.Second}
		c.http = &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				conn, err := d.DialContext(ctx, network, addr)
				if err != nil || c.allowLocal.Load() {
					return conn, err
				}
				if ap, err := netip.ParseAddrPort(conn.RemoteAddr().String()); err == nil {
					if err := protocol.CheckCameraIP(ap.Addr()); err != nil {
						conn.Close()
						return nil, fmt.Errorf("camctl: %s: %w", addr, err)
					}
				}
				return conn, nil
			},
			MaxIdleConnsPerHost: 2,
		}}
	}
	return c, nil
}

// SetCameras takes the cameras of a new desired state.
func (c *Controller) SetCameras(cs protocol.Cameras) {
	c.allowLocal.Store(cs.AllowLocalTargets)
	m := make(map[string]protocol.Camera, len(cs.Cameras))
	for _, cam := range cs.Cameras {
		m[cam.ID] = cam
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, old := range c.cams {
		if n, ok := m[id]; !ok || n.ONVIF == nil || old.ONVIF == nil || *n.ONVIF != *old.ONVIF || n.Username != old.Username {
			delete(c.services, id)
		}
		if _, ok := m[id]; !ok {
			delete(c.stopped, id)
		}
	}
	c.cams = m
}

// Register gives the box's command runner the camera commands.
func (c *Controller) Register(r *command.Runner) {
	command.Register(r, protocol.CmdCameraDiscover, command.Slow, func(ctx context.Context, _ protocol.Command, a protocol.DiscoverArgs) (any, error) {
		return c.Discover(ctx, a)
	})
	command.Register(r, protocol.CmdCameraONVIF, command.Slow, func(ctx context.Context, _ protocol.Command, a protocol.ONVIFArgs) (any, error) {
		return c.Read(ctx, a)
	})
	command.RegisterRouted(r, protocol.CmdCameraPTZ, func(a protocol.PTZArgs) command.Lane {
		if a.Action == protocol.PTZStop {
			return command.Control
		}
		return command.Slow
	}, func(ctx context.Context, cmd protocol.Command, a protocol.PTZArgs) (any, error) {
		return nil, c.PTZ(ctx, cmd.IssuedAt, a)
	})
	command.Register(r, protocol.CmdCameraSnapshot, command.Slow, func(ctx context.Context, _ protocol.Command, a protocol.SnapshotArgs) (any, error) {
		return c.Snapshot(ctx, a)
	})
}

// Discover probes the LAN and records what answered as an event.
func (c *Controller) Discover(ctx context.Context, a protocol.DiscoverArgs) (protocol.DiscoverResult, error) {
	wait := time.Duration(cmp.Or(a.WaitMs, 2000)) * time.Millisecond
	found, err := onvif.Probe(ctx, onvif.ProbeConfig{Target: c.cfg.Discovery, Interface: c.cfg.Interface, Wait: wait})
	if err != nil {
		return protocol.DiscoverResult{}, fmt.Errorf("camctl: discover: %w", err)
	}
	res := protocol.DiscoverResult{Devices: []protocol.DiscoveredCamera{}}
	for _, f := range found {
		if len(res.Devices) == protocol.MaxDiscovered {
			break
		}
		res.Devices = append(res.Devices, protocol.DiscoveredCamera{URL: f.XAddrs[0], Name: f.Name, Hardware: f.Hardware, Endpoint: f.Endpoint})
	}
	c.log.Info("cameras discovered", "devices", len(res.Devices))
	if c.record != nil {
		if err := c.record(ctx, protocol.EventCameraDiscovered, protocol.PriorityNotice, res); err != nil {
			c.log.Error("recording the discovery", "err", err)
		}
	}
	return res, nil
}

// client is an ONVIF client of a desired state's camera.
func (c *Controller) client(id string) (*onvif.Client, protocol.Camera, error) {
	c.mu.Lock()
	cam, ok := c.cams[id]
	c.mu.Unlock()
	switch {
	case !ok:
		return nil, cam, fmt.Errorf("%w: %q", ErrUnknownCamera, id)
	case cam.ONVIF == nil:
		return nil, cam, fmt.Errorf("camera %q: %w", id, ErrNoONVIF)
	}
	return &onvif.Client{URL: cam.ONVIF.URL, Username: cam.Username, Password: cam.Password, HTTP: c.http}, cam, nil
}

// services are where a camera's services are, read once.
func (c *Controller) servicesOf(ctx context.Context, id string, cl *onvif.Client) (onvif.Services, error) {
	c.mu.Lock()
	s, ok := c.services[id]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := cl.Services(ctx)
	if err != nil {
		return s, err
	}
	c.mu.Lock()
	c.services[id] = s
	c.mu.Unlock()
	return s, nil
}

// Read reads a camera's ONVIF services: a desired state's, or one given
// by its address and credentials.
func (c *Controller) Read(ctx context.Context, a protocol.ONVIFArgs) (protocol.ONVIFResult, error) {
	ctx, cancel := context.WithTimeout(ctx, onvifDeadline)
	defer cancel()
	cl := &onvif.Client{URL: a.URL, Username: a.Username, Password: a.Password, HTTP: c.http}
	if a.Camera != "" {
		var err error
		if cl, _, err = c.client(a.Camera); err != nil {
			return protocol.ONVIFResult{}, fmt.Errorf("camctl: %w", err)
		}
	}
	info, err := cl.DeviceInformation(ctx)
	if err != nil {
		return protocol.ONVIFResult{}, fmt.Errorf("camctl: %w", err)
	}
	svc, err := cl.Services(ctx)
	if err != nil {
		return protocol.ONVIFResult{}, fmt.Errorf("camctl: %w", err)
	}
	ps, err := cl.Profiles(ctx, svc)
	if err != nil {
		return protocol.ONVIFResult{}, fmt.Errorf("camctl: %w", err)
	}
	res := protocol.ONVIFResult{Manufacturer: info.Manufacturer, Model: info.Model, Firmware: info.FirmwareVersion,
		Serial: info.SerialNumber, PTZ: svc.PTZ != "", Profiles: []protocol.ONVIFProfile{}}
	for _, p := range ps {
		q := protocol.ONVIFProfile{Token: p.Token, Name: p.Name, Encoding: p.Encoding, Width: p.Width, Height: p.Height, FPS: p.FPS, Kbps: p.Kbps}
		if q.StreamURL, err = cl.StreamURI(ctx, svc, p.Token); err != nil {
			c.log.Warn("a profile without a stream URI", "profile", p.Token, "err", err)
		}
		q.StreamURL = withoutUser(q.StreamURL)
		if q.SnapshotURL, err = cl.SnapshotURI(ctx, svc, p.Token); err != nil {
			c.log.Debug("a profile without a snapshot URI", "profile", p.Token, "err", err)
		}
		res.Profiles = append(res.Profiles, q)
	}
	res.MainURL, res.SubURL = mainAndSub(res.Profiles)
	if res.PTZ && len(ps) > 0 {
		if presets, err := cl.Presets(ctx, svc, ps[0].Token); err == nil {
			for _, p := range presets {
				res.Presets = append(res.Presets, protocol.PTZPreset{Token: p.Token, Name: p.Name})
			}
		}
	}
	return res, nil
}

// mainAndSub picks the profiles for the main and the sub stream: the
// first one (cameras list the main stream first), and the smallest H.264
// one after it.
func mainAndSub(ps []protocol.ONVIFProfile) (string, string) {
	if len(ps) == 0 {
		return "", ""
	}
	main, sub := ps[0].StreamURL, ""
	best := 0
	for _, p := range ps[1:] {
		if p.Encoding == "H264" && p.StreamURL != "" && (best == 0 || p.Width*p.Height < best) {
			sub, best = p.StreamURL, p.Width*p.Height
		}
	}
	return main, sub
}

// withoutUser drops the credentials some cameras put in their URIs: they
// go in the camera's username and password.
func withoutUser(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}

// profile is the media profile PTZ and snapshots use: the desired
// state's, or the camera's first (PTZ) or smallest (snapshots).
func (c *Controller) profile(ctx context.Context, cl *onvif.Client, cam protocol.Camera, svc onvif.Services, smallest bool) (string, error) {
	if cam.ONVIF.Profile != "" && !smallest {
		return cam.ONVIF.Profile, nil
	}
	ps, err := cl.Profiles(ctx, svc)
	if err != nil {
		return "", err
	}
	if len(ps) == 0 {
		return "", errors.New("the camera has no media profile")
	}
	if !smallest {
		return ps[0].Token, nil
	}
	return slices.MinFunc(ps, func(a, b onvif.Profile) int { return cmp.Compare(a.Width*a.Height, b.Width*b.Height) }).Token, nil
}

// PTZ turns or zooms a camera, stops it, or sends it to a preset.
func (c *Controller) PTZ(ctx context.Context, issued time.Time, a protocol.PTZArgs) error {
	d := ptzDeadline
	if a.Action == protocol.PTZStop {
		d = stopDeadline
		c.noteStop(a.Camera, issued)
	} else if c.stoppedSince(a.Camera, issued) {
		// A stop issued after this move already ran: making the move now
		// would leave the camera turning.
		c.log.Info("ptz superseded by a later stop", "camera_id", a.Camera, "action", a.Action)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	cl, cam, err := c.client(a.Camera)
	if err != nil {
		return fmt.Errorf("camctl: ptz: %w", err)
	}
	svc, err := c.servicesOf(ctx, a.Camera, cl)
	if err != nil {
		return fmt.Errorf("camctl: ptz: %w", err)
	}
	prof, err := c.profile(ctx, cl, cam, svc, false)
	if err != nil {
		return fmt.Errorf("camctl: ptz: %w", err)
	}
	// The point of no return: a move that expired is not made.
	if err := command.Commit(ctx); err != nil {
		return err
	}
	switch a.Action {
	case protocol.PTZMove:
		t := defaultMoveTime
		if a.TimeoutMs > 0 {
			t = time.Duration(a.TimeoutMs) * time.Millisecond
		}
		err = cl.ContinuousMove(ctx, svc, prof, onvif.Move{Pan: a.Pan, Tilt: a.Tilt, Zoom: a.Zoom, Timeout: t})
	case protocol.PTZStop:
		err = cl.Stop(ctx, svc, prof)
	case protocol.PTZGoPreset:
		err = cl.GotoPreset(ctx, svc, prof, a.Preset)
	}
	if err != nil {
		return fmt.Errorf("camctl: ptz %s: %w", a.Action, err)
	}
	c.log.Info("ptz", "camera_id", a.Camera, "action", a.Action, "pan", a.Pan, "tilt", a.Tilt, "zoom", a.Zoom, "preset", a.Preset)
	if a.Action != protocol.PTZStop && c.stoppedSince(a.Camera, issued) {
		// A later stop ran while this move was on its way to the camera
		// and may have reached it first: stop again, after the move.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopDeadline)
		defer cancel()
		if err := cl.Stop(sctx, svc, prof); err != nil {
			return fmt.Errorf("camctl: ptz: stopping after a move a later stop overtook: %w", err)
		}
		c.log.Info("ptz stopped again after a move a later stop overtook", "camera_id", a.Camera)
	}
	return nil
}

// noteStop records a stop issued at issued for camera id.
func (c *Controller) noteStop(id string, issued time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if issued.After(c.stopped[id]) {
		c.stopped[id] = issued
	}
}

// stoppedSince reports whether a stop issued after issued has been seen
// for camera id.
func (c *Controller) stoppedSince(id string, issued time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopped[id].After(issued)
}

// Snapshot takes a still of a camera, from its smallest profile, so that
// it fits a command result.
func (c *Controller) Snapshot(ctx context.Context, a protocol.SnapshotArgs) (protocol.SnapshotResult, error) {
	ctx, cancel := context.WithTimeout(ctx, snapshotDeadline)
	defer cancel()
	cl, cam, err := c.client(a.Camera)
	if err != nil {
		return protocol.SnapshotResult{}, fmt.Errorf("camctl: snapshot: %w", err)
	}
	svc, err := c.servicesOf(ctx, a.Camera, cl)
	if err != nil {
		return protocol.SnapshotResult{}, fmt.Errorf("camctl: snapshot: %w", err)
	}
	prof, err := c.profile(ctx, cl, cam, svc, true)
	if err != nil {
		return protocol.SnapshotResult{}, fmt.Errorf("camctl: snapshot: %w", err)
	}
	uri, err := cl.SnapshotURI(ctx, svc, prof)
	if err != nil {
		return protocol.SnapshotResult{}, fmt.Errorf("camctl: snapshot: %w", err)
	}
	img, ct, err := cl.Snapshot(ctx, uri, protocol.MaxSnapshot)
	if err != nil {
		return protocol.SnapshotResult{}, fmt.Errorf("camctl: snapshot: %w", err)
	}
	return protocol.SnapshotResult{ContentType: ct, Image: img, Profile: prof}, nil
}
