package relay

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/pion/rtp"

	"github.com/dalaba/dalaba/devices/camera/sim"
)

// testLogger sends a log to the test's, at debug level.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// fixture reads a clip of the camera simulator's testdata.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "devices", "camera", "sim", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// camera is a simulated camera whose Run goes on in the background.
type camera struct {
	*sim.Sim
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// startCamera runs a simulated camera until stop or the test's end.
func startCamera(t testing.TB, cfg sim.Config) *camera {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t).With("component", "sim")
	}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &camera{Sim: s, cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- s.Run(ctx) }()
	t.Cleanup(func() { c.stop(t) })
	return c
}

// stop ends the camera's Run and waits for it: the camera "goes away".
func (c *camera) stop(t testing.TB) {
	t.Helper()
	c.once.Do(func() {
		c.cancel()
		select {
		case err := <-c.done:
			if err != nil {
				t.Errorf("camera Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("camera Run did not return")
		}
	})
}

// events records what the relay tells.
type events struct {
	mu  sync.Mutex
	evs []Event
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
}

func (e *events) of(typ string) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	for _, ev := range e.evs {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// running is a relay whose Run goes on in the background.
type running struct {
	*Relay
	ev     *events
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// quick is a config for tests: any port, short waits.
func quick() Config {
	return Config{
		Listen:       "127.0.0.1:0",
		Linger:       300 * time.Millisecond,
		BackoffMin:   50 * time.Millisecond,
		BackoffMax:   200 * time.Millisecond,
		DescribeWait: 3 * time.Second,
	}
}

// startRelay runs a relay with cams until stop or the test's end.
func startRelay(t testing.TB, cfg Config, cams ...Camera) *running {
	t.Helper()
	ev := &events{}
	r, err := New(cfg, Deps{Logger: testLogger(t), Events: ev.add})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := r.SetCameras(cams); err != nil {
		t.Fatalf("SetCameras: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr := &running{Relay: r, ev: ev, cancel: cancel, done: make(chan error, 1)}
	go func() { rr.done <- r.Run(ctx) }()
	t.Cleanup(func() { rr.stop(t) })
	return rr
}

func (r *running) stop(t testing.TB) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("relay Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("relay Run did not return")
		}
	})
}

func (r *running) stats(id string) CameraStats {
	for _, s := range r.Stats() {
		if s.ID == id {
			return s
		}
	}
	return CameraStats{}
}

// reader is a gortsplib client playing a stream: the packets it got and
// the access units they make.
type reader struct {
	c      *gortsplib.Client
	mu     sync.Mutex
	pkts   []*rtp.Packet
	aus    int
	closed chan error
}

// dial plays rawURL (credentials in it, if any) over TCP.
func dial(t testing.TB, rawURL string) (*reader, error) {
	t.Helper()
	u, err := base.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	proto := gortsplib.ProtocolTCP
	r := &reader{
		c:      &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto, ReadTimeout: 5 * time.Second},
		closed: make(chan error, 1),
	}
	if err := r.c.Start(); err != nil {
		return nil, err
	}
	desc, _, err := r.c.Describe(u)
	if err != nil {
		r.c.Close()
		return nil, err
	}
	var forma *format.H264
	medi := desc.FindFormat(&forma)
	if medi == nil {
		r.c.Close()
		t.Fatalf("no H.264 track in %+v", desc)
	}
	dec, err := forma.CreateDecoder()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		r.c.Close()
		return nil, err
	}
	r.c.OnPacketRTP(medi, forma, func(p *rtp.Packet) {
		cp := p.Clone()
		_, err := dec.Decode(p)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.pkts = append(r.pkts, cp)
		if err == nil {
			r.aus++
		} else if !errors.Is(err, rtph264.ErrMorePacketsNeeded) && !errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) {
			t.Errorf("decode: %v", err)
		}
	})
	if _, err := r.c.Play(nil); err != nil {
		r.c.Close()
		return nil, err
	}
	go func() { r.closed <- r.c.Wait() }()
	t.Cleanup(r.c.Close)
	return r, nil
}

func (r *reader) received() (pkts []*rtp.Packet, aus int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*rtp.Packet(nil), r.pkts...), r.aus
}

// waitFor polls cond until it holds, for at most 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10 s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
