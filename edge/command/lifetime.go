package command

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/dalaba/dalaba/edge/clock"
)

// ErrExpired is the cause of a handler's context ending at the command's
// expiry, and what Commit returns once it has passed.
var ErrExpired = errors.New("the command expired before the box carried it out")

// lifetime is one command's run against its expiry on the box's clock.
type lifetime struct {
	clk     clock.Clock
	expires time.Time

	mu        sync.Mutex
	committed bool
}

type lifetimeKey struct{}

func (l *lifetime) over() bool { return !l.clk.Now().Before(l.expires) }

func (l *lifetime) commit() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.committed {
		return nil
	}
	if l.over() {
		return ErrExpired
	}
	l.committed = true
	return nil
}

// expiredUncommitted judges a run once its handler has returned: the
// lifetime is over and the handler never passed its point of no return
// in time.
func (l *lifetime) expiredUncommitted() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.committed && l.over()
}

// Commit is a handler's point of no return, called just before it acts (hands
// an item to the speakers, stops them, lets a viewer's session run). It
// returns ErrExpired if the command's lifetime is over: the handler must then
// not act, and returns the error. Once it has returned nil the command counts
// as carried out in time, and its result is reported as the handler returns
// it even if that is a moment after the expiry. Outside a Runner (a feature's
// own tests calling a handler) it returns nil.
func Commit(ctx context.Context) error {
	l, ok := ctx.Value(lifetimeKey{}).(*lifetime)
	if !ok {
		return nil
	}
	return l.commit()
}

// withExpiry returns a context that ends, with ErrExpired as its cause, at
// exp on clk (or with parent). stop releases it and returns once its timer
// has let go. The timer measures from now, so a step of the box's clock
// while the command runs moves the expiry by the step's size; the judgement
// after the handler returns reads the clock again.
func withExpiry(parent context.Context, clk clock.Clock, exp time.Time) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	d := exp.Sub(clk.Now())
	if d <= 0 {
		cancel(ErrExpired)
		return ctx, func() {}
	}
	t := clk.NewTimer(d)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer t.Stop()
		select {
		case <-t.C():
			cancel(ErrExpired)
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		cancel(context.Canceled)
		<-done
	}
}
