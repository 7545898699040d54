package desired

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dalaba/dalaba/edge/clock"
	"github.com/dalaba/dalaba/edge/store"
	"github.com/dalaba/dalaba/protocol"
)

// Store is the part of the box's store this package uses (*store.Store).
type Store interface {
	AppliedDesired() (rev uint64, payload []byte, err error)
	// SaveDesired returns after fsync; store.ErrStale if rev is not above
	// the stored one.
	SaveDesired(rev uint64, payload []byte) error
}

// Recorder appends an event to the outbox; it returns once durable.
type Recorder func(ctx context.Context, typ string, prio protocol.Priority, data any) error

// State is an applied desired state with its spec decoded, once for every
// subscriber. Subscribers share it: they read it and never change it.
type State struct {
	Rev  uint64
	Spec protocol.Spec
}

// Deps are what the applier uses.
type Deps struct {
	Logger *slog.Logger
	Clock  clock.Clock // judges expiry; the box's clock, trusted or not
	BoxID  string
	Key    ed25519.PublicKey // the township's, pinned at provisioning
	Store  Store
	Record Recorder
	// Applied is told each newly applied rev, after the subscribers
	// (e.g. to publish the reported state). Nil: nobody is told.
	Applied func(rev uint64)
}

// inQueue is how many payloads wait for the desired lane. The township
// publishes a state per change, retained, so a handful arrive at most in a
// burst; the lane takes them all at once and applies the newest.
const inQueue = 16

// Applier applies desired state on a lane of its own. Make it with New,
// register subscribers, call Start once and Run it; Receive may be called
// at any time.
type Applier struct {
	d   Deps
	log *slog.Logger

	in      chan []byte
	ran     atomic.Bool
	stopped chan struct{} // closed when Run returns

	mu   sync.Mutex
	rev  uint64
	subs []func(State)
}

// New checks deps, reporting every problem at once, and reads the applied
// rev from the store.
func New(deps Deps) (*Applier, error) {
	var errs []error
	if err := protocol.ValidateBoxID(deps.BoxID); err != nil {
		errs = append(errs, err)
	}
	if len(deps.Key) != ed25519.PublicKeySize {
		errs = append(errs, fmt.Errorf("township key is %d bytes, want %d", len(deps.Key), ed25519.PublicKeySize))
	}
	if deps.Store == nil {
		errs = append(errs, errors.New("no store"))
	}
	if deps.Record == nil {
		errs = append(errs, errors.New("no event recorder"))
	}
	if deps.Clock == nil {
		errs = append(errs, errors.New("no clock"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("desired: %w", err)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Applied == nil {
		deps.Applied = func(uint64) {}
	}
	rev, _, err := deps.Store.AppliedDesired()
	if err != nil {
		return nil, fmt.Errorf("desired: read the applied state: %w", err)
	}
	return &Applier{d: deps, log: deps.Logger.With("component", "desired"), rev: rev,
		in: make(chan []byte, inQueue), stopped: make(chan struct{})}, nil
}

// Subscribe registers fn to receive every applied desired state, in rev
// order, the persisted one included (see Start). fn runs on the desired
// lane and should hand the state on rather than work long. Call before
// Start.
func (a *Applier) Subscribe(fn func(State)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.subs = append(a.subs, fn)
}

// AppliedRev is the rev of the state in force, 0 when none.
func (a *Applier) AppliedRev() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rev
}

// Start hands the persisted desired state to the subscribers, so the box
// runs what it had before a restart, uplink or not. The stored copy was
// verified when it arrived; it is verified again (a changed township key
// shows here) but not for expiry: an expired state still beats none while
// the township is out of reach.
func (a *Applier) Start() error {
	rev, payload, err := a.d.Store.AppliedDesired()
	if err != nil {
		return fmt.Errorf("desired: read the applied state: %w", err)
	}
	if rev == 0 {
		return nil
	}
	d, err := protocol.OpenDesired(a.d.Key, a.d.BoxID, payload, time.Time{})
	if err != nil {
		return fmt.Errorf("desired: the stored state rev %d no longer verifies: %w", rev, err)
	}
	spec, err := protocol.DecodeSpec(d.Spec)
	if err != nil {
		return fmt.Errorf("desired: the stored state rev %d: %w", rev, err)
	}
	a.log.Info("desired state resumed", "rev", rev)
	a.handOn(State{Rev: d.Rev, Spec: spec})
	return nil
}

func (a *Applier) handOn(s State) {
	a.mu.Lock()
	subs := append([]func(State){}, a.subs...)
	a.mu.Unlock()
	for _, fn := range subs {
		fn(s)
	}
}

// Receive hands over a payload from the desired topic and returns: at once
// while the lane keeps up, else when there is room, ctx ends or the
// applier has stopped (the payload is then dropped: the broker keeps the
// newest state retained and delivers it on the next connect).
func (a *Applier) Receive(ctx context.Context, payload []byte) {
	select {
	case a.in <- payload:
	case <-ctx.Done():
	case <-a.stopped:
		a.log.Info("a desired state arrived after the applier stopped; dropped")
	}
}

// Run is the desired lane: it applies what Receive hands over, one state
// at a time, until ctx ends, and returns nil. Payloads that queued while
// it applied the one before are taken together and only the newest rev
// among them is applied: the desired state is whole, so the older ones
// are superseded, and revs are applied in increasing order only. It is
// called once.
func (a *Applier) Run(ctx context.Context) error {
	if !a.ran.CompareAndSwap(false, true) {
		return errors.New("desired: Run called twice")
	}
	defer close(a.stopped)
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-a.in:
			batch := [][]byte{p}
			for more := true; more; {
				select {
				case p := <-a.in:
					batch = append(batch, p)
				default:
					more = false
				}
			}
			a.apply(ctx, batch)
		}
	}
}

