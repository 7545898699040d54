// Package health records the box's vital signs: every interval it appends
// a health event (disk, outbox, clock, uptime) and asks for the reported
// state to be published. It also keeps the clock's trust floor: a clock
// that reads earlier than the last trusted time, or earlier than the build,
// cannot be trusted. It knows nothing of MQTT.
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

// Floor is the persisted last-trusted-time floor.
type Floor interface {
	TimeFloor() (time.Time, error)
	RaiseTimeFloor(t time.Time) error
}

// Outbox is what health reads of the outbox.
type Outbox interface {
	Backlog() (events, bytes uint64)
}

// Deps are what the monitor uses.
type Deps struct {
	Logger    *slog.Logger
	Clock     clock.Clock
	Floor     Floor
	Outbox    Outbox
	DataDir   string
	BuildDate time.Time
	Started   time.Time
	Record    func(ctx context.Context, typ string, prio protocol.Priority, data any) error
	Report    func() // publish the reported state now
}

// Monitor takes the box's pulse.
type Monitor struct {
	d        Deps
	log      *slog.Logger
	interval time.Duration
}

// New checks deps.
func New(interval time.Duration, deps Deps) (*Monitor, error) {
	if interval <= 0 || deps.Clock == nil || deps.Floor == nil || deps.Outbox == nil || deps.Record == nil {
		return nil, errors.New("health: interval, clock, floor, outbox and recorder are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Report == nil {
		deps.Report = func() {}
	}
	return &Monitor{d: deps, log: deps.Logger.With("component", "health"), interval: interval}, nil
}

// Check reads the vital signs now and raises the trust floor when the
// clock can be trusted.
func (m *Monitor) Check() protocol.Health {
	now := m.d.Clock.Now()
	h := protocol.Health{Clock: now, UptimeSeconds: int64(now.Sub(m.d.Started).Seconds())}
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
	} else {
		m.log.Warn("clock not trusted", "clock", now, "floor", floor, "build_date", m.d.BuildDate)
	}
	return h
}

// Run records a health event at once and then every interval until ctx
// ends.
func (m *Monitor) Run(ctx context.Context) error {
	t := m.d.Clock.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
		if err := m.d.Record(ctx, protocol.EventHealth, protocol.PriorityInfo, m.Check()); err != nil && ctx.Err() == nil {
			m.log.Error("recording health", "err", fmt.Errorf("health: %w", err))
		}
		m.d.Report()
		t.Reset(m.interval)
	}
}
