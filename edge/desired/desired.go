// Package desired is how the box takes instructions: it verifies the
// township's signed desired state (signature, box, expiry, rev newer than
// what it has), persists it before anything acts on it, and only then hands
// it to the parts that use it; it runs signed commands at most once each.
// Whatever it refuses is logged and recorded as an event, and changes
// nothing. It knows nothing of MQTT: payloads come in as bytes.
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
	"github.com/dalaba/dalaba/protocol"
)

// Store is the part of the box's store this package uses.
type Store interface {
	AppliedDesired() (rev uint64, payload []byte, err error)
	SaveDesired(rev uint64, payload []byte) error
	RememberCommand(id string, expires, now time.Time) (fresh bool, err error)
}

// Recorder appends an event to the outbox; it returns once durable.
type Recorder func(ctx context.Context, typ string, prio protocol.Priority, data any) error

// CommandFunc runs one command type and returns the result data.
type CommandFunc func(ctx context.Context, c protocol.Command) (any, error)

// Deps are what the applier uses.
type Deps struct {
	Logger  *slog.Logger
	Clock   clock.Clock
	BoxID   string
	Key     ed25519.PublicKey // the township's, pinned at provisioning
	Store   Store
	Record  Recorder
	Results func(protocol.CommandResult) // publishes a command's result
	Applied func(rev uint64)             // e.g. publish the reported state
}

// Applier applies desired state and runs commands.
type Applier struct {
	d    Deps
	log  *slog.Logger
	mu   sync.Mutex
	rev  uint64
	subs []func(protocol.Desired)
	cmds map[string]CommandFunc
}

// New checks deps and reads the applied rev from the store.
func New(deps Deps) (*Applier, error) {
	var errs []error
	if protocol.ValidateBoxID(deps.BoxID) != nil {
		errs = append(errs, fmt.Errorf("box id %q", deps.BoxID))
	}
	if len(deps.Key) != ed25519.PublicKeySize {
		errs = append(errs, errors.New("no township key"))
	}
	if deps.Store == nil || deps.Record == nil || deps.Clock == nil {
		errs = append(errs, errors.New("store, recorder and clock are required"))
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
		return nil, fmt.Errorf("desired: read applied state: %w", err)
	}
	a := &Applier{d: deps, log: deps.Logger.With("component", "desired"), rev: rev, cmds: map[string]CommandFunc{}}
	a.Handle("ping", func(context.Context, protocol.Command) (any, error) {
		return map[string]any{"pong": a.d.Clock.Now()}, nil
	})
	return a, nil
}

// Subscribe registers fn to receive every applied desired state, the
// persisted one included (see Start). Call before Start.
func (a *Applier) Subscribe(fn func(protocol.Desired)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.subs = append(a.subs, fn)
}

// Handle registers the runner of a command type. Call before Start.
func (a *Applier) Handle(typ string, fn CommandFunc) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cmds[typ] = fn
}

// AppliedRev is the rev of the state in force.
func (a *Applier) AppliedRev() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rev
}

// Start hands the persisted desired state to the subscribers, so the box
// runs what it had before a restart, uplink or not. The stored copy was
// verified when it arrived; it is decoded again, without the expiry check,
// since an expired state still beats none while the township is away.
func (a *Applier) Start() error {
	rev, payload, err := a.d.Store.AppliedDesired()
	if err != nil || rev == 0 {
		return err
	}
	d, err := protocol.OpenDesired(a.d.Key, a.d.BoxID, payload, time.Time{})
	if err != nil {
		return fmt.Errorf("desired: the stored state rev %d no longer verifies: %w", rev, err)
	}
	a.publish(d)
	return nil
}

func (a *Applier) publish(d protocol.Desired) {
	a.mu.Lock()
	subs := append([]func(protocol.Desired){}, a.subs...)
	a.mu.Unlock()
	for _, fn := range subs {
		fn(d)
	}
}

// HandleDesired verifies, persists and applies a payload from the desired
// topic. The retained copy the broker redelivers on every reconnect (the
// same rev) is ignored quietly.
func (a *Applier) HandleDesired(ctx context.Context, payload []byte) {
	d, err := protocol.OpenDesired(a.d.Key, a.d.BoxID, payload, a.d.Clock.Now())
	if err != nil {
		a.refuse(ctx, protocol.EventDesiredRejected, protocol.KindDesired, err, 0, "")
		return
	}
	a.mu.Lock()
	cur := a.rev
	a.mu.Unlock()
	switch {
	case d.Rev == cur:
		return
	case d.Rev < cur:
		a.refuse(ctx, protocol.EventDesiredRejected, protocol.KindDesired,
			&protocol.RejectError{Kind: protocol.KindDesired, Reason: protocol.ReasonStale, Err: fmt.Errorf("rev %d is older than the applied rev %d", d.Rev, cur)}, d.Rev, "")
		return
	}
	if err := a.d.Store.SaveDesired(d.Rev, payload); err != nil {
		a.log.Error("persisting desired state", "rev", d.Rev, "err", err)
		return // not applied; the retained copy comes again on reconnect
	}
	a.mu.Lock()
	a.rev = d.Rev
	a.mu.Unlock()
	a.log.Info("desired state applied", "rev", d.Rev, "previous_rev", cur)
	a.record(ctx, protocol.EventDesiredApplied, protocol.PriorityNotice, map[string]uint64{"rev": d.Rev})
	a.publish(d)
	a.d.Applied(d.Rev)
}

// HandleCommand verifies a payload from the cmd topic, refuses replays and
// runs it, answering on cmd/result.
func (a *Applier) HandleCommand(ctx context.Context, payload []byte) {
	now := a.d.Clock.Now()
	c, err := protocol.OpenCommand(a.d.Key, a.d.BoxID, payload, now)
	if err != nil {
		a.refuse(ctx, protocol.EventCmdRejected, protocol.KindCmd, err, 0, "")
		return
	}
	fresh, err := a.d.Store.RememberCommand(c.ID, c.ExpiresAt, now)
	if err != nil {
		a.log.Error("recording command id", "id", c.ID, "err", err)
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
	res := protocol.CommandResult{V: protocol.Version, ID: c.ID, BoxID: a.d.BoxID}
	if fn == nil {
		res.Error = fmt.Sprintf("unknown command type %q", c.Type)
		a.d.Results(res)
		return
	}
	out, err := fn(ctx, c)
	if err != nil {
		res.Error = err.Error()
	} else {
		res.OK = true
		if out != nil {
			if res.Data, err = json.Marshal(out); err != nil {
				res.OK, res.Data, res.Error = false, nil, "encoding the result: "+err.Error()
			}
		}
	}
	a.d.Results(res)
}

func (a *Applier) refuse(ctx context.Context, typ string, k protocol.Kind, err error, rev uint64, id string) {
	reason := "error"
	if re, ok := errors.AsType[*protocol.RejectError](err); ok {
		reason = re.Reason
	}
	a.log.Warn("refused", "topic", protocol.Topic(a.d.BoxID, k), "reason", reason, "rev", rev, "id", id, "err", err)
	a.record(ctx, typ, protocol.PriorityCritical, protocol.Rejected{Topic: protocol.Topic(a.d.BoxID, k), Reason: reason, Rev: rev, ID: id})
}

func (a *Applier) record(ctx context.Context, typ string, prio protocol.Priority, data any) {
	if err := a.d.Record(ctx, typ, prio, data); err != nil {
		a.log.Error("recording event", "type", typ, "err", err)
	}
}
