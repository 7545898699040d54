package broadcast

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/dalaba/dalaba/edge/clock"
	"github.com/dalaba/dalaba/protocol/schedule"
)

// Schedule is one recurring or one-shot item the box fires on its own
// clock, uplink or not.
type Schedule struct {
	ID   string
	Rule schedule.Rule
	Fire func(ctx context.Context, at time.Time) // hands the item to the arbiter
}

// Missed records an occurrence that did not play, and why.
type Missed struct {
	ScheduleID string
	At         time.Time // the (last) occurrence skipped
	Count      int       // occurrences folded into this record
	Reason     string
}

// Missed reasons.
const (
	SkipQuiet = "quiet_hours"
	SkipLate  = "late" // the clock jumped forward, or the box was off
)

// State persists the last occurrence handled per schedule (edge/store).
type State interface {
	LastFired(id string) (time.Time, error)
	SetLastFired(id string, t time.Time) error
}

// SchedulerConfig tunes the scheduler.
type SchedulerConfig struct {
	Quiet []schedule.Quiet
	Zone  *time.Location // for quiet hours; default Asia/Shanghai
	// Grace is how late an occurrence may still play; later ones are
	// skipped and recorded. Default 2 minutes.
	Grace time.Duration
	// MaxWait bounds a sleep, so a wall clock that jumps is noticed within
	// it. Default 1 minute.
	MaxWait time.Duration
}

// SchedulerDeps are what the scheduler uses.
type SchedulerDeps struct {
	Logger  *slog.Logger
	Clock   clock.Clock
	State   State
	Trusted func(now time.Time) bool // the clock can be trusted now
	// Untrusted is called once when the clock stops being trusted: nothing
	// fires until it is trusted again.
	Untrusted func(now time.Time)
	Skipped   func(Missed)
}

// Scheduler fires schedules at their occurrences. Each occurrence is
// handled at most once, across restarts and clock jumps, because the last
// handled occurrence is persisted and the next one is always counted from
// it.
type Scheduler struct {
	cfg    SchedulerConfig
	d      SchedulerDeps
	log    *slog.Logger
	mu     sync.Mutex
	scheds []Schedule
	wake   chan struct{}
}

// NewScheduler checks deps.
func NewScheduler(cfg SchedulerConfig, deps SchedulerDeps) (*Scheduler, error) {
	if deps.Clock == nil || deps.State == nil || deps.Trusted == nil {
		return nil, errors.New("broadcast: scheduler needs a clock, a state and a trust check")
	}
	if err := schedule.ValidateQuiet(cfg.Quiet); err != nil {
		return nil, err
	}
	if cfg.Zone == nil {
		loc, err := time.LoadLocation(schedule.DefaultZone)
		if err != nil {
			return nil, err
		}
		cfg.Zone = loc
	}
	if cfg.Grace == 0 {
		cfg.Grace = 2 * time.Minute
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = time.Minute
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Untrusted == nil {
		deps.Untrusted = func(time.Time) {}
	}
	if deps.Skipped == nil {
		deps.Skipped = func(Missed) {}
	}
	return &Scheduler{cfg: cfg, d: deps, log: deps.Logger.With("component", "scheduler"), wake: make(chan struct{}, 1)}, nil
}

// SetQuiet replaces the quiet hours and the zone they are read in (nil:
// keep the current zone); bad windows are refused and change nothing.
func (s *Scheduler) SetQuiet(q []schedule.Quiet, loc *time.Location) error {
	if err := schedule.ValidateQuiet(q); err != nil {
		return err
	}
	s.mu.Lock()
	s.cfg.Quiet = q
	if loc != nil {
		s.cfg.Zone = loc
	}
	s.mu.Unlock()
	s.poke()
	return nil
}

// Set replaces the schedules (a new desired state).
func (s *Scheduler) Set(scheds []Schedule) {
	s.mu.Lock()
	s.scheds = scheds
	s.mu.Unlock()
	s.poke()
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run fires schedules until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	untrusted := false
	for {
		now := s.d.Clock.Now()
		wait := s.cfg.MaxWait
		var next time.Time
		if !s.d.Trusted(now) {
			if !untrusted {
				s.log.Warn("clock not trusted: schedules held", "clock", now)
				s.d.Untrusted(now)
			}
			untrusted = true
		} else {
			untrusted = false
			var ok bool
			if next, ok = s.pass(ctx, now); ok {
				wait = min(wait, next.Sub(now))
			}
		}
		t := s.d.Clock.NewTimer(max(wait, time.Millisecond))
		// The timer counts from the clock as it reads now, which may have
		// moved past the next occurrence while this pass ran (a clock
		// step, or a slow pass): then go round at once rather than wait a
		// whole interval past it.
		if !next.IsZero() && !s.d.Clock.Now().Before(next) {
			t.Stop()
			continue
		}
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.wake:
			t.Stop()
		case <-t.C():
		}
	}
}

// pass handles every due occurrence and returns the earliest future one.
func (s *Scheduler) pass(ctx context.Context, now time.Time) (time.Time, bool) {
	s.mu.Lock()
	scheds, quiet, zone := s.scheds, s.cfg.Quiet, s.cfg.Zone
	s.mu.Unlock()
	var earliest time.Time
	found := false
	for _, sc := range scheds {
		last, err := s.d.State.LastFired(sc.ID)
		if err != nil {
			s.log.Error("reading schedule state", "schedule_id", sc.ID, "err", err)
			continue
		}
		from := last
		if from.IsZero() {
			from = now.Add(-s.cfg.Grace) // a new schedule does not replay the past
		}
		late := Missed{ScheduleID: sc.ID, Reason: SkipLate}
		for {
			occ, ok := schedule.Next(sc.Rule, from)
			if !ok {
				break
			}
			if occ.After(now) {
				if !found || occ.Before(earliest) {
					earliest, found = occ, true
				}
				break
			}
			// Persisted before it plays: a crash between the two loses
			// one occurrence (recorded as late by nobody) rather than
			// playing it twice after the restart.
			if err := s.d.State.SetLastFired(sc.ID, occ); err != nil {
				s.log.Error("recording schedule state; not firing", "schedule_id", sc.ID, "err", err)
				break
			}
			switch {
			case now.Sub(occ) > s.cfg.Grace:
				late.Count++
				late.At = occ
			case schedule.InQuiet(quiet, occ, zone):
				s.d.Skipped(Missed{ScheduleID: sc.ID, At: occ, Count: 1, Reason: SkipQuiet})
			default:
				sc.Fire(ctx, occ)
			}
			from = occ
		}
		if late.Count > 0 {
			s.log.Warn("occurrences missed", "schedule_id", sc.ID, "count", late.Count, "last", late.At)
			s.d.Skipped(late)
		}
	}
	return earliest, found
}
