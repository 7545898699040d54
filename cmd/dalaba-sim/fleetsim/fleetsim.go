package fleetsim

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dalaba/dalaba/protocol"
)

// Box is one simulated box's identity: its id, which is also its MQTT
// user name and client id, and its MQTT password.
type Box struct {
	ID       string
	Password string
}

// Config is the fleet's settings. Box-time durations are divided by
// Compress; zero values take the defaults noted.
type Config struct {
	BrokerURL string // tcp:// host:port
	Boxes     []Box
	// TownshipKey, when set, verifies desired state (the box's applied
	// rev is then reported) and commands (answered unknown_command); when
	// nil they are counted and otherwise ignored.
	TownshipKey ed25519.PublicKey

	Compress      float64       // box seconds per real second; default 1
	HealthEvery   time.Duration // box time between health reports; default 1m, as the box
	EventsPerHour float64       // other events each box records per box hour; default 0
	Backlog       int           // events each box holds when it starts besides its box.started; default 0
	Spread        time.Duration // real time the first connects are spread over; 0: all at once

	BatchEvents int           // events per batch; default 500, as the box
	Window      int           // batches in flight; default 4, as the box
	AckTimeout  time.Duration // box time without ack progress before resending; default 10s
	BackoffMin  time.Duration // box time; default 1s
	BackoffMax  time.Duration // box time; default 60s

	KeepAlive      time.Duration // real; default 30s
	ConnectTimeout time.Duration // real; default 10s
}

// Deps are what the fleet uses.
type Deps struct {
	Logger *slog.Logger // nil: discard
}

// Fleet is the simulated boxes. Make it with New; Run it once.
type Fleet struct {
	cfg   Config
	log   *slog.Logger
	boxes []*box
	once  atomic.Bool
	st    counters
}

// counters are the fleet's totals, updated by every box.
type counters struct {
	online, connects, connectFails, lost                   atomic.Int64
	recorded, sent, acked, resends, batches, desired, cmds atomic.Uint64
}

// Stats is what the fleet has done since New.
type Stats struct {
	Online       int    // boxes whose session is up now
	Connects     uint64 // sessions brought up
	ConnectFails uint64 // connect attempts that failed (refused busy, timed out)
	Lost         uint64 // sessions that ended other than by Run stopping
	Recorded     uint64 // events the boxes recorded into their outboxes
	Batches      uint64 // event batches published
	Sent         uint64 // events published, resends included
	Acked        uint64 // events deleted on the township's ack
	Resends      uint64 // times a box resent after its ack timeout
	Pending      uint64 // events waiting in the outboxes now
	Desired      uint64 // desired states received
	Commands     uint64 // commands received
}

