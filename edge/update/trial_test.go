package update

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dalaba/dalaba/edge/slot"
	"github.com/dalaba/dalaba/protocol"
)

// onTrial is a box that staged 2.0 and restarted into it.
func onTrial(t *testing.T) *box {
	t.Helper()
	r := newRelease(t)
	b := newBox(t, r)
	if _, err := b.install(t, r.manifest(t, r.key, arch()), r.srv.URL); err != nil {
		t.Fatal(err)
	}
	if _, err := b.slots.Boot(3, protocol.RollbackCrashLoop, protocol.RollbackWatchdog, time.Now()); err != nil {
		t.Fatal(err)
	}
	b.u.d.Version = "2.0"
	return b
}

func TestATrialIsCommittedAfterStayingHealthy(t *testing.T) {
	b := onTrial(t)
	synctest.Test(t, func(t *testing.T) {
		var healthy atomic.Bool
		b.u.d.Healthy = healthy.Load
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- b.u.Run(ctx) }()
		time.Sleep(5 * time.Minute) // not connected yet: no commit, no give-up
		if s, _ := b.slots.Load(); !s.Trial {
			t.Fatal("committed while not healthy")
		}
		healthy.Store(true)
		time.Sleep(30 * time.Second)
		healthy.Store(false) // a break starts the count again
		time.Sleep(2 * time.Second)
		healthy.Store(true)
		time.Sleep(50 * time.Second)
		if s, _ := b.slots.Load(); !s.Trial {
			t.Fatal("committed before a minute of health without a break")
		}
		time.Sleep(20 * time.Second)
		s, _ := b.slots.Load()
		if s.Trial || s.Good != slot.B {
			t.Fatalf("not committed after a minute healthy: %+v", s)
		}
		if st := b.u.Status(); st.Phase != protocol.UpdateCommitted || st.Version != "2.0" {
			t.Fatalf("status %+v", st)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestATrialThatNeverConnectsGoesBack(t *testing.T) {
	b := onTrial(t)
	synctest.Test(t, func(t *testing.T) {
		b.u.d.Healthy = func() bool { return false }
		err := b.u.Run(t.Context())
		if !errors.Is(err, ErrTrialFailed) {
			t.Fatalf("Run = %v, want ErrTrialFailed", err)
		}
		s, _ := b.slots.Load()
		if s.Trial || s.Active != slot.A || s.Rollback == nil || s.Rollback.Reason != protocol.RollbackNoConnection {
			t.Fatalf("after the trial: %+v", s)
		}
	})
	// The good slot, started again, reports the roll-back once.
	var recorded []protocol.RolledBack
	b.u.d.Version = "1.0"
	b.u.d.Record = func(_ context.Context, typ string, _ protocol.Priority, data any) error {
		if typ == protocol.EventUpdateRolledBack {
			recorded = append(recorded, data.(protocol.RolledBack))
		}
		return nil
	}
	for range 2 {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := b.u.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(recorded) != 1 || recorded[0] != (protocol.RolledBack{From: "2.0", To: "1.0", Reason: protocol.RollbackNoConnection}) {
		t.Fatalf("recorded %+v, want one roll-back from 2.0", recorded)
	}
	if st := b.u.Status(); st.Phase != protocol.UpdateRolledBack || st.From != "2.0" || st.Reason != protocol.RollbackNoConnection {
		t.Fatalf("status %+v", st)
	}
}
