package desired

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
	RememberCommand(id string, expires, now time.Time) (fresh bool, err error)
}

// Recorder appends an event to the outbox; it returns once durable.
type Recorder func(ctx context.Context, typ string, prio protocol.Priority, data any) error

// CommandFunc runs one command type and returns the result's data (encoded
// as JSON; nil for none). An error is sent back as the result's error.
type CommandFunc func(ctx context.Context, c protocol.Command) (any, error)

// Deps are what the applier uses.
type Deps struct {
	Logger *slog.Logger
	Clock  clock.Clock // judges expiry; the box's clock, trusted or not
	BoxID  string
	Key    ed25519.PublicKey // the township's, pinned at provisioning
	Store  Store
	Record Recorder
	// Results publishes a command's result; it must not block for long
	// (the uplink queues it). Nil: results are dropped.
	Results func(protocol.CommandResult)
	// Applied is told each newly applied rev, after the subscribers
	// (e.g. to publish the reported state). Nil: nobody is told.
	Applied func(rev uint64)
}

// Reasons this package adds to protocol's when it refuses a command.
const (
	ReasonUnknownCommand = "unknown command type"
)

// Applier applies desired state and runs commands. Make it with New,
// register subscribers and command handlers, then call Start once.
type Applier struct {
	d   Deps
	log *slog.Logger

	// apply serialises HandleDesired, so that check, persist and swap are
	// one step even if payloads arrive from more than one goroutine.
	apply sync.Mutex

	mu   sync.Mutex
	rev  uint64
	subs []func(protocol.Desired)
	cmds map[string]CommandFunc
}

// New checks deps, reporting every problem at once, and reads the applied
// rev from the store. It registers the "ping" command, which answers
// {"pong": <box time>}.
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
	if deps.Results == nil {
		deps.Results = func(protocol.CommandResult) {}
	}
	if deps.Applied == nil {
		deps.Applied = func(uint64) {}
	}
	rev, _, err := deps.Store.AppliedDesired()
	if err != nil {
		return nil, fmt.Errorf("desired: read the applied state: %w", err)
	}
	a := &Applier{d: deps, log: deps.Logger.With("component", "desired"), rev: rev, cmds: map[string]CommandFunc{}}
	a.Handle("ping", func(context.Context, protocol.Command) (any, error) {
		return map[string]time.Time{"pong": a.d.Clock.Now()}, nil
	})
	return a, nil
}

// Subscribe registers fn to receive every applied desired state, in rev
// order, the persisted one included (see Start). fn runs on the caller of
// HandleDesired and should hand the state on rather than work long. Call
// before Start.
func (a *Applier) Subscribe(fn func(protocol.Desired)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.subs = append(a.subs, fn)
}

// Handle registers the runner of a command type, replacing any before.
// Call before Start.
func (a *Applier) Handle(typ string, fn CommandFunc) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cmds[typ] = fn
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
	a.log.Info("desired state resumed", "rev", rev)
	a.handOn(d)
	return nil
}

func (a *Applier) handOn(d protocol.Desired) {
	a.mu.Lock()
	subs := append([]func(protocol.Desired){}, a.subs...)
	a.mu.Unlock()
	for _, fn := range subs {
		fn(d)
	}
}

// HandleDesired verifies, persists and applies a payload from the desired
// topic.
func (a *Applier) HandleDesired(ctx context.Context, payload []byte) {
	a.apply.Lock()
	defer a.apply.Unlock()
	d, err := protocol.OpenDesired(a.d.Key, a.d.BoxID, payload, a.d.Clock.Now())
	if err != nil {
		a.refuse(ctx, protocol.EventDesiredRejected, protocol.KindDesired, err, 0, "")
		return
	}
	cur := a.AppliedRev()
	if d.Rev == cur {
		a.log.Debug("desired state already applied", "rev", d.Rev)
		return
	}
	stale := &protocol.RejectError{Kind: protocol.KindDesired, Reason: protocol.ReasonStale,
		Err: fmt.Errorf("rev %d is not newer than the applied rev %d", d.Rev, cur)}
	if d.Rev < cur {
		a.refuse(ctx, protocol.EventDesiredRejected, protocol.KindDesired, stale, d.Rev, "")
		return
	}
	if err := a.d.Store.SaveDesired(d.Rev, payload); err != nil {
		if errors.Is(err, store.ErrStale) { // the file is ahead of memory: believe the file
			a.refuse(ctx, protocol.EventDesiredRejected, protocol.KindDesired, stale, d.Rev, "")
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
	a.handOn(d)
	a.d.Applied(d.Rev)
}

// HandleCommand verifies a payload from the cmd topic, refuses a replay and
// runs it, answering through Deps.Results. A command that cannot be
// verified gets no answer: its id cannot be trusted.
func (a *Applier) HandleCommand(ctx context.Context, payload []byte) {
	now := a.d.Clock.Now()
	c, err := protocol.OpenCommand(a.d.Key, a.d.BoxID, payload, now)
	if err != nil {
		a.refuse(ctx, protocol.EventCmdRejected, protocol.KindCmd, err, 0, "")
		return
	}
	res := protocol.CommandResult{V: protocol.Version, ID: c.ID, BoxID: a.d.BoxID}
	fresh, err := a.d.Store.RememberCommand(c.ID, c.ExpiresAt, now)
	if err != nil {
		// Not run: without the id on disk a redelivery could run it twice.
		a.log.Error("recording command id; not running it", "id", c.ID, "err", err)
		res.Error = "the box could not record the command id"
		a.d.Results(res)
		return
	}
	if !fresh {
		a.refuse(ctx, protocol.EventCmdRejected, protocol.KindCmd,
			&protocol.RejectError{Kind: protocol.KindCmd, Reason: protocol.ReasonReplay}, 0, c.ID)
		return
	}
	a.mu.Lock()
	fn := a.cmds[c.Type]
	a.mu.Unlock()
	if fn == nil {
		a.refuse(ctx, protocol.EventCmdRejected, protocol.KindCmd,
			&protocol.RejectError{Kind: protocol.KindCmd, Reason: ReasonUnknownCommand, Err: fmt.Errorf("type %q", c.Type)}, 0, c.ID)
		res.Error = fmt.Sprintf("unknown command type %q", c.Type)
		a.d.Results(res)
		return
	}
	a.log.Info("running command", "id", c.ID, "type", c.Type)
	out, err := fn(ctx, c)
	switch {
	case err != nil:
		res.Error = err.Error()
	case out != nil:
		if res.Data, err = json.Marshal(out); err != nil {
			res.Data, res.Error = nil, "encoding the result: "+err.Error()
			break
		}
		res.OK = true
	default:
		res.OK = true
	}
	a.d.Results(res)
}

func (a *Applier) refuse(ctx context.Context, typ string, k protocol.Kind, err error, rev uint64, id string) {
	reason := protocol.ReasonInvalid
	if re, ok := errors.AsType[*protocol.RejectError](err); ok {
		reason = re.Reason
	}
	topic := protocol.Topic(a.d.BoxID, k)
	a.log.Warn("refused", "topic", topic, "reason", reason, "rev", rev, "id", id, "err", err)
	a.record(ctx, typ, protocol.PriorityCritical, protocol.Rejected{Topic: topic, Reason: reason, Rev: rev, ID: id})
}

func (a *Applier) record(ctx context.Context, typ string, prio protocol.Priority, data any) {
	if err := a.d.Record(ctx, typ, prio, data); err != nil {
		a.log.Error("recording event", "type", typ, "err", err)
	}
}
