package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// emptySpec is the desired spec until features fill it in.
var emptySpec = json.RawMessage(`{}`)

// signNext signs spec (nil = the current spec, or an empty one) as box id's
// next rev, issued now and valid for the configured validity, and stores
// it. Only then may it be published: what was published is always what a
// restart republishes.
func (f *Fleet) signNext(ctx context.Context, id string, spec json.RawMessage) (store.Desired, error) {
	f.signMu.Lock()
	defer f.signMu.Unlock()
	b, err := f.st.GetBox(ctx, id)
	if err != nil {
		return store.Desired{}, fmt.Errorf("fleet: sign desired for %s: %w", id, err)
	}
	if b.Retired() {
		return store.Desired{}, fmt.Errorf("fleet: sign desired for %s: %w", id, ErrRetired)
	}
	if spec == nil {
		spec = emptySpec
		if cur, err := f.current(ctx, id); err == nil && len(cur.Spec) > 0 {
			spec = cur.Spec
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.Desired{}, err
		}
	}
	now := f.now()
	rev := b.DesiredRev + 1
	payload, err := protocol.SignDesired(f.key, protocol.Desired{BoxID: id, Rev: rev, IssuedAt: now, ExpiresAt: now.Add(f.cfg.Validity), Spec: spec})
	if err != nil {
		return store.Desired{}, fmt.Errorf("fleet: sign desired for %s rev %d: %w", id, rev, err)
	}
	d := store.Desired{BoxID: id, Rev: rev, Payload: payload}
	if err := f.st.PutDesired(ctx, d); err != nil {
		return store.Desired{}, fmt.Errorf("fleet: store desired for %s rev %d: %w", id, rev, err)
	}
	return d, nil
}

// current decodes box id's stored desired state. It was signed here, so
// only the envelope is opened, without checking the signature or expiry.
func (f *Fleet) current(ctx context.Context, id string) (protocol.Desired, error) {
	sd, err := f.st.GetDesired(ctx, id)
	if err != nil {
		return protocol.Desired{}, fmt.Errorf("fleet: desired state of %s: %w", id, err)
	}
	var env protocol.Envelope
	var d protocol.Desired
	if err := json.Unmarshal(sd.Payload, &env); err != nil {
		return protocol.Desired{}, fmt.Errorf("fleet: stored desired state of %s: %w", id, err)
	}
	if err := json.Unmarshal(env.Body, &d); err != nil {
		return protocol.Desired{}, fmt.Errorf("fleet: stored desired state of %s: %w", id, err)
	}
	return d, nil
}

// SetSpec signs spec as box id's next desired state, stores and publishes
// it, and returns its rev.
func (f *Fleet) SetSpec(ctx context.Context, id string, spec json.RawMessage) (uint64, error) {
	if len(spec) == 0 || !json.Valid(spec) {
		return 0, fmt.Errorf("%w: spec of %s is not JSON", ErrInvalid, id)
	}
	if _, err := protocol.DecodeSpec(spec); err != nil {
		return 0, fmt.Errorf("%w: spec of %s: %w", ErrInvalid, id, err)
	}
	d, err := f.signNext(ctx, id, spec)
	if err != nil {
		return 0, err
	}
	f.log.Info("desired state changed", "box_id", id, "rev", d.Rev)
	f.publish(ctx, d)
	return d.Rev, nil
}

// publish sends d retained. A failure is not a loss: d is stored and is
// published again after the next connect.
func (f *Fleet) publish(ctx context.Context, d store.Desired) {
	if err := f.pub.PublishDesired(ctx, d.BoxID, d.Payload); err != nil {
		f.log.Warn("desired state stored, not published yet", "box_id", d.BoxID, "rev", d.Rev, "err", err)
		return
	}
	f.log.Debug("desired state published", "box_id", d.BoxID, "rev", d.Rev)
}

// Refresh re-signs, as rev+1, every desired state issued at least half its
// validity ago (and signs rev 1 for a box that has none), and publishes
// what it signed. Run calls it every RefreshEvery.
func (f *Fleet) Refresh(ctx context.Context) {
	f.each(ctx, false)
}

// Connected implements the downlink's Handler: after every connect it
// refreshes ageing desired states and republishes every box's stored one,
// retained, since an embedded broker forgets retained messages when it
// restarts. A box ignores a rev it already has.
func (f *Fleet) Connected(ctx context.Context) {
	f.each(ctx, true)
}

