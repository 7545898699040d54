package rollout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Sentinel errors.
var (
	// ErrInvalid: a rollout the township refuses (no such release, no
	// boxes, bad waves); nothing stored.
	ErrInvalid = errors.New("rollout: invalid")
	// ErrState: the rollout cannot do that now (resume a cancelled one).
	ErrState = errors.New("rollout: not possible in its state")
)

// DefaultWaves are the waves of a rollout that names none.
var DefaultWaves = []int{10, 50, 100}

// Sender sends a command to a box and waits for its result
// (downlink.Downlink).
type Sender interface {
	SendCommand(ctx context.Context, box, typ string, args any, ttl time.Duration) (protocol.CommandResult, error)
}

// Store is what the engine keeps and reads.
type Store interface {
	store.Updates
	ListBoxes(ctx context.Context) ([]store.Box, error)
}

// Config tunes the engine.
type Config struct {
	// ReleaseURL is where boxes download binaries: the township's public
	// address and release.BoxPrefix; the sha256 is appended.
	ReleaseURL string
	Tick       time.Duration // how often rollouts are looked at; 0: 2s
	CommandTTL time.Duration // update.install's lifetime; 0: 10m
	Retry      time.Duration // before a passing refusal is tried again; 0: 1m
	BoxTimeout time.Duration // a sent box that has not proved itself by then failed; 0: 1h
}

// Deps are what the engine uses.
type Deps struct {
	Logger *slog.Logger
	Store  Store
	Sender Sender
	Now    func() time.Time
}

// Engine runs rollouts. Make it with New; Run it once.
type Engine struct {
	cfg Config
	d   Deps
	log *slog.Logger

	mu       sync.Mutex
	reported map[string]protocol.Reported // box → its latest report
	inflight map[string]bool              // box → an install is on its way
	results  chan result
	kick     chan struct{}
	sends    sync.WaitGroup
}

type result struct {
	rollout, box string
	res          protocol.CommandResult
	err          error
}

