package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
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

// Ingester stores event batches. One Ingester serves any number of
// goroutines, and the more of them wait at once the fewer commits it
// makes: see Handle.
type Ingester struct {
	log    *slog.Logger
	store  store.Events
	now    func() time.Time
	stored func(box string, got store.Appended, evs []store.Event)

	queue  chan *pending // batches waiting for a commit
	leader chan struct{} // holds a token while one caller commits for all
	// commits and batches count the store's writes and what they carried.
	commits, batches atomic.Uint64
}

// pending is one batch waiting for the commit that carries it.
type pending struct {
	bb   store.BoxBatch
	done chan store.AppendResult // buffered 1
}

// Group commit bounds.
const (
	// MaxCommitBatches is the most batches one commit carries: enough to
	// carry a burst of every box of a county reconnecting, few enough
	// that one write stays tens of milliseconds.
	MaxCommitBatches = 512
	// MaxCommitEvents stops a commit taking more batches once it holds
	// this many events (a box back from days offline sends full batches).
	MaxCommitEvents = 20_000
	// queueLen is how many batches may wait; past it Handle waits to queue.
	queueLen = 4096
)

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
	return &Ingester{log: deps.Logger.With("component", "ingest"), store: deps.Store, now: deps.Now, stored: deps.Stored,
		queue: make(chan *pending, queueLen), leader: make(chan struct{}, 1)}, nil
}

// Commits reports how many writes the store made and how many batches
// they carried, since New.
func (in *Ingester) Commits() (commits, batches uint64) { return in.commits.Load(), in.batches.Load() }

// append queues bb and returns once a commit carried it. Whichever caller
// finds no commit running commits everything queued, its own batch and
// the others', in one store write (AppendMany), and hands each its result:
// callers that wait while a write is running share the next one. No
// goroutine of its own is needed, and at most one caller writes at a time.
func (in *Ingester) append(ctx context.Context, bb store.BoxBatch) (store.Appended, error) {
	p := &pending{bb: bb, done: make(chan store.AppendResult, 1)}
	select {
	case in.queue <- p:
	case <-ctx.Done():
		return store.Appended{}, ctx.Err()
	}
	for {
		select {
		case r := <-p.done:
			return r.Appended, r.Err
		case in.leader <- struct{}{}:
			in.commit()
			<-in.leader
		case <-ctx.Done():
			// The commit may still carry it; the caller only loses the
			// answer, and the box resends.
			return store.Appended{}, ctx.Err()
		}
	}
}

// commit writes what is queued, up to the bounds, in one AppendMany. It
// runs while the caller holds the leader token. The write is not cut
// short by the caller's context: it carries the others' batches too.
func (in *Ingester) commit() {
	var group []*pending
	events := 0
gather:
	for len(group) < MaxCommitBatches && events < MaxCommitEvents {
		select {
		case p := <-in.queue:
			group = append(group, p)
			events += len(p.bb.Batch.Events)
		default:
			break gather
		}
	}
	if len(group) == 0 {
		return
	}
	bs := make([]store.BoxBatch, len(group))
	for i, p := range group {
		bs[i] = p.bb
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	res, err := in.store.AppendMany(ctx, bs)
	in.commits.Add(1)
	in.batches.Add(uint64(len(group)))
	for i, p := range group {
		if err != nil {
			p.done <- store.AppendResult{Err: err}
			continue
		}
		p.done <- res[i]
	}
}

// commitTimeout bounds a group commit that cannot begin (a store gone).
const commitTimeout = time.Minute

// Handle decodes payload from box's events topic, stores its events with
// the batch's epoch and floor and returns the protocol.EventsAck payload to
// publish on box's events/ack topic. The ack is made only after the store's
// durable commit (shared with the batches other callers handed in
// meanwhile: group commit), so it never covers an event a crash could lose, and it
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
	got, err := in.append(ctx, store.BoxBatch{BoxID: box, Batch: store.Batch{Epoch: batch.Epoch, Floor: batch.Floor, Events: evs, ReceivedAt: received}})
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
