package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Deps are what an Ingester uses.
type Deps struct {
	Logger *slog.Logger
	Store  store.Events
	Now    func() time.Time // stamps Event.ReceivedAt
	// Stored, when set, is told of each batch once it is durable, with
	// its events (their Incarnation set); not of a batch the store
	// refused or found diverged. A re-sent batch is told again: its
	// events carry the same positions. It runs on the caller's goroutine
	// before the ack is returned, so it must be quick.
	Stored func(box string, got store.Appended, evs []store.Event)
}

// Ingester stores event batches. It holds no state of its own, so one
// Ingester may serve any number of goroutines.
type Ingester struct {
	log    *slog.Logger
	store  store.Events
	now    func() time.Time
	stored func(box string, got store.Appended, evs []store.Event)
}

// New checks deps; it starts nothing.
func New(deps Deps) (*Ingester, error) {
	var errs []error
	if deps.Logger == nil {
		errs = append(errs, errors.New("no Deps.Logger"))
	}
	if deps.Store == nil {
		errs = append(errs, errors.New("no Deps.Store"))
	}
	if deps.Now == nil {
		errs = append(errs, errors.New("no Deps.Now"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("ingest: new: %w", err)
	}
	return &Ingester{log: deps.Logger.With("component", "ingest"), store: deps.Store, now: deps.Now, stored: deps.Stored}, nil
}

// Handle decodes payload from box's events topic, stores its events with
// the batch's epoch and floor and returns the protocol.EventsAck payload to
// publish on box's events/ack topic. The ack is made only after the store's
// durable commit, so it never covers an event a crash could lose, and it
// vouches only for the batch's own range: an ack that reaches a box after
// it came back with other events deletes none of them.
//
// To a batch without an epoch (a box from before epochs) the ack is the v1
// form the box knows, {v, box_id, seq}; to one with an epoch it names the
// epoch and the range, and says whether the epoch diverged.
//
// A payload the protocol refuses returns an error wrapping its
// *protocol.RejectError and stores nothing; an unknown box returns an error
// wrapping store.ErrNotFound. Errors are returned, not logged: the caller
// records them. A new incarnation and a diverged epoch are logged: they
// are news of the box, not failures.
func (in *Ingester) Handle(ctx context.Context, box string, payload []byte) (ack []byte, err error) {
	batch, err := protocol.DecodeEventBatch(box, payload)
	if err != nil {
		return nil, fmt.Errorf("ingest: batch of box %s: %w", box, err)
	}
	received := in.now()
	evs := make([]store.Event, len(batch.Events))
	for i, e := range batch.Events {
		evs[i] = store.Event{
			BoxID:      box,
			Seq:        e.Seq,
			Time:       e.Time,
			Type:       e.Type,
			Priority:   int(e.Priority),
			Data:       e.Data,
			ReceivedAt: received,
		}
	}
	got, err := in.store.AppendEvents(ctx, box, store.Batch{Epoch: batch.Epoch, Floor: batch.Floor, Events: evs, ReceivedAt: received})
	if err != nil {
		return nil, fmt.Errorf("ingest: store batch of box %s: %w", box, err)
	}
	if in.stored != nil && !got.Diverged {
		for i := range evs {
			evs[i].Incarnation = got.Incarnation
		}
		in.stored(box, got, evs)
	}
	a := protocol.EventsAck{V: protocol.Version, BoxID: box, Seq: got.Ack}
	if batch.Epoch != "" {
		a.Epoch, a.From, a.Diverged = batch.Epoch, got.From, got.Diverged
	}
	ack, err = protocol.Marshal(protocol.KindEventsAck, a)
	if err != nil {
		return nil, fmt.Errorf("ingest: ack of box %s: %w", box, err)
	}
	if r := got.Reset; r != nil {
		in.log.Warn("the box's events began a new incarnation", "box_id", box, "reason", r.Reason, "incarnation", r.Incarnation,
			"old_epoch", r.OldEpoch, "epoch", r.NewEpoch, "old_watermark", r.OldWatermark, "floor", r.Floor)
	}
	if got.Diverged {
		in.log.Warn("the box sent other events than stored under its epoch (an older copy of its data directory, or two boxes with one id); told to start a new epoch",
			"box_id", box, "epoch", batch.Epoch, "incarnation", got.Incarnation, "from", got.From, "seq", got.Ack)
	}
	in.log.Debug("batch stored", "box_id", box, "events", len(evs), "floor", batch.Floor, "incarnation", got.Incarnation, "seq", got.Ack, "watermark", got.Watermark)
	return ack, nil
}