func (f *Fleet) each(ctx context.Context, all bool) {
	boxes, err := f.st.ListBoxes(ctx)
	if err != nil {
		f.log.Error("listing boxes for their desired state", "err", err)
		return
	}
	published := 0
	for _, b := range boxes {
		if ctx.Err() != nil {
			return
		}
		if b.Retired() {
			continue // nothing more is signed for it
		}
		d, fresh, err := f.refreshed(ctx, b.ID)
		if err != nil && ctx.Err() != nil {
			return // stopping: the next start signs it
		}
		if err != nil {
			f.log.Error("desired state not refreshed", "box_id", b.ID, "err", err)
			continue
		}
		if all || fresh {
			f.publish(ctx, d)
			published++
		}
	}
	if published > 0 {
		f.log.Info("desired states published", "boxes", published, "republish", all)
	}
}

// refreshed returns box id's stored desired state, re-signed first when it
// is missing or half its validity has passed (fresh is then true).
func (f *Fleet) refreshed(ctx context.Context, id string) (d store.Desired, fresh bool, err error) {
	cur, err := f.current(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return store.Desired{}, false, err
	case f.now().Sub(cur.IssuedAt) < f.cfg.Validity/2:
		d, err := f.st.GetDesired(ctx, id)
		return d, false, err
	}
	d, err = f.signNext(ctx, id, nil)
	if errors.Is(err, store.ErrExists) {
		// Another replica signed the box's next rev meanwhile: that one
		// is the box's desired state now.
		d, err = f.st.GetDesired(ctx, id)
		return d, err == nil, err
	}
	if err != nil {
		return store.Desired{}, false, err
	}
	why := "half its validity passed"
	if cur.Rev == 0 {
		why = "none stored"
	}
	f.log.Info("desired state signed", "box_id", id, "rev", d.Rev, "reason", why)
	return d, true, nil
}

// SetSpecs is SetSpec for many boxes with one durable write: specs[i] is
// signed as boxes[i]'s next rev, all are stored together, and then each
// is published. revs and errs are at each box's index; err is for the
// write, after which nothing was stored.
func (f *Fleet) SetSpecs(ctx context.Context, boxes []string, specs []json.RawMessage) (revs []uint64, errs []error, err error) {
	if len(boxes) != len(specs) {
		return nil, nil, fmt.Errorf("fleet: set specs: %d boxes, %d specs", len(boxes), len(specs))
	}
	revs, errs = make([]uint64, len(specs)), make([]error, len(specs))
	f.signMu.Lock()
	defer f.signMu.Unlock()
	now := f.now()
	var ds []store.Desired
	var at []int // ds[k] is specs[at[k]]'s
	for i, box := range boxes {
		d, err := f.signOne(ctx, box, specs[i], now)
		if err != nil {
			errs[i] = err
			continue
		}
		ds, at = append(ds, d), append(at, i)
	}
	if len(ds) == 0 {
		return revs, errs, nil
	}
	putErrs, err := f.st.PutDesiredBatch(ctx, ds)
	if err != nil {
		return nil, nil, fmt.Errorf("fleet: store desired states: %w", err)
	}
	for k, d := range ds {
		i := at[k]
		if putErrs[k] != nil {
			errs[i] = fmt.Errorf("fleet: store desired for %s rev %d: %w", d.BoxID, d.Rev, putErrs[k])
			continue
		}
		revs[i] = d.Rev
		f.publish(ctx, d)
	}
	f.log.Info("desired states changed", "boxes", len(ds))
	return revs, errs, nil
}

// signOne checks and signs spec as box's next rev. f.signMu is held.
func (f *Fleet) signOne(ctx context.Context, box string, spec json.RawMessage, now time.Time) (store.Desired, error) {
	if len(spec) == 0 || !json.Valid(spec) {
		return store.Desired{}, fmt.Errorf("%w: spec of %s is not JSON", ErrInvalid, box)
	}
	if _, err := protocol.DecodeSpec(spec); err != nil {
		return store.Desired{}, fmt.Errorf("%w: spec of %s: %w", ErrInvalid, box, err)
	}
	b, err := f.st.GetBox(ctx, box)
	if err != nil {
		return store.Desired{}, fmt.Errorf("fleet: sign desired for %s: %w", box, err)
	}
	if b.Retired() {
		return store.Desired{}, fmt.Errorf("fleet: sign desired for %s: %w", box, ErrRetired)
	}
	rev := b.DesiredRev + 1
	payload, err := protocol.SignDesired(f.key, protocol.Desired{BoxID: box, Rev: rev, IssuedAt: now, ExpiresAt: now.Add(f.cfg.Validity), Spec: spec})
	if err != nil {
		return store.Desired{}, fmt.Errorf("fleet: sign desired for %s rev %d: %w", box, rev, err)
	}
	return store.Desired{BoxID: box, Rev: rev, Payload: payload}, nil
}
