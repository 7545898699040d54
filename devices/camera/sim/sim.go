package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/bluenviron/gortsplib/v5"

	"github.com/dalaba/dalaba/internal/rtspsock"
)

// Defaults for Config.
const (
	DefaultListen = "127.0.0.1:0"
	DefaultPath   = "cam1"
	DefaultFPS    = 25
	// maxFPS bounds Config.FPS: more is no camera the box relays.
	maxFPS = 240
)

// Config says where the camera listens and what it shows.
type Config struct {
	// Listen is the RTSP (TCP) address, "127.0.0.1:0" by default (port 0
	// picks one; see Addr). The UDP ports for RTP and RTCP are an
	// even/odd pair picked on the same host.
	Listen string
	// Path is the stream's path, "cam1" by default: rtsp://HOST:PORT/cam1.
	Path string
	// Clip is the Annex-B H.264 or H.265 byte stream to loop; nil means
	// DefaultClip.
	Clip []byte
	// SubClip, when set, is a sub stream's clip (as Clip), served at
	// SubPath, Path+"/sub" by default: the camera's main and sub streams.
	SubClip []byte
	SubPath string
	// Audio, when set, is the camera's microphone: raw G.711 at 8 kHz,
	// mono (A-law, or µ-law with AudioMULaw), looped beside the main
	// stream's video in 20 ms packets.
	Audio      []byte
	AudioMULaw bool
	// ONVIF, when set, gives the camera its ONVIF face (see onvif.go).
	ONVIF *ONVIFConfig
	// FPS is the frame rate the clip is played at, DefaultFPS if 0.
	FPS int
	// Username and Password, when Username is set, are the credentials
	// readers must give (basic or digest); others get 401.
	Username, Password string
	// Logger gets the camera's events; nil discards them.
	Logger *slog.Logger
}

// Stats are what a camera counted since it started.
type Stats struct {
	Readers  int    // sessions playing now
	Sessions int    // sessions opened so far
	Frames   uint64 // access units sent to the stream (readers or not)
	Loops    uint64 // times the whole clip was sent
	Refused  int    // requests refused for wrong credentials
}

// Sim is a simulated RTSP camera.
type Sim struct {
	cfg   Config
	clip  *clip
	sub   *clip      // nil: no sub stream
	onvif *onvifFace // nil: none
	sock  *rtspsock.Sockets
	h     *handler
	log   *slog.Logger

	mu     sync.Mutex
	frames uint64
	loops  uint64
	ran    bool
}

// New validates cfg, parses the clip and binds the sockets, so Addr and
// URL are known at once; Run serves.
func New(cfg Config) (*Sim, error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	cfg.Path = strings.Trim(cfg.Path, "/")
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}
	if strings.ContainsAny(cfg.Path, "?#") {
		return nil, fmt.Errorf("camera sim: path %q has a query or fragment", cfg.Path)
	}
	if cfg.FPS == 0 {
		cfg.FPS = DefaultFPS
	}
	if cfg.FPS < 0 || cfg.FPS > maxFPS {
		return nil, fmt.Errorf("camera sim: %d fps is outside 1..%d", cfg.FPS, maxFPS)
	}
	if cfg.Username == "" && cfg.Password != "" {
		return nil, errors.New("camera sim: a password without a user name")
	}
	if cfg.Clip == nil {
		cfg.Clip = defaultClip
	}
	c, err := parseClip(cfg.Clip)
	if err != nil {
		return nil, fmt.Errorf("camera sim: %w", err)
	}
	var sub *clip
	paths := []string{cfg.Path}
	if cfg.SubClip != nil {
		if sub, err = parseClip(cfg.SubClip); err != nil {
			return nil, fmt.Errorf("camera sim: sub stream: %w", err)
		}
		cfg.SubPath = strings.Trim(cfg.SubPath, "/")
		if cfg.SubPath == "" {
			cfg.SubPath = cfg.Path + "/sub"
		}
		if cfg.SubPath == cfg.Path || strings.ContainsAny(cfg.SubPath, "?#") {
			return nil, fmt.Errorf("camera sim: sub path %q: not a path of its own", cfg.SubPath)
		}
		paths = append(paths, cfg.SubPath)
	}
	if len(cfg.Audio) > 0 && len(cfg.Audio) < audioPacket {
		return nil, fmt.Errorf("camera sim: audio of %d bytes: want at least one 20 ms packet (%d bytes)", len(cfg.Audio), audioPacket)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sock, err := rtspsock.Bind(cfg.Listen, 0)
	if err != nil {
		return nil, fmt.Errorf("camera sim: %w", err)
	}
	s := &Sim{
		cfg:  cfg,
		clip: c,
		sub:  sub,
		sock: sock,
		log:  log,
		h: &handler{
			ready:   make(chan struct{}),
			paths:   paths,
			user:    cfg.Username,
			pass:    cfg.Password,
			log:     log,
			readers: make(map[*gortsplib.ServerSession]struct{}),
		},
	}
	if cfg.ONVIF != nil {
		if s.onvif, err = newONVIF(s, *cfg.ONVIF); err != nil {
			sock.Close()
			return nil, fmt.Errorf("camera sim: %w", err)
		}
	}
	return s, nil
}

