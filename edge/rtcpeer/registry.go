package rtcpeer

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"sync"
)

// Member is what a Registry holds: a server's own session type, which
// embeds *Session (the only way to have its unexported method).
type Member interface {
	core() *Session
}

// Refusals are the errors a Registry returns, the server's own so that
// its callers read them with errors.Is.
type Refusals struct {
	NotRunning error // Admit while Run is not running
	Full       error // Admit with the most sessions held; wrapped with the number
	Unknown    error // Stop of an id not held
}

// Registry keeps a server's sessions, from their admission (while they
// are answered) to their end: it bounds how many there are, lets them in
// only while Run runs, and when Run's context ends, stops them all and
// waits for them. It is safe for concurrent use.
type Registry[S Member] struct {
	max    int
	refuse Refusals

	mu       sync.Mutex
	runCtx   context.Context // set once Run runs
	closing  bool            // Run's context has ended
	sessions map[string]S
	wg       sync.WaitGroup // sessions, from admission to their end
}

// NewRegistry holds at most max sessions at once and refuses others with
// refuse's errors.
func NewRegistry[S Member](max int, refuse Refusals) *Registry[S] {
	return &Registry[S]{max: max, refuse: refuse, sessions: map[string]S{}}
}

// Run lets sessions in until ctx ends; then it stops every session with
// reason, waits until each is done and returns nil. It is called once.
func (r *Registry[S]) Run(ctx context.Context, reason string) error {
	r.mu.Lock()
	if r.runCtx != nil || r.closing {
		r.mu.Unlock()
		return errors.New("Run called twice")
	}
	r.runCtx = ctx
	r.mu.Unlock()

	<-ctx.Done()

	r.mu.Lock()
	r.closing = true
	all := make([]S, 0, len(r.sessions))
	for _, s := range r.sessions {
		all = append(all, s)
	}
	r.mu.Unlock()
	for _, s := range all {
		s.core().Stop(reason)
	}
	r.wg.Wait()
	return nil
}

// Running reports whether Admit lets sessions in now.
func (r *Registry[S]) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runCtx != nil && !r.closing
}

// Len is how many sessions are held: being answered or running.
func (r *Registry[S]) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions)
}

// Admit lets a new session in while Run runs and fewer than the most are
// held. create is called under the registry's lock, so it must not block:
// with Run's context, which the session's is to derive from, and the
// sessions held, it makes the session or refuses it with an error. The
// session is held from then on: the caller answers it, then passes it to
// Go, or to Drop if the answering failed.
func (r *Registry[S]) Admit(create func(runCtx context.Context, held iter.Seq[S]) (S, error)) (S, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var none S
	if r.runCtx == nil || r.closing {
		return none, r.refuse.NotRunning
	}
	if len(r.sessions) >= r.max {
		return none, fmt.Errorf("%w (%d)", r.refuse.Full, r.max)
	}
	s, err := create(r.runCtx, maps.Values(r.sessions))
	if err != nil {
		return none, err
	}
	r.sessions[s.core().id] = s
	r.wg.Add(1)
	return s, nil
}

// Go runs an answered session's goroutine: run, after which the session
// is done. run is to Remove the session once it no longer holds anything
// a new one might want.
func (r *Registry[S]) Go(s S, run func()) {
	go func() {
		defer r.wg.Done()
		defer s.core().finish()
		run()
	}()
}

// Remove stops holding s: Len no longer counts it, nor Admit sees it. Run
// still waits for it to be done.
func (r *Registry[S]) Remove(s S) {
	r.mu.Lock()
	delete(r.sessions, s.core().id)
	r.mu.Unlock()
}

// Drop forgets a session that never ran (its answering failed).
func (r *Registry[S]) Drop(s S) {
	r.Remove(s)
	s.core().finish()
	r.wg.Done()
}

// Stop stops the session id and returns once it is done.
func (r *Registry[S]) Stop(id string) error {
	r.mu.Lock()
	s, ok := r.sessions[id]
	r.mu.Unlock()
	if !ok {
		return r.refuse.Unknown
	}
	s.core().Stop("stopped")
	<-s.core().Done()
	return nil
}
