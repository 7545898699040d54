package relay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bluenviron/gortsplib/v5"

	"github.com/dalaba/dalaba/internal/rtspsock"
)

// Relay re-serves cameras over RTSP and to subscribers.
type Relay struct {
	cfg    Config
	log    *slog.Logger
	events func(Event)
	sock   *rtspsock.Sockets
	srv    *gortsplib.Server // set by Run before any source runs
	total  atomic.Int64      // readers on the box
	// The reader limits, from Config and then SetLimits.
	perCamera, perBox atomic.Int64

	mu      sync.Mutex
	sources map[string]*source
	runCtx  context.Context // while Run runs: parent of the sources'
	wg      sync.WaitGroup  // the sources' goroutines
	ran     bool
}

// SetLimits changes the reader limits for readers from now on (a new
// desired state); 0 keeps a limit as it is. Readers already in stay.
func (r *Relay) SetLimits(perCamera, perBox int) {
	if perCamera > 0 {
		r.perCamera.Store(int64(perCamera))
	}
	if perBox > 0 {
		r.perBox.Store(int64(perBox))
	}
}

// CameraStats is what Stats tells of a camera's stream.
type CameraStats struct {
	ID        string
	Stream    string // StreamMain or StreamSub
	Readers   int    // RTSP sessions and subscriptions
	Connected bool   // the upstream pull is up
	Packets   uint64 // RTP packets received from the camera and passed on
	Bytes     uint64 // their size, RTP headers included
	Dropped   uint64 // packets the RTSP stream refused (too big to pass through)
	LastError string // why the last pull failed, if it did
}

// New validates cfg and binds the RTSP port (and the UDP pair, unless
// TCPOnly), so Addr is known at once; Run serves.
func New(cfg Config, deps Deps) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var sock *rtspsock.Sockets
	var err error
	if cfg.TCPOnly {
		sock, err = rtspsock.BindTCP(cfg.Listen)
	} else {
		sock, err = rtspsock.Bind(cfg.Listen, cfg.RTPPort)
	}
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	r := &Relay{
		cfg:     cfg,
		log:     log.With("component", "relay"),
		events:  deps.Events,
		sock:    sock,
		sources: make(map[string]*source),
	}
	r.perCamera.Store(int64(cfg.MaxReadersPerCamera))
	r.perBox.Store(int64(cfg.MaxReaders))
	return r, nil
}

// Addr is the RTSP address: the port chosen for ":0".
func (r *Relay) Addr() *net.TCPAddr { return r.sock.TCPAddr() }

// URL is where a reader finds a camera's stream, rtsp://HOST:PORT/<path>
// (see Path), without credentials; an unspecified host is named by
// loopback.
func (r *Relay) URL(path string) string {
	a := r.Addr()
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	u := url.URL{Scheme: "rtsp", Host: net.JoinHostPort(host, strconv.Itoa(a.Port)), Path: "/" + path}
	return u.String()
}

// Close releases the sockets of a Relay whose Run never ran; once Run
// has started, ending its context is what stops the relay.
func (r *Relay) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.ran {
		r.ran = true
		r.sock.Close()
	}
	return nil
}

// SetCameras replaces the set of cameras. A camera whose config is
// unchanged keeps its pull and readers; a removed or changed one is
// disconnected, its readers' sessions closed, before SetCameras returns.
// An invalid set is refused whole and changes nothing.
func (r *Relay) SetCameras(cams []Camera) error {
	if err := validateCameras(cams); err != nil {
		return fmt.Errorf("relay: set cameras: %w", err)
	}
	r.mu.Lock()
	next := make(map[string]*source, len(cams))
	for _, c := range cams {
		for stream, sc := range c.streams() {
			path := Path(c.ID, stream)
			if old, ok := r.sources[path]; ok && old.cam == sc {
				next[path] = old
				continue
			}
			s := newSource(r, sc, stream)
			next[path] = s
			if r.runCtx != nil {
				r.startLocked(s)
			}
		}
	}
	var gone []*source
	for id, old := range r.sources {
		if next[id] != old {
			gone = append(gone, old)
		}
	}
	r.sources = next
	r.mu.Unlock()

	for _, s := range gone {
		s.log.Info("camera removed")
		if s.cancel == nil { // never started: nobody but waiters to tell
			s.end()
			continue
		}
		s.cancel()
		<-s.done
	}
	return nil
}

