package console

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Clock states of a box.
const (
	clockTrusted   = "trusted"
	clockUntrusted = "untrusted"
	clockUnknown   = "unknown"
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
// last health report. The store keeps no clock state of its own, so this
// is a bounded guess: a box that sent more other events since its last
// report shows "unknown" rather than costing a long scan every few
// seconds per box.
const healthWindow = 64

// clockOf says whether the box's last health report, if one is among its
// latest events, trusted its clock.
func (c *Console) clockOf(ctx context.Context, b store.Box) (string, error) {
	after := uint64(0)
	if b.Watermark > healthWindow {
		after = b.Watermark - healthWindow
	}
	evs, err := c.st.ListEvents(ctx, b.ID, after, 2*healthWindow)
	if err != nil {
		return "", fmt.Errorf("console: events of %s: %w", b.ID, err)
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type != protocol.EventHealth {
			continue
		}
		var h protocol.Health
		if json.Unmarshal(evs[i].Data, &h) != nil {
			continue // a malformed report says nothing; look at older ones
		}
		if h.ClockTrusted {
			return clockTrusted, nil
		}
		return clockUntrusted, nil
	}
	return clockUnknown, nil
}
