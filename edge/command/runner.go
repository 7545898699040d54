package command

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dalaba/dalaba/edge/clock"
	"github.com/dalaba/dalaba/protocol"
)

// Store is the part of the box's store the runner uses (*store.Store).
type Store interface {
	// RememberCommand records id until expires, after fsync; false if it
	// was seen before.
	RememberCommand(id string, expires, now time.Time) (fresh bool, err error)
}

// Recorder appends an event to the outbox; it returns once durable.
type Recorder func(ctx context.Context, typ string, prio protocol.Priority, data any) error

// DefaultMaxSlow is Config.MaxSlow's default: room for a few camera viewers
// joining, a page and a download at once, while a Raspberry Pi's CPU and
// the village uplink stay free for what plays.
const DefaultMaxSlow = 8

// Config tunes the runner.
type Config struct {
	// MaxSlow bounds the commands running on the slow lane at once,
	// DefaultMaxSlow if 0; one more is answered protocol.CodeBusy.
	MaxSlow int
}

// Deps are what the runner uses.
type Deps struct {
	Logger *slog.Logger
	Clock  clock.Clock // judges expiry: the box's clock, trusted or not
	BoxID  string
	Key    ed25519.PublicKey // the township's, pinned at provisioning
	Store  Store
	Record Recorder
	// Results publishes a command's result; it must not block for long
	// (the uplink queues it). Nil: results are dropped.
	Results func(protocol.CommandResult)
}

// Reasons this package adds to protocol's when it refuses a command.
const (
	ReasonUnknownCommand = "unknown command type"
)

// Queue lengths. Commands are few and small; intake and the control lane
// take each in well under a millisecond (an fsync aside), so a full queue
// means something is badly wrong, and the sender waits.
const (
	intakeQueue  = 64
	controlQueue = 64
)

// prepare decodes and validates a command's arguments and picks its lane.
type prepare func(protocol.Command) (job, error)

// job is a command ready to run.
type job struct {
	c    protocol.Command
	lane Lane
	run  func(ctx context.Context) (any, error)
	// probe, when not nil, makes the job a liveness probe (Alive): the
	// control lane closes it and runs nothing.
	probe chan struct{}
}

// Runner runs the box's commands. Make it with New, register the handlers,
// then Run it once; Receive may be called at any time.
type Runner struct {
	cfg Config
	d   Deps
	log *slog.Logger

	mu       sync.Mutex
	handlers map[string]prepare

	ran     atomic.Bool
	in      chan []byte
	control chan job
	slots   chan struct{}  // a token per running slow command
	running sync.WaitGroup // slow and urgent handlers
	stopped chan struct{}  // closed when Run returns
	alive   chan chan struct{}
}

// New checks cfg and deps, reporting every problem at once. It registers
// the "ping" command (control lane, any arguments), which answers
// {"pong": <box time>}.
func New(cfg Config, deps Deps) (*Runner, error) {
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
	if cfg.MaxSlow < 0 {
		errs = append(errs, fmt.Errorf("max slow %d is negative", cfg.MaxSlow))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("command: %w", err)
	}
	if cfg.MaxSlow == 0 {
		cfg.MaxSlow = DefaultMaxSlow
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Results == nil {
		deps.Results = func(protocol.CommandResult) {}
	}
	r := &Runner{
		cfg: cfg, d: deps, log: deps.Logger.With("component", "command"),
		handlers: map[string]prepare{},
		in:       make(chan []byte, intakeQueue),
		control:  make(chan job, controlQueue),
		slots:    make(chan struct{}, cfg.MaxSlow),
		stopped:  make(chan struct{}),
		alive:    make(chan chan struct{}),
	}
	Register(r, "ping", Control, func(context.Context, protocol.Command, json.RawMessage) (any, error) {
		return map[string]time.Time{"pong": r.d.Clock.Now()}, nil
	})
	return r, nil
}

func (r *Runner) add(typ string, p prepare) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.handlers[typ]; dup {
		panic(fmt.Sprintf("command: %q registered twice", typ))
	}
	r.handlers[typ] = p
}

func (r *Runner) handler(typ string) prepare {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.handlers[typ]
}

