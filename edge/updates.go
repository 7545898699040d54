package edge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/dalaba/dalaba/edge/config"
	"github.com/dalaba/dalaba/edge/slot"
	"github.com/dalaba/dalaba/edge/update"
	"github.com/dalaba/dalaba/internal/sdnotify"
	"github.com/dalaba/dalaba/protocol"
)

// Software updates and the service manager: the updater over the slots,
// the notify protocol's READY, WATCHDOG and STOPPING, and the
// `dalaba-edge slot …` verbs the unit runs around the daemon.

// buildUpdate makes the updater over the parts build made.
func (e *Edge) buildUpdate() error {
	cfg := e.cfg
	var err error
	e.upd, err = update.New(update.Config{
		Dir: filepath.Join(cfg.DataDir, "update"), Slots: slot.Dir{Path: cfg.Slots()}, Arch: protocol.GoArch(runtime.GOARCH),
		CommitAfter: cfg.Update.CommitAfter, TrialTimeout: cfg.Update.TrialTimeout, MinFree: uint64(cfg.Update.MinFreeBytes),
		Username: cfg.Broker.Username, Password: cfg.Broker.Password,
	}, update.Deps{
		Logger: e.d.Logger, Clock: e.d.Clock, Key: cfg.PublicKey(), Version: e.d.Version, Record: e.record,
		OnAir:   func() bool { return e.po.OnAir() || e.pg.Sessions() > 0 },
		Healthy: func() bool { return e.up.Connected() && e.ap.AppliedRev() > 0 },
		Restart: e.restart.arm,
		Changed: func() { e.up.PublishReported() },
	})
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	e.upd.Register(e.cmd)
	return nil
}

// notify tells the service manager the box is up, pings its watchdog
// while the command runner answers, and says STOPPING when ctx ends. With
// no manager listening it only waits for ctx.
func (e *Edge) notify(ctx context.Context) error {
	n, err := sdnotify.FromEnv()
	if err != nil {
		e.log.Warn("the service manager's notify socket is unusable; running without it", "err", err)
	}
	if err := n.Notify(sdnotify.Ready, sdnotify.Status("running "+e.d.Version)); err != nil {
		e.log.Warn("telling the service manager the box is up", "err", err)
	}
	defer func() {
		if err := n.Notify(sdnotify.Stopping); err != nil {
			e.log.Warn("telling the service manager the box stops", "err", err)
		}
	}()
	for ctx.Err() == nil {
		err := n.Watch(ctx, e.cmd.Alive)
		if errors.Is(err, sdnotify.ErrNotAlive) {
			// No ping until it answers again: if it stays stuck, the
			// service manager restarts the daemon.
			e.log.Error("the command runner does not answer; the watchdog is not pinged", "err", err)
		} else if err != nil {
			e.log.Warn("pinging the watchdog", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

// SlotBoot is `dalaba-edge slot boot`, run by the service manager before
// each start (ExecStartPre): it makes the slots from exe (this binary, of
// version) the first time, counts the boot and points the slots' current
// link at the slot to run, going back to the good slot after
// update.max_boots failed starts of a new one. It returns the state.
func SlotBoot(cfg config.Config, exe, version string, now time.Time) (slot.State, error) {
	d := slot.Dir{Path: cfg.Slots()}
	if err := os.MkdirAll(d.Path, 0o755); err != nil {
		return slot.State{}, fmt.Errorf("edge: slots: %w", err)
	}
	if err := d.Seed(exe, version); err != nil {
		return slot.State{}, err
	}
	return d.Boot(cfg.Update.MaxBoots, protocol.RollbackCrashLoop, protocol.RollbackWatchdog, now)
}

// SlotExited is `dalaba-edge slot exited`, run after the daemon stops
// (ExecStopPost) with the manager's $SERVICE_RESULT, so that a roll-back
// can name the watchdog.
func SlotExited(cfg config.Config, result string) error {
	err := slot.Dir{Path: cfg.Slots()}.Exited(result)
	if errors.Is(err, slot.ErrNoSlots) {
		return nil
	}
	return err
}
