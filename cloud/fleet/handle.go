package fleet

import (
	"context"
	"errors"
	"fmt"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// errFresh tells UpdateBox to write nothing: LastSeen is recent enough.
var errFresh = errors.New("last seen recently")

// Handle implements the downlink's Handler: it takes one message box
// published on kind k. Event batches are stored through ingest and answered
// with the ack to publish (made after the store's durable commit); status
// sets presence (an offline status is usually the broker publishing the
// box's will); reported records the applied rev and outbox backlog. Every
// message but an offline status marks the box as seen. A payload the
// protocol refuses returns its *protocol.RejectError; a message from an
// unregistered box is logged and dropped.
func (f *Fleet) Handle(ctx context.Context, box string, k protocol.Kind, payload []byte) ([]byte, error) {
	var ack []byte
	var err error
	switch k {
	case protocol.KindEvents:
		ack, err = f.ingest.Handle(ctx, box, payload)
		f.seen(ctx, box)
	case protocol.KindStatus:
		err = f.status(ctx, box, payload)
	case protocol.KindReported:
		err = f.reported(ctx, box, payload)
	case protocol.KindCmdResult:
		// The downlink matches results to commands; here it is a sign of life.
		f.seen(ctx, box)
	default:
		return nil, nil // not a kind boxes publish
	}
	if errors.Is(err, store.ErrNotFound) {
		f.unregistered(box, k)
		return nil, nil
	}
	return ack, err
}

func (f *Fleet) status(ctx context.Context, box string, payload []byte) error {
	s, err := protocol.DecodeStatus(box, payload)
	if err != nil {
		f.seen(ctx, box)
		return err
	}
	now := f.now()
	changed := false
	err = f.st.UpdateBox(ctx, box, func(b *store.Box) error {
		changed = b.Online != s.Online
		b.Online = s.Online
		if s.Online {
			b.LastSeen = now
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("fleet: status of %s: %w", box, err)
	}
	if changed {
		f.log.Info("box presence", "box_id", box, "online", s.Online)
	}
	return nil
}

func (f *Fleet) reported(ctx context.Context, box string, payload []byte) error {
	r, err := protocol.DecodeReported(box, payload)
	if err != nil {
		f.seen(ctx, box)
		return err
	}
	now := f.now()
	err = f.st.UpdateBox(ctx, box, func(b *store.Box) error {
		b.AppliedRev = r.AppliedRev
		b.OutboxBacklog = r.OutboxBacklog
		b.ReportedAt = now
		b.LastSeen = now
		return nil
	})
	if err != nil {
		return fmt.Errorf("fleet: reported state of %s: %w", box, err)
	}
	f.log.Debug("box reported", "box_id", box, "rev", r.AppliedRev, "outbox_backlog", r.OutboxBacklog)
	return nil
}

// seen records that box sent something, writing at most once per
// seenGranularity.
func (f *Fleet) seen(ctx context.Context, box string) {
	now := f.now()
	err := f.st.UpdateBox(ctx, box, func(b *store.Box) error {
		if now.Sub(b.LastSeen) < seenGranularity {
			return errFresh
		}
		b.LastSeen = now
		return nil
	})
	if err != nil && !errors.Is(err, errFresh) && !errors.Is(err, store.ErrNotFound) {
		f.log.Warn("last seen not recorded", "box_id", box, "err", err)
	}
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
