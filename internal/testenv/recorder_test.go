package testenv

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"testing"
)

// recorder stands in for a test's testing.TB where a helper's failure is
// what is tested: it keeps failures instead of failing the real test, its
// Fatalf ends the calling goroutine as the real one does, it keeps
// cleanups for the test to run, and its output is a buffer.
type recorder struct {
	testing.TB // the real test, for anything not recorded here

	mu       sync.Mutex
	failures []string
	fatal    bool
	cleanups []func()
	out      bytes.Buffer
}

func newRecorder(t *testing.T) *recorder { return &recorder{TB: t} }

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.mu.Lock()
	r.fatal = true
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

func (r *recorder) Output() io.Writer { return &r.out }

// runCleanups runs the kept cleanups, last first, as the end of a test does.
func (r *recorder) runCleanups() {
	r.mu.Lock()
	fs := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for _, f := range slices.Backward(fs) {
		f()
	}
}

// do runs f on a goroutine of its own, as a test function runs, so that
// Fatalf ends only f; it returns when f has.
func (r *recorder) do(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

func (r *recorder) reported() (failures []string, fatal bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.failures), r.fatal
}
