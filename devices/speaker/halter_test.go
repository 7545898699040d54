package speaker

import "testing"

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestHalterStopsTheArmedPlay(t *testing.T) {
	var h Halter
	stop, disarm := h.Arm()
	defer disarm()
	if closed(stop) {
		t.Fatal("a freshly armed play is already stopped")
	}
	h.Halt()
	if !closed(stop) {
		t.Fatal("Halt did not close the armed play's stop channel")
	}
	h.Halt() // a second Halt must not close the channel again (that would panic)
}

func TestHalterWhenIdleDoesNotReachTheNextPlay(t *testing.T) {
	var h Halter
	h.Halt() // never armed
	first, disarm := h.Arm()
	disarm()
	disarm() // more than once is fine
	h.Halt() // after the play ended
	if closed(first) {
		t.Error("Halt after the play disarmed stopped it anyway")
	}
	next, disarmNext := h.Arm()
	defer disarmNext()
	if closed(next) {
		t.Error("a Halt with nothing playing stopped the next play")
	}
}

// A play that ends late must not disarm the play that armed after it.
func TestHalterLateDisarmKeepsTheNewerPlay(t *testing.T) {
	var h Halter
	old, disarmOld := h.Arm()
	cur, disarmCur := h.Arm()
	defer disarmCur()
	disarmOld()
	h.Halt()
	if !closed(cur) {
		t.Error("the older play's disarm left the newer one unhaltable")
	}
	if closed(old) {
		t.Error("Halt reached a play that had been replaced")
	}
}
