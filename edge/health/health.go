package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"syscall"
	"time"

	"github.com/dalaba/dalaba/edge/clock"
	"github.com/dalaba/dalaba/protocol"
)

// Floor is the persisted last-trusted-time floor (*store.Store).
type Floor interface {
	TimeFloor() (time.Time, error)
	RaiseTimeFloor(t time.Time) error
}

// Outbox is what health reads of the outbox.
type Outbox interface {
	Backlog() (events, bytes uint64)
}

// Config sets the pace.
type Config struct {
	Interval time.Duration // between readings; required
}

// Deps are what the monitor uses.
type Deps struct {
	Logger    *slog.Logger
	Clock     clock.Clock
	Floor     Floor
	Outbox    Outbox
	DataDir   string    // whose file system's space is reported
	BuildDate time.Time // a clock reading earlier is not trusted; zero: no such check
	Started   time.Time // for the uptime; zero: when New ran
	// Record appends the health event; it returns once durable.
	Record func(ctx context.Context, typ string, prio protocol.Priority, data any) error
	// Report is given each reading after it is recorded (the assembly
	// publishes the reported state with it). Nil: nobody is told.
	Report func(protocol.Health)
}

// Monitor takes the box's pulse. Make it with New and Run it once.
type Monitor struct {
	cfg Config
	d   Deps
	log *slog.Logger
}

// New checks cfg and deps, reporting every problem at once; it starts
// nothing.
func New(cfg Config, deps Deps) (*Monitor, error) {
	var errs []error
	if cfg.Interval <= 0 {
		errs = append(errs, fmt.Errorf("interval %s: must be positive", cfg.Interval))
	}
	if deps.Clock == nil {
		errs = append(errs, errors.New("no clock"))
	}
	if deps.Floor == nil {
		errs = append(errs, errors.New("no time floor"))
	}
	if deps.Outbox == nil {
		errs = append(errs, errors.New("no outbox"))
	}
	if deps.Record == nil {
		errs = append(errs, errors.New("no event recorder"))
	}
	if deps.DataDir == "" {
		errs = append(errs, errors.New("no data dir"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("health: %w", err)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Report == nil {
		deps.Report = func(protocol.Health) {}
	}
	if deps.Started.IsZero() {
		deps.Started = deps.Clock.Now()
	}
	return &Monitor{cfg: cfg, d: deps, log: deps.Logger.With("component", "health")}, nil
}

// Check reads the vital signs now and, when the clock can be trusted,
// raises the trust floor to it.
func (m *Monitor) Check() protocol.Health {
	now := m.d.Clock.Now()
	h := protocol.Health{Clock: now, UptimeSeconds: int64(now.Sub(m.d.Started) / time.Second)}
	h.OutboxBacklog, h.OutboxBytes = m.d.Outbox.Backlog()
	var fs syscall.Statfs_t
	if err := syscall.Statfs(m.d.DataDir, &fs); err == nil {
		h.DiskFreeBytes = uint64(fs.Bavail) * uint64(fs.Bsize)
		h.DiskTotalBytes = uint64(fs.Blocks) * uint64(fs.Bsize)
	} else {
		m.log.Warn("reading disk space", "dir", m.d.DataDir, "err", err)
	}
	floor, err := m.d.Floor.TimeFloor()
	if err != nil {
		m.log.Error("reading the clock floor", "err", err)
	}
	h.ClockTrusted = err == nil && !now.Before(floor) && !now.Before(m.d.BuildDate)
	if h.ClockTrusted {
		if err := m.d.Floor.RaiseTimeFloor(now); err != nil {
			m.log.Error("raising the clock floor", "err", err)
		}
	} else if err == nil {
		m.log.Warn("clock not trusted", "clock", now, "floor", floor, "build_date", m.d.BuildDate)
	}
	return h
}

// Trusted reports whether now is a clock reading the box can believe: not
// before the persisted floor nor the build date. A floor that cannot be
// read trusts nothing: holding schedules is safer than playing them twice.
func (m *Monitor) Trusted(now time.Time) bool {
	floor, err := m.d.Floor.TimeFloor()
	if err != nil {
		m.log.Error("reading the clock floor", "err", err)
		return false
	}
	return !now.Before(floor) && !now.Before(m.d.BuildDate)
}

// Run takes a reading at once and then every interval until ctx ends.
func (m *Monitor) Run(ctx context.Context) error {
	t := m.d.Clock.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
		h := m.Check()
		if err := m.d.Record(ctx, protocol.EventHealth, protocol.PriorityInfo, h); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			m.log.Error("recording health", "err", err)
		}
		m.d.Report(h)
		t.Reset(m.cfg.Interval)
	}
}
