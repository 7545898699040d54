package plan

import (
	"bytes"
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
// AllowsLocalCameraTargets is Deps.AllowLocalCameraTargets: whether a
// camera URL may name the box itself or other non-LAN addresses.
func (p *Planner) AllowsLocalCameraTargets() bool { return p.allowLocal }

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
		var err error
		spec, err = p.compile(pl, fn, index, by)
		saved = *pl
		return err
	})
	if err != nil {
		return store.Plan{}, 0, fmt.Errorf("plan: update %s: %w", box, err)
	}
	rev, err := p.sign(ctx, box, spec, index)
	if err != nil {
		p.log.Error("plan saved but its desired state not signed", "box_id", box, "err", err)
		return saved, 0, fmt.Errorf("plan: %s saved, desired state not made: %w", box, err)
	}
	p.log.Info("plan changed", "box_id", box, "rev", rev, "user", by)
	return saved, rev, nil
}

// signAttempts bounds sign's rounds against replicas changing one plan.
const signAttempts = 4

// sign signs spec, compiled from the plan as saved, as box's next
// desired state. Replicas of the service save and sign one box's plan
// side by side, so another may have saved a later plan and signed it
// before this signature: the box would then get the earlier plan, the
// later rev. So once signed, the plan stored is compiled again, and while
// that differs from what was signed (or another replica took the rev),
// it is signed in turn: the last rev is always the stored plan's.
func (p *Planner) sign(ctx context.Context, box string, spec json.RawMessage, index map[string]store.MediaInfo) (uint64, error) {
	var err error
	for range signAttempts {
		var rev uint64
		rev, err = p.fl.SetSpec(ctx, box, spec)
		if err != nil && !errors.Is(err, store.ErrExists) {
			return 0, err
		}
		cur, gerr := p.st.GetPlan(ctx, box)
		if errors.Is(gerr, store.ErrNotFound) {
			cur, gerr = store.Plan{BoxID: box}, nil
		}
		if gerr != nil {
			return 0, gerr
		}
		now, cerr := p.compile(&cur, func(*store.Plan) error { return nil }, index, "")
		if cerr != nil {
			return 0, cerr
		}
		if err == nil && bytes.Equal(now, spec) {
			return rev, nil
		}
		spec = now
	}
	return 0, fmt.Errorf("plan: the plan of %s kept changing while it was signed: %w", box, err)
}

// compile lets fn change pl, compiles it with the media index into a
// desired spec and, only if that is valid, marks pl as edited by by now.
func (p *Planner) compile(pl *store.Plan, fn func(*store.Plan) error, index map[string]store.MediaInfo, by string) (json.RawMessage, error) {
	if err := fn(pl); err != nil {
		return nil, err
	}
	pl.Broadcast.Media = nil // compiled, never saved
	// The township's setting, never a client's: it is what the box
	// trusts to take a camera on itself.
	pl.Cameras.AllowLocalTargets = p.allowLocal
	s, err := Compile(pl.Broadcast, index)
	if err != nil {
		return nil, err
	}
	if len(pl.Cameras.Cameras) > 0 || len(pl.Cameras.ICE) > 0 {
		// A camera aimed at the box itself or the cloud's metadata
		// service is refused here, naming the camera and its url.
		if err := pl.Cameras.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		cams := pl.Cameras
		s.Cameras = &cams
	}
	spec, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode spec: %w", err)
	}
	if max := protocol.KindDesired.MaxPayload() - specHeadroom; len(spec) > max {
		return nil, fmt.Errorf("%w: the plan compiles to %d bytes of desired state, over %d", ErrInvalid, len(spec), max)
	}
	pl.UpdatedAt, pl.UpdatedBy = p.now(), by
	return spec, nil
}

// Batch limits: how many boxes share one write of their plans and one of
// their desired states. Large enough that a township's thousands of boxes
// cost a few dozen fsyncs; small enough that one write stays short.
const batchSize = 250

// batchStore is the store's batched writes (store.Batches).
type batchStore interface {
	UpdatePlans(ctx context.Context, ids []string, fn func(*store.Plan) error) ([]error, error)
}

// batchFleet signs and stores many desired states at once
// (fleet.SetSpecs).
type batchFleet interface {
	SetSpecs(ctx context.Context, boxes []string, specs []json.RawMessage) ([]uint64, []error, error)
}

// UpdateMany is Update for each of boxes with the same fn, done in
// batches when the store and the fleet can write them together. done is
// told each box's outcome, in order, once its plan and desired state are
// stored (rev) or it failed (err, as Update's).
func (p *Planner) UpdateMany(ctx context.Context, boxes []string, by string, fn func(*protocol.Broadcast) error, done func(box string, rev uint64, err error)) error {
	bs, okS := p.st.(batchStore)
	bf, okF := p.fl.(batchFleet)
	if !okS || !okF {
		for _, box := range boxes {
			if err := ctx.Err(); err != nil {
				return err
			}
			_, rev, err := p.Update(ctx, box, by, fn)
			done(box, rev, err)
		}
		return nil
	}
	for start := 0; start < len(boxes); start += batchSize {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := p.updateBatch(ctx, bs, bf, boxes[start:min(start+batchSize, len(boxes))], by, fn, done); err != nil {
			return err
		}
	}
	return nil
}

func (p *Planner) updateBatch(ctx context.Context, bs batchStore, bf batchFleet, boxes []string, by string,
	fn func(*protocol.Broadcast) error, done func(string, uint64, error)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	all, err := p.st.ListMedia(ctx)
	if err != nil {
		return fmt.Errorf("plan: update many: %w", err)
	}
	index := make(map[string]store.MediaInfo, len(all))
	for _, m := range all {
		index[m.SHA256] = m
	}
	specs := make(map[string]json.RawMessage, len(boxes))
	errs, err := bs.UpdatePlans(ctx, boxes, func(pl *store.Plan) error {
		spec, err := p.compile(pl, func(pl *store.Plan) error { return fn(&pl.Broadcast) }, index, by)
		if err == nil {
			specs[pl.BoxID] = spec
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("plan: update many: %w", err)
	}
	var saved []string
	var savedSpecs []json.RawMessage
	for i, box := range boxes {
		if errs[i] == nil {
			saved, savedSpecs = append(saved, box), append(savedSpecs, specs[box])
		}
	}
	var revs []uint64
	var signErrs []error
	if len(saved) > 0 {
		if revs, signErrs, err = bf.SetSpecs(ctx, saved, savedSpecs); err != nil {
			p.log.Error("plans saved but their desired states not signed", "boxes", len(saved), "err", err)
			return fmt.Errorf("plan: %d plans saved, desired states not made: %w", len(saved), err)
		}
	}
	k := 0
	for i, box := range boxes {
		if errs[i] != nil {
			done(box, 0, fmt.Errorf("plan: update %s: %w", box, errs[i]))
			continue
		}
		rev, err := revs[k], signErrs[k]
		k++
		if err != nil {
			p.log.Error("plan saved but its desired state not signed", "box_id", box, "err", err)
			done(box, 0, fmt.Errorf("plan: %s saved, desired state not made: %w", box, err))
			continue
		}
		done(box, rev, nil)
	}
	p.log.Info("plans changed", "boxes", len(saved), "user", by)
	return nil
}