// New checks cfg and deps; it starts nothing.
func New(cfg Config, deps Deps) (*Engine, error) {
	if deps.Store == nil || deps.Sender == nil || cfg.ReleaseURL == "" {
		return nil, errors.New("rollout: Config.ReleaseURL, Deps.Store and Sender are required")
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 2 * time.Second
	}
	if cfg.CommandTTL <= 0 || cfg.CommandTTL > protocol.MaxCommandLifetime {
		cfg.CommandTTL = 10 * time.Minute
	}
	if cfg.Retry <= 0 {
		cfg.Retry = time.Minute
	}
	if cfg.BoxTimeout <= 0 {
		cfg.BoxTimeout = time.Hour
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Engine{cfg: cfg, d: deps, log: deps.Logger.With("component", "rollout"),
		reported: map[string]protocol.Reported{}, inflight: map[string]bool{},
		results: make(chan result, 64), kick: make(chan struct{}, 1)}, nil
}

// Reported is told of every box's reported state (the fleet's hook).
func (e *Engine) Reported(box string, r protocol.Reported) {
	e.mu.Lock()
	e.reported[box] = r
	e.mu.Unlock()
	e.poke()
}

func (e *Engine) poke() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// New rollouts.
type Spec struct {
	Version string
	// Boxes are the boxes by id; none: every box in service.
	Boxes []string
	// Percent takes that share of Boxes (1-100; 0: all of them).
	Percent int
	// Waves are cumulative percentages ending at 100; none: DefaultWaves.
	Waves []int
	// MaxFailures: the rollout pauses once more boxes failed; 0 pauses at
	// the first failure.
	MaxFailures int
	By          string
}

// Start stores a new rollout and begins its first wave.
func (e *Engine) Start(ctx context.Context, s Spec) (store.Rollout, error) {
	rel, err := e.d.Store.GetRelease(ctx, s.Version)
	if errors.Is(err, store.ErrNotFound) {
		return store.Rollout{}, fmt.Errorf("%w: no release %q", ErrInvalid, s.Version)
	}
	if err != nil {
		return store.Rollout{}, err
	}
	waves := s.Waves
	if len(waves) == 0 {
		waves = DefaultWaves
	}
	if err := validWaves(waves); err != nil {
		return store.Rollout{}, err
	}
	if s.Percent < 0 || s.Percent > 100 || s.MaxFailures < 0 {
		return store.Rollout{}, fmt.Errorf("%w: percent %d (1-100, or 0 for all), max failures %d", ErrInvalid, s.Percent, s.MaxFailures)
	}
	all, err := e.d.Store.ListBoxes(ctx)
	if err != nil {
		return store.Rollout{}, err
	}
	inService := map[string]bool{}
	for _, b := range all {
		if !b.Retired() {
			inService[b.ID] = true
		}
	}
	ids := s.Boxes
	if len(ids) == 0 {
		for id := range inService {
			ids = append(ids, id)
		}
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if !inService[id] {
			return store.Rollout{}, fmt.Errorf("%w: no box %q in service", ErrInvalid, id)
		}
		if seen[id] {
			return store.Rollout{}, fmt.Errorf("%w: box %q named twice", ErrInvalid, id)
		}
		seen[id] = true
	}
	if len(ids) == 0 {
		return store.Rollout{}, fmt.Errorf("%w: no boxes", ErrInvalid)
	}
	id := newID()
	// A spread that is the same for the same rollout, so a percentage
	// does not always pick the boxes first in the alphabet.
	order := slices.Clone(ids)
	slices.SortFunc(order, func(a, b string) int { return cmpHash(id, a, b) })
	if s.Percent > 0 {
		order = order[:ceilShare(len(order), s.Percent)]
	}
	now := e.d.Now().UTC()
	r := store.Rollout{ID: id, Version: rel.Version, Waves: slices.Clone(waves), MaxFailures: s.MaxFailures, State: store.RolloutRunning,
		CreatedBy: s.By, CreatedAt: now, UpdatedAt: now}
	for i, box := range order {
		w := 0
		for w < len(waves)-1 && i >= ceilShare(len(order), waves[w]) {
			w++
		}
		r.Boxes = append(r.Boxes, store.RolloutBox{BoxID: box, Wave: w, State: store.BoxWaiting})
	}
	if err := e.d.Store.CreateRollout(ctx, r); err != nil {
		return store.Rollout{}, err
	}
	e.log.Info("rollout started", "rollout", id, "version", rel.Version, "boxes", len(r.Boxes), "waves", waves, "user", s.By)
	e.poke()
	return r, nil
}

func validWaves(w []int) error {
	if len(w) > 10 {
		return fmt.Errorf("%w: at most 10 waves", ErrInvalid)
	}
	prev := 0
	for _, p := range w {
		if p <= prev || p > 100 {
			return fmt.Errorf("%w: waves %v: growing percentages ending at 100", ErrInvalid, w)
		}
		prev = p
	}
	if prev != 100 {
		return fmt.Errorf("%w: waves %v: the last must be 100", ErrInvalid, w)
	}
	return nil
}

// ceilShare is ceil(n*p/100), at least 1.
func ceilShare(n, p int) int { return max(1, (n*p+99)/100) }

func cmpHash(salt, a, b string) int {
	h := func(s string) uint64 { f := fnv.New64a(); f.Write([]byte(salt + "/" + s)); return f.Sum64() }
	ha, hb := h(a), h(b)
	switch {
	case ha < hb:
		return -1
	case ha > hb:
		return 1
	}
	return cmpString(a, b)
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func newID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "ro-" + hex.EncodeToString(b)
}

// Pause stops sending; boxes already sent finish what they do.
func (e *Engine) Pause(ctx context.Context, id, reason string) (store.Rollout, error) {
	return e.change(ctx, id, func(r *store.Rollout) error {
		if r.State != store.RolloutRunning {
			return fmt.Errorf("%w: the rollout is %s", ErrState, r.State)
		}
		r.State, r.Reason = store.RolloutPaused, reason
		return nil
	})
}

// Resume carries on a paused rollout. The failures so far stay counted,
// and the threshold is raised past them, so a resumed rollout does not
// pause again at once for what an official chose to accept.
func (e *Engine) Resume(ctx context.Context, id string) (store.Rollout, error) {
	return e.change(ctx, id, func(r *store.Rollout) error {
		if r.State != store.RolloutPaused {
			return fmt.Errorf("%w: the rollout is %s", ErrState, r.State)
		}
		if f := failures(*r); f > r.MaxFailures {
			r.MaxFailures = f
		}
		r.State, r.Reason = store.RolloutRunning, ""
		return nil
	})
}

// Cancel ends a rollout that is not over; boxes not yet sent stay as they
// are.
func (e *Engine) Cancel(ctx context.Context, id string) (store.Rollout, error) {
	return e.change(ctx, id, func(r *store.Rollout) error {
		if r.State == store.RolloutDone || r.State == store.RolloutCancelled {
			return fmt.Errorf("%w: the rollout is %s", ErrState, r.State)
		}
		r.State = store.RolloutCancelled
		return nil
	})
}

func (e *Engine) change(ctx context.Context, id string, fn func(*store.Rollout) error) (store.Rollout, error) {
	var out store.Rollout
	err := e.d.Store.UpdateRollout(ctx, id, func(r *store.Rollout) error {
		if err := fn(r); err != nil {
			return err
		}
		r.UpdatedAt = e.d.Now().UTC()
		out = *r
		return nil
	})
	if err == nil {
		e.log.Info("rollout changed", "rollout", id, "state", out.State)
		e.poke()
	}
	return out, err
}

func failures(r store.Rollout) int {
	n := 0
	for _, b := range r.Boxes {
		if b.State == store.BoxFailed {
			n++
		}
	}
	return n
}

// Rollouts lists every rollout, newest first.
func (e *Engine) Rollouts(ctx context.Context) ([]store.Rollout, error) {
	return e.d.Store.ListRollouts(ctx)
}

// Rollout returns one rollout; store.ErrNotFound for an unknown id.
func (e *Engine) Rollout(ctx context.Context, id string) (store.Rollout, error) {
	return e.d.Store.GetRollout(ctx, id)
}