// New checks cfg and makes the boxes; nothing connects before Run.
func New(cfg Config, deps Deps) (*Fleet, error) {
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	if cfg.Compress == 0 {
		cfg.Compress = 1
	}
	def(&cfg.HealthEvery, time.Minute)
	def(&cfg.AckTimeout, 10*time.Second)
	def(&cfg.BackoffMin, time.Second)
	def(&cfg.BackoffMax, time.Minute)
	def(&cfg.KeepAlive, 30*time.Second)
	def(&cfg.ConnectTimeout, 10*time.Second)
	if cfg.BatchEvents == 0 {
		cfg.BatchEvents = 500
	}
	if cfg.Window == 0 {
		cfg.Window = 4
	}
	var errs []error
	if u, err := url.Parse(cfg.BrokerURL); err != nil || u.Scheme != "tcp" || u.Port() == "" {
		errs = append(errs, fmt.Errorf("broker URL %q: want tcp://host:port", cfg.BrokerURL))
	}
	if len(cfg.Boxes) == 0 {
		errs = append(errs, errors.New("no boxes"))
	}
	seen := map[string]bool{}
	for _, b := range cfg.Boxes {
		if err := protocol.ValidateBoxID(b.ID); err != nil {
			errs = append(errs, err)
		}
		if seen[b.ID] {
			errs = append(errs, fmt.Errorf("box %s listed twice", b.ID))
		}
		seen[b.ID] = true
	}
	if cfg.Compress < 1 || math.IsInf(cfg.Compress, 0) || math.IsNaN(cfg.Compress) {
		errs = append(errs, fmt.Errorf("compress %v: at least 1", cfg.Compress))
	}
	if cfg.EventsPerHour < 0 || cfg.Backlog < 0 || cfg.Spread < 0 {
		errs = append(errs, errors.New("events per hour, backlog and spread must not be negative"))
	}
	if cfg.BatchEvents < 1 || cfg.BatchEvents > protocol.MaxBatchEvents {
		errs = append(errs, fmt.Errorf("batch events %d: 1-%d", cfg.BatchEvents, protocol.MaxBatchEvents))
	}
	if cfg.Window < 1 || cfg.Window > 64 {
		errs = append(errs, fmt.Errorf("window %d: 1-64", cfg.Window))
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		errs = append(errs, fmt.Errorf("backoff max %s below backoff min %s", cfg.BackoffMax, cfg.BackoffMin))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("fleetsim: %w", err)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	f := &Fleet{cfg: cfg, log: deps.Logger.With("component", "fleetsim")}
	for _, b := range cfg.Boxes {
		f.boxes = append(f.boxes, newBox(f, b))
	}
	return f, nil
}

// real turns a box-time duration into real time.
func (f *Fleet) real(d time.Duration) time.Duration {
	return time.Duration(float64(d) / f.cfg.Compress)
}

// Run runs every box until ctx ends; then each says goodbye (a retained
// offline status) and disconnects, and Run returns once all have.
func (f *Fleet) Run(ctx context.Context) error {
	if !f.once.CompareAndSwap(false, true) {
		return errors.New("fleetsim: Run called twice")
	}
	var wg sync.WaitGroup
	step := time.Duration(0)
	if n := len(f.boxes); n > 1 {
		step = f.cfg.Spread / time.Duration(n-1)
	}
	for i, b := range f.boxes {
		start := time.Duration(i) * step
		wg.Go(func() { b.run(ctx, start) })
	}
	wg.Wait()
	return nil
}

// Stats reads the fleet's totals.
func (f *Fleet) Stats() Stats {
	s := Stats{
		Online: int(f.st.online.Load()), Connects: uint64(f.st.connects.Load()), ConnectFails: uint64(f.st.connectFails.Load()),
		Lost: uint64(f.st.lost.Load()), Recorded: f.st.recorded.Load(), Batches: f.st.batches.Load(), Sent: f.st.sent.Load(),
		Acked: f.st.acked.Load(), Resends: f.st.resends.Load(), Desired: f.st.desired.Load(), Commands: f.st.cmds.Load(),
	}
	for _, b := range f.boxes {
		s.Pending += uint64(b.pending())
	}
	return s
}

// BoxState is what the fleet knows of one box: its events recorded, the
// highest seq the township acknowledged and whether it is online.
type BoxState struct {
	ID       string
	Online   bool
	Epoch    string
	Recorded uint64 // events recorded: seqs 1 through Recorded
	Acked    uint64 // the highest seq deleted on the township's ack
}

// Boxes reads every box's state, in Config order.
func (f *Fleet) Boxes() []BoxState {
	out := make([]BoxState, 0, len(f.boxes))
	for _, b := range f.boxes {
		b.mu.Lock()
		out = append(out, BoxState{ID: b.id.ID, Online: b.online, Epoch: b.epoch, Recorded: b.nextSeq - 1, Acked: b.acked})
		b.mu.Unlock()
	}
	return out
}

// newEpoch is a fresh outbox epoch, as the box makes one.
func newEpoch() string {
	var b [protocol.EpochLen / 2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}

// backoff is the box's reconnect wait before attempt n: uniform in
// [0, min(hi, lo·2ⁿ)] (full jitter), so boxes that lost the broker together
// do not come back together.
func backoff(n int, lo, hi time.Duration, r *mrand.Rand) time.Duration {
	ceil := hi
	if n < 62 {
		if d := lo << n; d > 0 && d>>n == lo && d < hi {
			ceil = d
		}
	}
	return time.Duration(r.Int64N(int64(ceil) + 1))
}
