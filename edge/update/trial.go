package update

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dalaba/dalaba/edge/slot"
	"github.com/dalaba/dalaba/protocol"
)

// ErrTrialFailed is what Run returns when the slot on trial did not prove
// itself in time: the box stops, and its service manager starts the good
// slot.
var ErrTrialFailed = errors.New("update: the new software did not prove itself; going back")

// trialTick is how often a trial checks the box's health.
const trialTick = time.Second

// Run reports a roll-back the good slot has not told yet, then, when the
// running slot is on trial, watches it until it is committed (and then
// waits for ctx) or fails (ErrTrialFailed).
func (u *Updater) Run(ctx context.Context) error {
	s, err := u.cfg.Slots.Load()
	if errors.Is(err, slot.ErrNoSlots) {
		<-ctx.Done()
		return nil
	}
	if err != nil {
		u.log.Error("reading the slots; updates are off until it is fixed", "err", err)
		<-ctx.Done()
		return nil
	}
	if rb := s.Rollback; rb != nil && !rb.Reported && !s.Trial {
		err := u.d.Record(ctx, protocol.EventUpdateRolledBack, protocol.PriorityCritical,
			protocol.RolledBack{From: rb.From, To: rb.To, Reason: rb.Reason})
		if err == nil {
			err = u.cfg.Slots.Reported()
		}
		if err != nil && ctx.Err() == nil {
			u.log.Error("recording the roll-back", "err", err)
		}
		u.log.Warn("running the previous software again after a failed update", "version", rb.To, "from", rb.From, "reason", rb.Reason)
	}
	if s.Trial && s.Version() == u.d.Version {
		if err := u.trial(ctx); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

// trial commits the running slot once the box has been healthy for
// CommitAfter without a break, or abandons it after TrialTimeout.
func (u *Updater) trial(ctx context.Context) error {
	clk := u.d.Clock
	start := clk.Now()
	var since time.Time
	u.log.Info("running a new version on trial", "version", u.d.Version, "commit_after", u.cfg.CommitAfter)
	t := clk.NewTimer(trialTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
		t.Reset(trialTick)
		now := clk.Now()
		switch {
		case !u.d.Healthy():
			since = time.Time{}
		case since.IsZero():
			since = now
		case now.Sub(since) >= u.cfg.CommitAfter:
			if _, err := u.cfg.Slots.Commit(); err != nil {
				return fmt.Errorf("update: commit %s: %w", u.d.Version, err)
			}
			u.log.Info("the new version proved itself; committed", "version", u.d.Version)
			u.d.Changed()
			return nil
		}
		if now.Sub(start) >= u.cfg.TrialTimeout {
			if _, err := u.cfg.Slots.Abandon(protocol.RollbackNoConnection, now); err != nil {
				return fmt.Errorf("update: abandon %s: %w", u.d.Version, err)
			}
			u.log.Error("the new version did not reach the township in time; going back", "version", u.d.Version, "trial_timeout", u.cfg.TrialTimeout)
			return ErrTrialFailed
		}
	}
}
