package playout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dalaba/dalaba/devices/speaker"
	"github.com/dalaba/dalaba/edge/broadcast"
	"github.com/dalaba/dalaba/edge/clock"
	"github.com/dalaba/dalaba/protocol"
	"github.com/dalaba/dalaba/protocol/schedule"
)

// Driver is a speaker made from the desired state.
type Driver struct {
	Speaker speaker.Speaker
	// Rate is the sample rate the speaker plays natively; items are
	// rendered at the lowest Rate of their speakers.
	Rate int
	// Close releases the driver when the speaker leaves the desired state
	// or the box stops; nil when there is nothing to release.
	Close func() error
}

// NewDriver makes the driver of a speaker of the desired state.
type NewDriver func(protocol.Speaker) (Driver, error)

// Media is the box's audio cache (*media.Cache).
type Media interface {
	// Fetch makes sha present, downloading it if needed, and returns its
	// path.
	Fetch(ctx context.Context, sha string) (string, error)
	// Pin makes shas exactly the set never evicted.
	Pin(shas []string)
	// Remove deletes sha at once, pinned or not.
	Remove(sha string) error
}

// Recorder appends an event to the outbox; it returns once durable.
type Recorder func(ctx context.Context, typ string, prio protocol.Priority, data any) error

// Config tunes the playout.
type Config struct {
	// Grace is how late a scheduled occurrence may still play; default 2
	// minutes.
	Grace time.Duration
	// HealthEvery is how often speakers' health is polled; default 5 s.
	HealthEvery time.Duration
	// RetryEvery is how often clips that failed to load are tried again;
	// default 30 s.
	RetryEvery time.Duration
	// MaxWait bounds the scheduler's sleep (see broadcast.SchedulerConfig).
	MaxWait time.Duration
}

// Deps are what the playout uses.
type Deps struct {
	Logger  *slog.Logger
	Clock   clock.Clock
	State   broadcast.State // last fired occurrences (*store.Store)
	Media   Media
	Drivers NewDriver
	Record  Recorder
	// Trusted says whether the clock can be believed now; nothing is
	// scheduled while it cannot.
	Trusted func(now time.Time) bool
	// Floor is the last trusted time, for the clock-untrusted event; nil
	// leaves it out.
	Floor func() (time.Time, error)
	// LastContact is when the box was last in touch with the township
	// (now, while connected); list announcements play only within the
	// desired state's list window of it. Nil: never in touch.
	LastContact func() time.Time
}

// Playout is the broadcast side of the box. Make it with New, Run it once;
// Apply and the command handlers may be called at any time.
type Playout struct {
	cfg Config
	d   Deps
	log *slog.Logger
	arb *broadcast.Arbiter
	sch *broadcast.Scheduler

	applyC chan *protocol.Broadcast // latest wins
	logC   chan protocol.PlayLog    // play log, recorded off the arbiter's goroutine
	kick   chan struct{}            // clips to load
	ran    atomic.Bool
	seq    atomic.Uint64
	clips  *clips
	tones  tones          // test tones waiting for their playback
	bg     sync.WaitGroup // fires waiting for a clip
	bgCtx  context.Context

	mu       sync.Mutex
	spec     protocol.Broadcast
	drivers  map[string]*driver // speaker id →
	zoneVol  map[string]int     // set-volume overrides until the next desired state
	items    map[string]itemMeta
	pinned   map[string]bool
	applied  bool
	runCtx   context.Context
	lastWarn map[string]string // clip key → last error recorded, so retries do not flood the outbox
}

type driver struct {
	cfg    protocol.Speaker
	d      Driver
	health speaker.Health
}

// itemMeta is what the play log says of an item beyond what the arbiter
// knows.
type itemMeta struct {
	ScheduleID, CommandID, Name string
	Media                       []string
	Priority                    protocol.PlayPriority
}