// Receive hands over a payload from the cmd topic and returns: at once
// while intake keeps up, else when there is room, ctx ends or the runner
// has stopped (the payload is then dropped, unread: the box is stopping,
// and the township stops waiting when the command expires).
func (r *Runner) Receive(ctx context.Context, payload []byte) {
	select {
	case r.in <- payload:
	case <-ctx.Done():
	case <-r.stopped:
		r.log.Info("a command arrived after the runner stopped; dropped")
	}
}

// Run runs commands until ctx ends; then it cancels the running handlers,
// answers what was queued and not run, and returns nil once every handler
// has returned. It is called once.
func (r *Runner) Run(ctx context.Context) error {
	if !r.ran.CompareAndSwap(false, true) {
		return errors.New("command: Run called twice")
	}
	defer close(r.stopped)
	var lanes sync.WaitGroup
	lanes.Go(func() { r.intake(ctx) })
	lanes.Go(func() { r.controlLane(ctx) })
	lanes.Wait()
	r.running.Wait() // their contexts derive from ctx: cancelled already
	for {
		select {
		case j := <-r.control:
			if j.probe != nil {
				continue
			}
			r.answer(failed(j.c, "the box stopped before it ran the command"))
		default:
			return nil
		}
	}
}

func (r *Runner) intake(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-r.in:
			r.accept(ctx, p)
		case probe := <-r.alive:
			select {
			case r.control <- job{probe: probe}:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (r *Runner) controlLane(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-r.control:
			r.execute(ctx, j)
		}
	}
}

// accept verifies a payload, refuses a replay, prepares the command and
// hands it to its lane.
func (r *Runner) accept(ctx context.Context, payload []byte) {
	now := r.d.Clock.Now()
	c, err := protocol.OpenCommand(r.d.Key, r.d.BoxID, payload, now)
	if err != nil {
		r.refuse(ctx, err, r.answerIfLate(err, payload))
		return
	}
	fresh, err := r.d.Store.RememberCommand(c.ID, c.ExpiresAt, now)
	if err != nil {
		// Not run: without the id on disk a redelivery could run it twice.
		r.log.Error("recording the command id; not running it", "command_id", c.ID, "err", err)
		r.answer(failed(c, "the box could not record the command id"))
		return
	}
	if !fresh {
		r.refuse(ctx, &protocol.RejectError{Kind: protocol.KindCmd, Reason: protocol.ReasonReplay}, c.ID)
		return
	}
	prep := r.handler(c.Type)
	if prep == nil {
		r.refuse(ctx, &protocol.RejectError{Kind: protocol.KindCmd, Reason: ReasonUnknownCommand, Err: fmt.Errorf("type %q", c.Type)}, c.ID)
		r.answer(result(c, protocol.CodeUnknownCommand, fmt.Sprintf("unknown command type %q", c.Type)))
		return
	}
	j, err := prep(c)
	if err != nil {
		r.log.Warn("command arguments refused", "command_id", c.ID, "type", c.Type, "err", err)
		r.answer(result(c, protocol.CodeInvalidArgs, err.Error()))
		return
	}
	r.log.Debug("command accepted", "command_id", c.ID, "type", c.Type, "lane", j.lane)
	switch j.lane {
	case Control:
		select {
		case r.control <- j:
		case <-ctx.Done():
			r.answer(failed(c, "the box stopped before it ran the command"))
		}
	case Slow:
		select {
		case r.slots <- struct{}{}:
			r.goRun(ctx, j, func() { <-r.slots })
		default:
			r.log.Warn("command refused: the slow lane is full", "command_id", c.ID, "type", c.Type, "max_slow", r.cfg.MaxSlow)
			r.answer(result(c, protocol.CodeBusy, fmt.Sprintf("the box is already running %d slow commands; try again shortly", r.cfg.MaxSlow)))
		}
	default: // Urgent
		r.goRun(ctx, j, func() {})
	}
}

// answerIfLate answers a command refused only for having expired on
// arrival, and returns its id: it was verified, so its id is the
// township's, and the township learns at once that it came too late.
func (r *Runner) answerIfLate(err error, payload []byte) string {
	re, ok := errors.AsType[*protocol.RejectError](err)
	if !ok || re.Reason != protocol.ReasonExpired {
		return ""
	}
	c, err := protocol.OpenCommand(r.d.Key, r.d.BoxID, payload, time.Time{})
	if err != nil {
		return ""
	}
	r.answer(result(c, protocol.CodeExpired, ErrExpired.Error()))
	return c.ID
}

