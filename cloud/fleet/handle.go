package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dalaba/dalaba/cloud/downlink"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Handle implements the downlink's Handler: it takes one message a box
// published. Event batches are stored through ingest and answered with the
// ack to publish (made after the store's durable commit); reported records
// the applied rev and outbox backlog; a status is checked and, since any
// client with the box's credentials can write it, only informs presence
// where nothing better exists (see Presence). Each live message is heard
// by presence; a retained one, sent because the service subscribed,
// records its content but tells nothing of now. A payload the protocol
// refuses returns its *protocol.RejectError and changes nothing; a message
// from an unregistered box is logged and dropped.
func (f *Fleet) Handle(ctx context.Context, m downlink.Message) ([]byte, error) {
	var ack []byte
	var err error
	offline := false
	switch m.Kind {
	case protocol.KindEvents:
		ack, err = f.ingest.Handle(ctx, m.Box, m.Payload)
	case protocol.KindStatus:
		offline, err = f.status(m)
	case protocol.KindReported:
		err = f.reported(ctx, m)
	case protocol.KindCmdResult:
		// The downlink matches results to commands; here it is a sign of life.
	default:
		return nil, nil // not a kind boxes publish
	}
	if errors.Is(err, store.ErrNotFound) {
		f.unregistered(m.Box, m.Kind)
		return nil, nil
	}
	if err != nil {
		return nil, err // a refused message changes nothing, presence included
	}
	if f.presence != nil {
		f.presence.Heard(m.Box, m.Retained, offline)
	}
	return ack, nil
}

// status decodes a status message and reports whether it says offline.
func (f *Fleet) status(m downlink.Message) (offline bool, err error) {
	s, err := protocol.DecodeStatus(m.Box, m.Payload)
	if err != nil {
		return false, err
	}
	f.log.Debug("box status", "box_id", m.Box, "online", s.Online, "retained", m.Retained)
	return !s.Online, nil
}

// reported records a box's reported state; ReportedAt only when it was
// published now, not retained from before. With presence kept it is held
// in memory and written with presence, many boxes in one write (soft
// state: the box reports again every health interval and on connect);
// without, it is written at once.
func (f *Fleet) reported(ctx context.Context, m downlink.Message) error {
	box := m.Box
	r, err := protocol.DecodeReported(box, m.Payload)
	if err != nil {
		return err
	}
	var at time.Time
	if !m.Retained {
		at = f.now()
	}
	f.log.Debug("box reported", "box_id", box, "rev", r.AppliedRev, "outbox_backlog", r.OutboxBacklog)
	// The rollouts learn a box's version from every report, whether the
	// report is held in memory or written at once.
	if f.onReported != nil {
		f.onReported(box, r)
	}
	if f.presence != nil {
		f.presence.Reported(box, r.AppliedRev, r.OutboxBacklog, at)
		return nil
	}
	err = f.st.UpdateBox(ctx, box, func(b *store.Box) error {
		b.AppliedRev = r.AppliedRev
		b.OutboxBacklog = r.OutboxBacklog
		if !at.IsZero() {
			b.ReportedAt = at
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("fleet: reported state of %s: %w", box, err)
	}
	return nil
}

// Link is box b's connection as the township sees it now: from presence
// when the fleet keeps it, else as the store holds it.
func (f *Fleet) Link(b store.Box) Link {
	if f.presence == nil {
		return Link{Online: b.Online, LastSeen: b.LastSeen}
	}
	return f.presence.Link(b)
}

// unregistered logs a message from a box the registry does not know (a
// shared external broker, or a box removed but still running), once per
// warnEvery per box.
func (f *Fleet) unregistered(box string, k protocol.Kind) {
	now := f.now()
	f.mu.Lock()
	last, ok := f.unknown[box]
	warn := !ok || now.Sub(last) >= warnEvery
	if warn {
		f.unknown[box] = now
	}
	f.mu.Unlock()
	if warn {
		f.log.Warn("message from an unregistered box dropped", "box_id", box, "topic", protocol.Topic(box, k))
	}
}
