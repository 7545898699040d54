package testenv

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Running is a component's Run(ctx) going on in a goroutine that the test
// owns: Stop, or else the end of the test, cancels its context and waits
// for it to return, and a Run that ends in an error fails the test.
type Running struct {
	t      testing.TB
	what   string
	within time.Duration
	cancel context.CancelFunc
	done   chan struct{}
	err    error // what run returned; read only once done is closed

	once    sync.Once
	stopErr error // Stop's result, the same for every call
}

// Background starts run in a goroutine and returns at once; the test's
// cleanup calls Stop. what names the component in failures ("relay" gives
// "relay Run: ..."); within bounds how long Stop waits for run to return
// once its context ends.
//
// run's context is not t.Context(), which ends before any cleanup runs:
// each run ends only at its own Stop, so cleanups stop components in the
// reverse order of their start (a server before the source it reads), as
// the component's owner does in production.
func Background(t testing.TB, within time.Duration, what string, run func(context.Context) error) *Running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{t: t, what: what, within: within, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = run(ctx)
	}()
	t.Cleanup(func() {
		_ = r.Stop() // Stop reports a failure itself
	})
	return r
}

// Stop cancels run's context and waits up to within for run to return. If
// run returned an error, or did not return in time, Stop fails the test
// (t.Errorf) and returns that error as well, for a test that cannot go on
// after it. Stop may be called more than once, from any goroutine: later
// calls return the first one's result and report nothing more.
func (r *Running) Stop() error {
	r.t.Helper()
	first := false
	r.once.Do(func() {
		first = true
		r.cancel()
		timer := time.NewTimer(r.within)
		defer timer.Stop()
		select {
		case <-r.done:
			r.stopErr = r.err
		case <-timer.C:
			// The goroutine is left behind: nothing can end a Run that
			// ignores its context, and the failure says so.
			r.stopErr = fmt.Errorf("did not return within %s of its context ending", r.within)
		}
	})
	if first && r.stopErr != nil {
		r.t.Errorf("%s Run: %v", r.what, r.stopErr)
	}
	return r.stopErr
}

// Done is closed once run has returned, on its own or after Stop. A test
// selects on it to notice a component that quits before it is ready.
func (r *Running) Done() <-chan struct{} { return r.done }

// Err is what run returned; nil until Done is closed.
func (r *Running) Err() error {
	select {
	case <-r.done:
		return r.err
	default:
		return nil
	}
}