// startLocked runs a source under Run's context; r.mu is held.
func (r *Relay) startLocked(s *source) {
	ctx, cancel := context.WithCancel(r.runCtx)
	s.cancel, s.done = cancel, make(chan struct{})
	r.wg.Go(func() {
		defer close(s.done)
		s.run(ctx)
	})
}

// Run serves RTSP readers and pulls cameras until ctx ends; then it
// drops every reader, stops every pull, releases the ports and returns
// nil; or it returns the error that stopped the server. It is called
// once.
func (r *Relay) Run(ctx context.Context) error {
	r.mu.Lock()
	ran := r.ran
	r.ran = true
	r.mu.Unlock()
	if ran {
		return errors.New("relay: Run called twice, or after Close")
	}
	tcp, rtp, _ := r.sock.Addrs()
	srv, err := r.sock.Serve(&handler{r: r})
	if err != nil {
		return fmt.Errorf("relay: start RTSP server: %w", err)
	}
	r.srv = srv
	r.log.Info("relay serving", "rtsp", tcp, "udp_rtp", rtp)

	// The server stops on its own only when its listener fails; its
	// goroutine ends when srv.Close returns at the latest.
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Wait() }()

	sctx, cancel := context.WithCancel(ctx)
	r.mu.Lock()
	r.runCtx = sctx
	for _, s := range r.sources {
		r.startLocked(s)
	}
	r.mu.Unlock()

	select {
	case <-ctx.Done():
	case err = <-srvDone:
		err = fmt.Errorf("relay: RTSP server stopped: %w", err)
		srvDone = nil
	}
	r.mu.Lock()
	r.runCtx = nil
	r.mu.Unlock()
	cancel()
	r.wg.Wait() // every pull closed, every stream's readers dropped
	srv.Close()
	if srvDone != nil {
		<-srvDone
	}
	r.log.Info("relay stopped")
	return err
}

// Stats returns each camera's counters, by ID.
func (r *Relay) Stats() []CameraStats {
	r.mu.Lock()
	srcs := make([]*source, 0, len(r.sources))
	for _, s := range r.sources {
		srcs = append(srcs, s)
	}
	r.mu.Unlock()
	out := make([]CameraStats, 0, len(srcs))
	for _, s := range srcs {
		s.mu.Lock()
		st := CameraStats{ID: s.cam.ID, Stream: s.kind, Readers: s.readers, Connected: s.stream != nil}
		if s.lastErr != nil {
			st.LastError = s.lastErr.Error()
		}
		s.mu.Unlock()
		st.Packets, st.Bytes, st.Dropped = s.packets.Load(), s.bytes.Load(), s.dropped.Load()
		out = append(out, st)
	}
	// The main stream before the sub stream of each camera.
	slices.SortFunc(out, func(a, b CameraStats) int {
		return cmp.Or(strings.Compare(a.ID, b.ID), strings.Compare(a.Stream, b.Stream))
	})
	return out
}

// Info is what is known of a camera's stream (path as in Path): while it
// is pulled, what its frames have shown so far; otherwise what its last
// pull showed (Known false if it never settled).
func (r *Relay) Info(path string) (StreamInfo, error) {
	src := r.lookup(path)
	if src == nil {
		return StreamInfo{}, fmt.Errorf("relay: info %q: %w", path, ErrUnknownCamera)
	}
	return src.currentInfo(), nil
}

func (r *Relay) lookup(id string) *source {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sources[id]
}

// room reports whether src could admit one more reader now.
func (r *Relay) room(src *source) error {
	src.mu.Lock()
	n := src.readers
	src.mu.Unlock()
	switch {
	case n >= int(r.perCamera.Load()):
		return fmt.Errorf("%w: camera %q has its %d readers already", ErrTooManyReaders, src.cam.ID, int(r.perCamera.Load()))
	case r.total.Load() >= r.perBox.Load():
		return fmt.Errorf("%w: the box has its %d readers already", ErrTooManyReaders, int(r.perBox.Load()))
	}
	return nil
}

// takeSlot counts a reader on the box if the box has room.
func (r *Relay) takeSlot() bool {
	for {
		n := r.total.Load()
		if n >= r.perBox.Load() {
			return false
		}
		if r.total.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (r *Relay) freeSlot() { r.total.Add(-1) }

func (r *Relay) emit(ev Event) {
	if r.events != nil {
		r.events(ev)
	}
}
