package relay

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/pion/rtp"

	"github.com/dalaba/dalaba/devices/camera/sim"
	"github.com/dalaba/dalaba/internal/testenv"
)

// How long the tests here wait; a healthy run needs milliseconds.
const (
	wait       = 10 * time.Second // for a condition (waitFor)
	waitRelay  = 15 * time.Second // for a stopped relay's Run to return
	waitCamera = 10 * time.Second // for a stopped camera's Run to return
)

// fixture reads a clip of the camera simulator's testdata.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "devices", "camera", "sim", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// camera is a simulated camera whose Run goes on in the background; its
// Stop ends Run and waits for it: the camera "goes away".
type camera struct {
	*sim.Sim
	*testenv.Running
}

// startCamera runs a simulated camera until Stop or the test's end.
func startCamera(t testing.TB, cfg sim.Config) *camera {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testenv.Logger(t, slog.LevelDebug).With("component", "sim")
	}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	return &camera{Sim: s, Running: testenv.Background(t, waitCamera, "camera", s.Run)}
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
	*testenv.Running
	ev *events
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

// startRelay runs a relay with cams until Stop or the test's end.
func startRelay(t testing.TB, cfg Config, cams ...Camera) *running {
	t.Helper()
	ev := &events{}
	r, err := New(cfg, Deps{Logger: testenv.Logger(t, slog.LevelDebug), Events: ev.add})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := r.SetCameras(cams); err != nil {
		t.Fatalf("SetCameras: %v", err)
	}
	return &running{Relay: r, Running: testenv.Background(t, waitRelay, "relay", r.Run), ev: ev}
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

// waitFor polls cond until it holds, for at most wait.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, wait, what, cond)
}