func (r *Runner) goRun(ctx context.Context, j job, release func()) {
	r.running.Add(1)
	go func() {
		defer r.running.Done()
		defer release()
		r.execute(ctx, j)
	}()
}

// execute runs a command within its lifetime and answers it.
func (r *Runner) execute(ctx context.Context, j job) {
	if j.probe != nil {
		close(j.probe)
		return
	}
	c := j.c
	if ctx.Err() != nil {
		r.answer(failed(c, "the box stopped before it ran the command"))
		return
	}
	lt := &lifetime{clk: r.d.Clock, expires: c.ExpiresAt}
	if lt.over() {
		r.log.Warn("command expired before it ran", "command_id", c.ID, "type", c.Type, "lane", j.lane, "expires_at", c.ExpiresAt)
		r.answer(result(c, protocol.CodeExpired, ErrExpired.Error()))
		return
	}
	hctx, stop := withExpiry(ctx, r.d.Clock, c.ExpiresAt)
	start := r.d.Clock.Now()
	out, err := j.run(context.WithValue(hctx, lifetimeKey{}, lt))
	stop()
	took := r.d.Clock.Now().Sub(start)
	switch {
	case lt.expiredUncommitted() || errors.Is(err, ErrExpired):
		r.log.Warn("command expired while it ran; not carried out", "command_id", c.ID, "type", c.Type, "lane", j.lane, "took", took, "err", err)
		r.answer(result(c, protocol.CodeExpired, ErrExpired.Error()))
	case err != nil && ctx.Err() != nil:
		r.answer(failed(c, "the box stopped while it ran the command: "+err.Error()))
	case err != nil:
		r.log.Info("command failed", "command_id", c.ID, "type", c.Type, "lane", j.lane, "took", took, "err", err)
		code := protocol.CodeFailed
		if ce, ok := errors.AsType[Coded](err); ok && ce.ResultCode() != "" && len(ce.ResultCode()) <= protocol.MaxResultCodeLen {
			code = ce.ResultCode()
		}
		r.answer(result(c, code, err.Error()))
	default:
		res := protocol.CommandResult{V: protocol.Version, ID: c.ID, BoxID: r.d.BoxID, OK: true}
		if out != nil {
			b, err := json.Marshal(out)
			if err != nil {
				r.answer(failed(c, "encoding the result: "+err.Error()))
				return
			}
			res.Data = b
		}
		r.log.Info("command done", "command_id", c.ID, "type", c.Type, "lane", j.lane, "took", took)
		r.answer(res)
	}
}

func result(c protocol.Command, code, msg string) protocol.CommandResult {
	return protocol.CommandResult{V: protocol.Version, ID: c.ID, BoxID: c.BoxID, Code: code, Error: msg}
}

func failed(c protocol.Command, msg string) protocol.CommandResult {
	return result(c, protocol.CodeFailed, msg)
}

func (r *Runner) answer(res protocol.CommandResult) {
	res.V, res.BoxID = protocol.Version, r.d.BoxID
	r.d.Results(res)
}

func (r *Runner) refuse(ctx context.Context, err error, id string) {
	reason := protocol.ReasonInvalid
	if re, ok := errors.AsType[*protocol.RejectError](err); ok {
		reason = re.Reason
	}
	topic := protocol.Topic(r.d.BoxID, protocol.KindCmd)
	r.log.Warn("command refused", "topic", topic, "reason", reason, "command_id", id, "err", err)
	if err := r.d.Record(ctx, protocol.EventCmdRejected, protocol.PriorityCritical, protocol.Rejected{Topic: topic, Reason: reason, ID: id}); err != nil {
		r.log.Error("recording event", "type", protocol.EventCmdRejected, "err", err)
	}
}

// Alive returns nil once the intake and the control lane have each taken a
// turn, which a hung runner never does; ctx bounds the wait. The service
// manager's watchdog is pinged only after it answers.
func (r *Runner) Alive(ctx context.Context) error {
	probe := make(chan struct{})
	select {
	case r.alive <- probe:
	case <-r.stopped:
		return errors.New("command: the runner has stopped")
	case <-ctx.Done():
		return fmt.Errorf("command: intake did not answer: %w", ctx.Err())
	}
	select {
	case <-probe:
		return nil
	case <-r.stopped:
		return errors.New("command: the runner has stopped")
	case <-ctx.Done():
		return fmt.Errorf("command: the control lane did not answer: %w", ctx.Err())
	}
}
