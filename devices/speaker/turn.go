package speaker

import "context"

// Turn lets one play at a time use a device: a play takes it, waiting
// for the one before, and gives it back when done. Unlike a mutex, the
// wait gives up when the play's context ends, and the turn may be given
// back by another goroutine than the one that took it (a request sent
// after Play has returned). It is safe for concurrent use.
type Turn struct {
	token chan struct{} // holds a token while the turn is taken
}

// NewTurn is a turn nobody has taken.
func NewTurn() *Turn { return &Turn{token: make(chan struct{}, 1)} }

// Take waits for the turn, or returns ctx.Err() once ctx ends; when both
// are ready at once either may win.
func (t *Turn) Take(ctx context.Context) error {
	select {
	case t.token <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Give hands the turn back. It must follow a successful Take, once: a
// Give of a turn nobody holds panics, as unlocking an unlocked mutex
// does, rather than hang.
func (t *Turn) Give() {
	select {
	case <-t.token:
	default:
		panic("speaker: Give of a turn nobody holds")
	}
}
