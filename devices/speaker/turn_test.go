package speaker

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
)

func TestTurnOneAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		turn := NewTurn()
		if err := turn.Take(t.Context()); err != nil {
			t.Fatalf("Take of a free turn: %v", err)
		}
		got := make(chan error, 1)
		go func() { got <- turn.Take(t.Context()) }()
		synctest.Wait() // the second Take is blocked for good, or returned
		select {
		case err := <-got:
			t.Fatalf("a second Take returned (%v) while the turn was held", err)
		default:
		}
		// Given back by another goroutine than the one that took it, as
		// httpspeaker's stop request does.
		go turn.Give()
		if err := <-got; err != nil {
			t.Fatalf("the waiting Take after Give: %v", err)
		}
		turn.Give()
	})
}

func TestTurnWaitEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		turn := NewTurn()
		if err := turn.Take(t.Context()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		got := make(chan error, 1)
		go func() { got <- turn.Take(ctx) }()
		synctest.Wait()
		cancel()
		if err := <-got; !errors.Is(err, context.Canceled) {
			t.Fatalf("a waiting Take whose context ended: %v, want context.Canceled", err)
		}
		// The give-up took nothing: the holder gives back and the turn is
		// free again.
		turn.Give()
		if err := turn.Take(t.Context()); err != nil {
			t.Fatalf("Take after the holder gave back: %v", err)
		}
		turn.Give()
	})
}

func TestTurnGiveUnheldPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Give of a turn nobody holds did not panic")
		}
	}()
	NewTurn().Give()
}
