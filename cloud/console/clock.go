package console

import (
	"context"
	"errors"
	"fmt"

	"github.com/dalaba/dalaba/cloud/board"
	"github.com/dalaba/dalaba/cloud/store"
)

// Clock states of a box (cloud/board derives them).
const (
	clockTrusted   = board.ClockTrusted
	clockUntrusted = board.ClockUntrusted
	clockUnknown   = board.ClockUnknown
)

// clockKey is the message key of a clock state.
func clockKey(state string) string {
	switch state {
	case clockTrusted:
		return "ClockTrusted"
	case clockUntrusted:
		return "ClockUntrusted"
	}
	return "Unknown"
}

// healthWindow is how many of a box's latest events are searched for its
// last reports (board.Window).
const healthWindow = board.Window

// device is a speaker or camera with its last reported health.
type device = board.Device

// boxState is what a box's latest events and its plan say of it.
type boxState = board.State

// stateOf reads one box's latest events and its plan, as the board reads
// every box's in one pass, and derives its state (board.Derive).
func (c *Console) stateOf(ctx context.Context, b store.Box) (boxState, error) {
	// The current incarnation's latest: what the box says of itself now.
	after := store.Position(b.Incarnation, 0)
	if b.Watermark > healthWindow {
		after = store.Position(b.Incarnation, b.Watermark-healthWindow)
	}
	evs, err := c.st.ListEvents(ctx, b.ID, after, 2*healthWindow)
	if err != nil {
		return boxState{}, fmt.Errorf("console: events of %s: %w", b.ID, err)
	}
	p, err := c.st.GetPlan(ctx, b.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return boxState{}, fmt.Errorf("console: plan of %s: %w", b.ID, err)
	}
	return board.Derive(store.Overview{Box: b, Plan: p, Recent: evs}), nil
}
