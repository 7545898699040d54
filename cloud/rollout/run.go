package rollout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dalaba/dalaba/cloud/downlink"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Run steps the running rollouts every Tick, whenever a box reports and
// whenever an install is answered, until ctx ends; it returns once its
// sends have.
func (e *Engine) Run(ctx context.Context) error {
	defer e.sends.Wait()
	t := time.NewTicker(e.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-e.kick:
		case res := <-e.results:
			e.answered(ctx, res)
		}
		e.stepAll(ctx)
	}
}

func (e *Engine) stepAll(ctx context.Context) {
	all, err := e.d.Store.ListRollouts(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("reading the rollouts", "err", err)
		}
		return
	}
	for _, r := range all {
		if r.State != store.RolloutRunning {
			continue
		}
		if err := e.step(ctx, r.ID, r.Version); err != nil && ctx.Err() == nil {
			e.log.Error("stepping a rollout", "rollout", r.ID, "err", err)
		}
	}
}

// send is an install to start once the step's write is done.
type send struct {
	box  string
	args protocol.UpdateArgs
}

// step settles what the boxes reported, sends the wave's boxes their
// install, pauses on too many failures and moves to the next wave.
func (e *Engine) step(ctx context.Context, id, version string) error {
	// Read before the write: a read inside bbolt's write transaction may
	// wait on the write forever.
	rel, err := e.d.Store.GetRelease(ctx, version)
	if err != nil {
		return fmt.Errorf("release %s: %w", version, err)
	}
	var sends []send
	err = e.d.Store.UpdateRollout(ctx, id, func(r *store.Rollout) error {
		sends = nil
		if r.State != store.RolloutRunning || r.Version != rel.Version {
			return errUnchanged
		}
		now := e.d.Now().UTC()
		changed := false
		e.mu.Lock()
		defer e.mu.Unlock()
		for i := range r.Boxes {
			b := &r.Boxes[i]
			if b.Wave > r.Wave || b.State == store.BoxUpdated || b.State == store.BoxFailed {
				continue
			}
			rep, ok := e.reported[b.BoxID]
			var us protocol.UpdateStatus
			if ok && rep.Update != nil {
				us = *rep.Update
			}
			switch {
			case ok && rep.Version == r.Version && us.Phase == protocol.UpdateCommitted:
				b.State, b.DoneAt, b.Code, b.Detail = store.BoxUpdated, now, "", ""
				changed = true
			case b.State == store.BoxSent && us.Phase == protocol.UpdateRolledBack && us.From == r.Version:
				b.State, b.DoneAt, b.Code = store.BoxFailed, now, us.Reason
				b.Detail = fmt.Sprintf("went back to %s: %s", us.Version, us.Reason)
				changed = true
			case b.State == store.BoxSent && now.Sub(b.SentAt) > e.cfg.BoxTimeout:
				b.State, b.DoneAt, b.Code, b.Detail = store.BoxFailed, now, "timeout", "did not report the new version in time"
				changed = true
			case b.State == store.BoxWaiting && !e.inflight[b.BoxID] && (b.SentAt.IsZero() || now.Sub(b.SentAt) >= e.cfg.Retry):
				if us.Arch == "" {
					continue // not reported yet (or a box without slots): wait for it
				}
				bin, ok := rel.Binary(us.Arch)
				if !ok {
					b.State, b.DoneAt, b.Code, b.Detail = store.BoxFailed, now, protocol.CodeUpdateArch, "the release has no binary for "+us.Arch
					changed = true
					continue
				}
				b.State, b.SentAt, b.Tries = store.BoxSent, now, b.Tries+1
				e.inflight[b.BoxID] = true
				sends = append(sends, send{box: b.BoxID, args: protocol.UpdateArgs{Manifest: bin.Manifest, URL: e.cfg.ReleaseURL + bin.SHA256, Rollout: r.ID}})
				changed = true
			}
		}
		if f := failures(*r); f > r.MaxFailures {
			r.State, r.Reason = store.RolloutPaused, fmt.Sprintf("%d boxes failed, more than the %d allowed", f, r.MaxFailures)
			changed = true
		} else if settled(*r) {
			if r.Wave+1 < len(r.Waves) {
				r.Wave++
				e.log.Info("rollout wave begins", "rollout", r.ID, "wave", r.Wave+1, "percent", r.Waves[r.Wave])
			} else {
				r.State = store.RolloutDone
				e.log.Info("rollout done", "rollout", r.ID, "version", r.Version, "failed", f)
			}
			changed = true
		}
		if !changed {
			return errUnchanged
		}
		r.UpdatedAt = now
		return nil
	})
	if errors.Is(err, errUnchanged) {
		err = nil
	}
	if err != nil {
		e.mu.Lock()
		for _, s := range sends {
			delete(e.inflight, s.box)
		}
		e.mu.Unlock()
		return err
	}
	for _, s := range sends {
		e.sends.Go(func() {
			res, err := e.d.Sender.SendCommand(ctx, s.box, protocol.CmdUpdateInstall, s.args, e.cfg.CommandTTL)
			select {
			case e.results <- result{rollout: id, box: s.box, res: res, err: err}:
			case <-ctx.Done():
			}
		})
	}
	return nil
}

var errUnchanged = errors.New("unchanged")

// settled: every box of the waves begun is updated or failed.
func settled(r store.Rollout) bool {
	for _, b := range r.Boxes {
		if b.Wave <= r.Wave && b.State != store.BoxUpdated && b.State != store.BoxFailed {
			return false
		}
	}
	return true
}

// passing are the refusals that another try may not meet.
func passing(code string) bool {
	switch code {
	case protocol.CodeBusy, protocol.CodeExpired, protocol.CodeUpdateOnAir, protocol.CodeUpdateTrial:
		return true
	}
	return false
}

// answered records an install's answer: a refusal that passes puts the
// box back to wait for Retry, one for good fails it; an OK leaves it sent
// until it reports the new version.
func (e *Engine) answered(ctx context.Context, res result) {
	e.mu.Lock()
	delete(e.inflight, res.box)
	e.mu.Unlock()
	if res.err == nil && res.res.OK {
		return
	}
	code, detail := res.res.Code, res.res.Error
	if res.err != nil && !errors.Is(res.err, downlink.ErrExpired) {
		// No answer (offline, or the broker away): try again later.
		code, detail = "no_answer", res.err.Error()
	}
	err := e.d.Store.UpdateRollout(ctx, res.rollout, func(r *store.Rollout) error {
		for i := range r.Boxes {
			b := &r.Boxes[i]
			if b.BoxID != res.box || b.State != store.BoxSent {
				continue
			}
			b.Code, b.Detail = code, detail
			if passing(code) || code == "no_answer" {
				b.State = store.BoxWaiting
			} else {
				b.State, b.DoneAt = store.BoxFailed, e.d.Now().UTC()
			}
			r.UpdatedAt = e.d.Now().UTC()
			return nil
		}
		return errUnchanged
	})
	if err != nil && !errors.Is(err, errUnchanged) && ctx.Err() == nil {
		e.log.Error("recording an install's answer", "rollout", res.rollout, "box_id", res.box, "err", err)
		return
	}
	e.log.Info("a box refused an update", "rollout", res.rollout, "box_id", res.box, "code", code, "err", detail)
}