// Addr is the RTSP address: the port chosen for ":0".
func (s *Sim) Addr() *net.TCPAddr { return s.sock.TCPAddr() }

// URL is the stream's URL, rtsp://127.0.0.1:PORT/cam1, without
// credentials. A camera listening on all interfaces is named by the
// loopback address, which reaches it from this host.
func (s *Sim) URL() string { return s.url(s.cfg.Path) }

// SubURL is the sub stream's URL, "" without one.
func (s *Sim) SubURL() string {
	if s.sub == nil {
		return ""
	}
	return s.url(s.cfg.SubPath)
}

func (s *Sim) url(path string) string {
	a := s.Addr()
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "127.0.0.1" // "::" is dual stack in Go: this works for it too
	}
	u := url.URL{Scheme: "rtsp", Host: net.JoinHostPort(host, strconv.Itoa(a.Port)), Path: "/" + path}
	return u.String()
}

// Clip describes the clip the camera loops.
func (s *Sim) Clip() ClipInfo { return s.clip.info }

// Stats returns what was counted so far.
func (s *Sim) Stats() Stats {
	s.h.mu.Lock()
	st := Stats{Readers: len(s.h.readers), Sessions: s.h.sessions, Refused: s.h.refused}
	s.h.mu.Unlock()
	s.mu.Lock()
	st.Frames, st.Loops = s.frames, s.loops
	s.mu.Unlock()
	return st
}

// Close releases the sockets of a Sim whose Run never ran; once Run has
// started, ending its context is what stops the camera.
func (s *Sim) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ran {
		s.ran = true // so a later Run refuses, rather than serving closed sockets
		s.sock.Close()
		if s.onvif != nil {
			s.onvif.close()
		}
	}
	return nil
}

// Run serves until ctx ends, then drops every reader, releases the
// ports and returns nil; or it returns the error that stopped the
// server. It is called once.
func (s *Sim) Run(ctx context.Context) error {
	s.mu.Lock()
	ran := s.ran
	s.ran = true
	s.mu.Unlock()
	if ran {
		return errors.New("camera sim: Run called twice, or after Close")
	}

	_, rtp, _ := s.sock.Addrs()
	srv, err := s.sock.Serve(s.h)
	if err != nil {
		return fmt.Errorf("camera sim: start RTSP server: %w", err)
	}
	st := &gortsplib.ServerStream{Server: srv, Desc: s.description(s.clip, len(s.cfg.Audio) > 0)}
	if err := st.Initialize(); err != nil {
		srv.Close()
		return fmt.Errorf("camera sim: stream: %w", err)
	}
	streams := map[string]*gortsplib.ServerStream{s.cfg.Path: st}
	var subSt *gortsplib.ServerStream
	if s.sub != nil {
		subSt = &gortsplib.ServerStream{Server: srv, Desc: s.description(s.sub, false)}
		if err := subSt.Initialize(); err != nil {
			st.Close()
			srv.Close()
			return fmt.Errorf("camera sim: sub stream: %w", err)
		}
		streams[s.cfg.SubPath] = subSt
	}
	s.h.setStreams(streams)
	s.log.Info("camera serving", "url", s.URL(), "clip", s.clip.info.String(),
		"profile", s.clip.info.Profile, "fps", s.cfg.FPS, "udp_rtp", rtp, "sub", s.SubURL(), "audio", len(s.cfg.Audio) > 0)

	// The server stops on its own only on a fatal error (its listener
	// failing); its goroutine ends when srv.Close returns at the latest.
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Wait() }()

	pctx, cancel := context.WithCancel(ctx)
	onvifDone := make(chan struct{})
	if s.onvif != nil {
		go func() {
			defer close(onvifDone)
			s.onvif.run(pctx)
		}()
	} else {
		close(onvifDone)
	}
	players := 1
	playDone := make(chan error, 2)
	go func() { playDone <- s.play(pctx, st, s.clip, true) }()
	if subSt != nil {
		players++
		go func() { playDone <- s.play(pctx, subSt, s.sub, false) }()
	}

	select {
	case <-ctx.Done():
	case err = <-srvDone:
		err = fmt.Errorf("camera sim: RTSP server stopped: %w", err)
		srvDone = nil
	case err = <-playDone:
		players--
	}
	cancel()
	<-onvifDone
	for ; players > 0; players-- {
		if perr := <-playDone; err == nil {
			err = perr
		}
	}
	// New requests get 503 from here; then the readers are dropped and
	// the sockets closed, all before Run returns, so the address is free
	// for the camera's next life.
	s.h.setStreams(nil)
	st.Close()
	if subSt != nil {
		subSt.Close()
	}
	srv.Close()
	if srvDone != nil {
		<-srvDone
	}
	s.log.Info("camera stopped", "url", s.URL())
	return err
}
