package sim

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/pion/rtp"

	"github.com/dalaba/dalaba/internal/testenv"
)

// fixture reads a clip from testdata.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wait bounds every wait here: for a condition, and for a stopped Run to
// return. A healthy run needs milliseconds.
const wait = 10 * time.Second

// running is a camera whose Run goes on in the background; its Stop ends
// Run and returns Run's error (reported already), and may be called more
// than once.
type running struct {
	*Sim
	*testenv.Running
}

// start makes a camera from cfg and runs it until Stop or the test's end.
func start(t testing.TB, cfg Config) *running {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testenv.Logger(t, slog.LevelDebug)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &running{Sim: s, Running: testenv.Background(t, wait, "camera", s.Run)}
}

// frame is an access unit a client received.
type frame struct {
	au  [][]byte
	ts  uint32
	at  time.Time
	idr bool
}

// reader is a gortsplib client playing a stream.
type reader struct {
	c      *gortsplib.Client
	forma  *format.H264
	mu     sync.Mutex
	frames []frame
	errs   []error
}

// dial connects to rawURL (credentials in it, if any) over proto and
// plays the first H.264 track.
func dial(t testing.TB, rawURL string, proto gortsplib.Protocol) (*reader, error) {
	t.Helper()
	u, err := base.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	r := &reader{c: &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto, ReadTimeout: 5 * time.Second}}
	if err := r.c.Start(); err != nil {
		return nil, err
	}
	desc, _, err := r.c.Describe(u)
	if err != nil {
		r.c.Close()
		return nil, err
	}
	medi := desc.FindFormat(&r.forma)
	if medi == nil {
		r.c.Close()
		t.Fatalf("no H.264 track in %+v", desc)
	}
	dec, err := r.forma.CreateDecoder()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		r.c.Close()
		return nil, err
	}
	r.c.OnPacketRTP(medi, r.forma, func(p *rtp.Packet) {
		au, err := dec.Decode(p)
		now := time.Now()
		r.mu.Lock()
		defer r.mu.Unlock()
		switch {
		case errors.Is(err, rtph264.ErrMorePacketsNeeded) || errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious):
		case err != nil:
			r.errs = append(r.errs, err)
		default:
			r.frames = append(r.frames, frame{au: au, ts: p.Timestamp, at: now, idr: isIDR(au)})
		}
	})
	if _, err := r.c.Play(nil); err != nil {
		r.c.Close()
		return nil, err
	}
	t.Cleanup(r.c.Close)
	return r, nil
}

func isIDR(au [][]byte) bool {
	for _, n := range au {
		if n[0]&0x1f == 5 {
			return true
		}
	}
	return false
}

// received returns a copy of the frames so far.
func (r *reader) received() ([]frame, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]frame(nil), r.frames...), append([]error(nil), r.errs...)
}

// waitFor polls cond until it holds, for at most wait.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, wait, what, cond)
}

// noLeaks checks that, once everything is closed, no goroutine of the
// RTSP library is left.
func noLeaks(t testing.TB) {
	t.Helper()
	var stacks string
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "bluenviron/gortsplib") && !strings.Contains(stacks, "camera/sim.(*Sim)") {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("goroutines left behind:\n%s", stacks)
}