// New checks deps; it starts nothing.
func New(cfg Config, deps Deps) (*Playout, error) {
	var errs []error
	if deps.Clock == nil {
		errs = append(errs, errors.New("no clock"))
	}
	if deps.State == nil {
		errs = append(errs, errors.New("no schedule state"))
	}
	if deps.Media == nil {
		errs = append(errs, errors.New("no media cache"))
	}
	if deps.Drivers == nil {
		errs = append(errs, errors.New("no driver factory"))
	}
	if deps.Record == nil {
		errs = append(errs, errors.New("no event recorder"))
	}
	if deps.Trusted == nil {
		errs = append(errs, errors.New("no clock trust check"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("playout: %w", err)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Grace == 0 {
		cfg.Grace = 2 * time.Minute
	}
	if cfg.HealthEvery == 0 {
		cfg.HealthEvery = 5 * time.Second
	}
	if cfg.RetryEvery == 0 {
		cfg.RetryEvery = 30 * time.Second
	}
	p := &Playout{
		cfg: cfg, d: deps, log: deps.Logger.With("component", "playout"),
		applyC: make(chan *protocol.Broadcast, 1), logC: make(chan protocol.PlayLog, 1024), kick: make(chan struct{}, 1),
		drivers: map[string]*driver{}, zoneVol: map[string]int{}, items: map[string]itemMeta{}, pinned: map[string]bool{},
		lastWarn: map[string]string{},
	}
	p.clips = newClips(deps.Media)
	var err error
	p.arb, err = broadcast.New(nil, broadcast.Deps{Logger: deps.Logger, Clock: deps.Clock, Log: p.played})
	if err != nil {
		return nil, fmt.Errorf("playout: %w", err)
	}
	p.sch, err = broadcast.NewScheduler(broadcast.SchedulerConfig{Grace: cfg.Grace, MaxWait: cfg.MaxWait}, broadcast.SchedulerDeps{
		Logger: deps.Logger, Clock: deps.Clock, State: deps.State, Trusted: deps.Trusted,
		Untrusted: p.untrusted, Skipped: p.skipped,
	})
	if err != nil {
		return nil, fmt.Errorf("playout: %w", err)
	}
	return p, nil
}

// Apply hands over the broadcast section of a new desired state (nil: the
// state has none, so nothing plays). It returns at once; the newest state
// wins if several arrive before the playout gets to them.
func (p *Playout) Apply(b *protocol.Broadcast) {
	if b == nil {
		b = &protocol.Broadcast{}
	}
	for {
		select {
		case p.applyC <- b:
			return
		default:
		}
		select { // replace the one not taken yet
		case <-p.applyC:
		default:
		}
	}
}

// Run plays until ctx ends, then halts every speaker, records what was cut
// short and releases the drivers.
func (p *Playout) Run(ctx context.Context) error {
	if !p.ran.CompareAndSwap(false, true) {
		return errors.New("playout: Run called twice")
	}
	g, gctx := errgroup.WithContext(ctx)
	p.mu.Lock()
	p.runCtx = gctx
	p.mu.Unlock()
	p.bgCtx = gctx
	logDone := make(chan struct{})
	arbDone := make(chan struct{})
	g.Go(func() error {
		defer close(arbDone)
		return p.arb.Run(gctx)
	})
	g.Go(func() error { return p.sch.Run(gctx) })
	g.Go(func() error { p.applyLoop(gctx); return nil })
	g.Go(func() error { p.loadLoop(gctx); return nil })
	g.Go(func() error { p.healthLoop(gctx); return nil })
	// The play log outlives ctx until the arbiter has recorded the
	// playbacks it cut short.
	go func() {
		defer close(logDone)
		p.logLoop(context.WithoutCancel(ctx), arbDone)
	}()
	err := g.Wait()
	p.bg.Wait()
	<-logDone
	p.mu.Lock()
	for id, dr := range p.drivers {
		p.closeDriver(id, dr)
	}
	p.drivers = map[string]*driver{}
	p.mu.Unlock()
	return err
}

// schedTZ loads a broadcast section's zone for quiet hours.
func schedTZ(b *protocol.Broadcast) *time.Location {
	name := b.TZ
	if name == "" {
		name = schedule.DefaultZone
	}
	loc, err := time.LoadLocation(name)
	if err != nil { // validated on arrival; the embedded tzdata has it
		return nil
	}
	return loc
}

// OnAir reports whether a broadcast or a page is on the air now.
func (p *Playout) OnAir() bool { return p.arb.OnAir() }
