package plan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Store is what the planner reads and writes.
type Store interface {
	GetBox(ctx context.Context, id string) (store.Box, error)
	store.Plans
	ListMedia(ctx context.Context) ([]store.MediaInfo, error)
}

// Fleet signs, stores and publishes a box's desired state.
type Fleet interface {
	SetSpec(ctx context.Context, id string, spec json.RawMessage) (uint64, error)
}

// Deps are what the planner uses.
type Deps struct {
	Logger *slog.Logger
	Store  Store
	Fleet  Fleet
	Now    func() time.Time // nil = time.Now
	// AllowLocalCameraTargets is the township's cameras.allow_local_targets:
	// every plan's cameras get it, whatever a client sent.
	AllowLocalCameraTargets bool
}

// Planner edits plans and keeps each box's desired state compiled from its
// plan.
type Planner struct {
	log *slog.Logger
	st  Store
	fl  Fleet
	now func() time.Time
	// allowLocal is Deps.AllowLocalCameraTargets.
	allowLocal bool

	// mu serialises save-then-sign, so desired states are signed in the
	// order plans were saved and the last one signed is the saved plan.
	mu sync.Mutex
}

// specHeadroom is left of the desired topic's payload limit for the
// envelope around the spec: signature, box id, rev and times.
const specHeadroom = 1 << 10

// New validates deps.
func New(deps Deps) (*Planner, error) {
	if deps.Logger == nil || deps.Store == nil || deps.Fleet == nil {
		return nil, errors.New("plan: new: Deps.Logger, Store and Fleet are required")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Planner{log: deps.Logger.With("component", "plan"), st: deps.Store, fl: deps.Fleet, now: deps.Now,
		allowLocal: deps.AllowLocalCameraTargets}, nil
}

// Get returns box's plan, the empty plan when none was saved;
// store.ErrNotFound for an unknown box.
func (p *Planner) Get(ctx context.Context, box string) (store.Plan, error) {
	pl, err := p.st.GetPlan(ctx, box)
	if errors.Is(err, store.ErrNotFound) {
		if _, err := p.st.GetBox(ctx, box); err != nil {
			return store.Plan{}, fmt.Errorf("plan: get %s: %w", box, err)
		}
		return store.Plan{BoxID: box}, nil
	}
	if err != nil {
		return store.Plan{}, fmt.Errorf("plan: get %s: %w", box, err)
	}
	return pl, nil
}

// Update lets fn change box's plan, compiles the result and, only if it is
// a valid desired state, saves it (as edited by user by, now) and has the
// fleet sign and publish it. It returns the saved plan and the new desired
// rev. fn's error, ErrInvalid or ErrInUse, or store.ErrNotFound for an
// unknown box, leave the plan and the desired state as they were.
//
// If signing fails after the save, the plan is kept and the error says
// so; the next change compiles again.
func (p *Planner) Update(ctx context.Context, box, by string, fn func(*protocol.Broadcast) error) (store.Plan, uint64, error) {
	return p.update(ctx, box, by, func(pl *store.Plan) error { return fn(&pl.Broadcast) })
}

// UpdateCameras is Update for the box's cameras.
func (p *Planner) UpdateCameras(ctx context.Context, box, by string, fn func(*protocol.Cameras) error) (store.Plan, uint64, error) {
	return p.update(ctx, box, by, func(pl *store.Plan) error { return fn(&pl.Cameras) })
}

func (p *Planner) update(ctx context.Context, box, by string, fn func(*store.Plan) error) (store.Plan, uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Read before the write transaction, which must not call the store.
	// Clips are never removed from the index, so a clip found here is
	// still there when the plan is saved.
	all, err := p.st.ListMedia(ctx)
	if err != nil {
		return store.Plan{}, 0, fmt.Errorf("plan: update %s: %w", box, err)
	}
	index := make(map[string]store.MediaInfo, len(all))
	for _, m := range all {
		index[m.SHA256] = m
	}
	var saved store.Plan
	var spec json.RawMessage
	err = p.st.UpdatePlan(ctx, box, func(pl *store.Plan) error {
		if err := fn(pl); err != nil {
			return err
		}
		pl.Broadcast.Media = nil // compiled, never saved
		// The township's setting, never a client's: it is what the box
		// trusts to take a camera on itself.
		pl.Cameras.AllowLocalTargets = p.allowLocal
		s, err := Compile(pl.Broadcast, index)
		if err != nil {
			return err
		}
		if len(pl.Cameras.Cameras) > 0 || len(pl.Cameras.ICE) > 0 {
			// A camera aimed at the box itself or the cloud's metadata
			// service is refused here, naming the camera and its url.
			if err := pl.Cameras.Validate(); err != nil {
				return fmt.Errorf("%w: %w", ErrInvalid, err)
			}
			cams := pl.Cameras
			s.Cameras = &cams
		}
		if spec, err = json.Marshal(s); err != nil {
			return fmt.Errorf("encode spec: %w", err)
		}
		if max := protocol.KindDesired.MaxPayload() - specHeadroom; len(spec) > max {
			return fmt.Errorf("%w: the plan compiles to %d bytes of desired state, over %d", ErrInvalid, len(spec), max)
		}
		pl.UpdatedAt, pl.UpdatedBy = p.now(), by
		saved = *pl
		return nil
	})
	if err != nil {
		return store.Plan{}, 0, fmt.Errorf("plan: update %s: %w", box, err)
	}
	rev, err := p.fl.SetSpec(ctx, box, spec)
	if err != nil {
		p.log.Error("plan saved but its desired state not signed", "box_id", box, "err", err)
		return saved, 0, fmt.Errorf("plan: %s saved, desired state not made: %w", box, err)
	}
	p.log.Info("plan changed", "box_id", box, "rev", rev, "user", by)
	return saved, rev, nil
}