// apply verifies a batch of payloads, refuses the bad ones, and persists
// and applies the newest rev above the applied one.
func (a *Applier) apply(ctx context.Context, batch [][]byte) {
	now := a.d.Clock.Now()
	cur := a.AppliedRev()
	var newest *protocol.Desired
	var payload []byte
	for _, p := range batch {
		d, err := protocol.OpenDesired(a.d.Key, a.d.BoxID, p, now)
		switch {
		case err != nil:
			a.refuse(ctx, err, 0)
		case d.Rev == cur:
			a.log.Debug("desired state already applied", "rev", d.Rev)
		case d.Rev < cur:
			a.refuse(ctx, a.stale(d.Rev, cur), d.Rev)
		case newest == nil || d.Rev > newest.Rev:
			if newest != nil {
				a.log.Info("desired state superseded before it was applied", "rev", newest.Rev, "by_rev", d.Rev)
			}
			newest, payload = &d, p
		case d.Rev == newest.Rev:
			// The same rev twice in a burst: nothing to say.
		default:
			a.log.Info("desired state superseded before it was applied", "rev", d.Rev, "by_rev", newest.Rev)
		}
	}
	if newest == nil {
		return
	}
	d := *newest
	spec, err := protocol.DecodeSpec(d.Spec)
	if err != nil { // OpenDesired checked it: only a bug gets here
		a.refuse(ctx, err, d.Rev)
		return
	}
	if err := a.d.Store.SaveDesired(d.Rev, payload); err != nil {
		if errors.Is(err, store.ErrStale) { // the file is ahead of memory: believe the file
			a.refuse(ctx, a.stale(d.Rev, cur), d.Rev)
			return
		}
		// Not applied; the retained copy comes again on the next reconnect.
		a.log.Error("persisting desired state; keeping the old one", "rev", d.Rev, "err", err)
		return
	}
	a.mu.Lock()
	a.rev = d.Rev
	a.mu.Unlock()
	a.log.Info("desired state applied", "rev", d.Rev, "previous_rev", cur)
	a.record(ctx, protocol.EventDesiredApplied, protocol.PriorityNotice, map[string]uint64{"rev": d.Rev})
	a.handOn(State{Rev: d.Rev, Spec: spec})
	a.d.Applied(d.Rev)
}

func (a *Applier) stale(rev, cur uint64) error {
	return &protocol.RejectError{Kind: protocol.KindDesired, Reason: protocol.ReasonStale,
		Err: fmt.Errorf("rev %d is not newer than the applied rev %d", rev, cur)}
}

func (a *Applier) refuse(ctx context.Context, err error, rev uint64) {
	reason := protocol.ReasonInvalid
	if re, ok := errors.AsType[*protocol.RejectError](err); ok {
		reason = re.Reason
	}
	topic := protocol.Topic(a.d.BoxID, protocol.KindDesired)
	a.log.Warn("refused", "topic", topic, "reason", reason, "rev", rev, "err", err)
	a.record(ctx, protocol.EventDesiredRejected, protocol.PriorityCritical, protocol.Rejected{Topic: topic, Reason: reason, Rev: rev})
}

func (a *Applier) record(ctx context.Context, typ string, prio protocol.Priority, data any) {
	if err := a.d.Record(ctx, typ, prio, data); err != nil {
		a.log.Error("recording event", "type", typ, "err", err)
	}
}
