package speaker

import "sync"

// Halter lets Halt stop the play in progress and nothing else: a play
// arms it for itself, Halt closes that play's stop channel, and the play
// disarms it when it ends, so a Halt with nothing playing is lost rather
// than kept for the next play. The zero Halter is ready; it is safe for
// concurrent use.
type Halter struct {
	mu   sync.Mutex
	stop chan struct{} // the armed play's; nil when none is
}

// Arm makes Halt apply to the caller's play from now on, in place of any
// earlier one, and returns the channel Halt closes. disarm ends that
// unless another play has armed it since; it may be called more than
// once.
func (h *Halter) Arm() (stop <-chan struct{}, disarm func()) {
	ch := make(chan struct{})
	h.mu.Lock()
	h.stop = ch
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.stop == ch {
			h.stop = nil
		}
	}
}

// Halt closes the armed play's stop channel and disarms it; with none
// armed it does nothing. It returns at once.
func (h *Halter) Halt() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stop != nil {
		close(h.stop)
		h.stop = nil
	}
}
