package broker

import (
	"testing"
	"time"
)

// TestKickEndsABoxsSession: a box signed in is disconnected by Kick at
// once; Kick of a box that is not connected says so and does nothing.
func TestKickEndsABoxsSession(t *testing.T) {
	b, e := startEmbedded(t, Config{}, discardLogger())
	other := e.mustDial(t, boxB, dialOpts{})
	box := e.mustDial(t, boxA, dialOpts{persist: true})
	if !box.IsConnectionOpen() {
		t.Fatal("the box is not connected")
	}
	if !b.Kick(boxA) {
		t.Fatal("Kick of a connected box reported no session")
	}
	deadline := time.Now().Add(wait)
	for box.IsConnectionOpen() {
		if time.Now().After(deadline) {
			t.Fatalf("the box is still connected %s after Kick", wait)
		}
		time.Sleep(10 * time.Millisecond) // polling paho's view of the socket
	}
	if !other.IsConnectionOpen() {
		t.Error("Kick of one box disconnected another")
	}
	if b.Kick("village-nobody") {
		t.Error("Kick of a box that is not connected reported a session")
	}
}
