package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// UpdatePlans runs fn on each box's plan in one transaction; a box fn
// refuses, or an unknown one, keeps its plan and gets its error. The
// boxes' rows, which serialise their plans' updates, are locked in id
// order.
func (s *Store) UpdatePlans(ctx context.Context, ids []string, fn func(*store.Plan) error) ([]error, error) {
	errs := make([]error, len(ids))
	sorted := slices.Compact(slices.Sorted(slices.Values(ids)))
	err := s.tx(ctx, "update plans", func(tx pgx.Tx) error {
		clear(errs)
		stored := false
		found, err := lockBoxes(ctx, tx, sorted)
		if err != nil {
			return err
		}
		for i, id := range ids {
			if _, ok := found[id]; !ok {
				errs[i] = fmt.Errorf("pgstore: update plan of %s: box %q: %w", id, id, store.ErrNotFound)
				continue
			}
			p, err := getPlan(ctx, tx, id)
			if errors.Is(err, store.ErrNotFound) {
				p, err = store.Plan{BoxID: id}, nil
			}
			if err != nil {
				return err
			}
			if err := fn(&p); err != nil {
				errs[i] = fmt.Errorf("pgstore: update plan of %s: %w", id, err)
				continue
			}
			p.BoxID = id
			if err := putPlan(ctx, tx, p); err != nil {
				return err
			}
			stored = true
		}
		if !stored {
			return nil
		}
		return s.notifyFleet(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// planDevices is what ListOverviews decodes of a stored plan.
type planDevices struct {
	Speakers []idName `json:"speakers"`
	Cameras  []idName `json:"cameras"`
}

type idName struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ListOverviews reads every box with its plan and latest events on one
// snapshot, in three queries whatever the fleet's size: the boxes, the
// plans, and each box's window of events by a lateral join on its row.
func (s *Store) ListOverviews(ctx context.Context, window int, types []string) ([]store.Overview, error) {
	if window < 1 {
		return nil, fmt.Errorf("pgstore: list overviews: window %d, must be positive", window)
	}
	var out []store.Overview
	err := s.read(ctx, "list overviews", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+boxRead+` FROM boxes ORDER BY id COLLATE "C"`)
		if err != nil {
			return err
		}
		boxes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Box, error) { return scanBox(r) })
		if err != nil {
			return err
		}
		at := make(map[string]int, len(boxes))
		out = make([]store.Overview, len(boxes))
		for i, b := range boxes {
			out[i] = store.Overview{Box: b, Plan: store.Plan{BoxID: b.ID}}
			at[b.ID] = i
		}
		if err := overviewPlans(ctx, tx, out, at); err != nil {
			return err
		}
		// After Position(incarnation, watermark-window), or the
		// incarnation's start; at most 2*window events, of every type,
		// as ListEvents would read them.
		rows, err = tx.Query(ctx, `SELECT e.box_id, e.incarnation, e.seq, e.time, e.type, e.priority, e.data, e.received_at
			FROM boxes b CROSS JOIN LATERAL (
				SELECT * FROM events
				WHERE box_id = b.id AND (incarnation, seq) > (b.incarnation, greatest(b.watermark - $1, 0))
				ORDER BY incarnation, seq LIMIT $2) e
			ORDER BY e.box_id, e.incarnation, e.seq`, int64(window), 2*window)
		if err != nil {
			return err
		}
		evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Event, error) { return scanEvent(r) })
		if err != nil {
			return fmt.Errorf("events: %w", err)
		}
		for _, e := range evs {
			if types != nil && !slices.Contains(types, e.Type) {
				continue
			}
			o := &out[at[e.BoxID]]
			o.Recent = append(o.Recent, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// overviewPlans fills each overview's plan with its devices' ids and
// names.
func overviewPlans(ctx context.Context, tx pgx.Tx, out []store.Overview, at map[string]int) error {
	rows, err := tx.Query(ctx, `SELECT box_id, broadcast, cameras FROM plans`)
	if err != nil {
		return fmt.Errorf("plans: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id       string
			bc, cams []byte
			d        planDevices
		)
		if err := rows.Scan(&id, &bc, &cams); err != nil {
			return fmt.Errorf("plans: %w", err)
		}
		i, ok := at[id]
		if !ok {
			continue
		}
		if err := json.Unmarshal(bc, &d); err != nil {
			return fmt.Errorf("plan of box %q: decode: %w", id, err)
		}
		if err := json.Unmarshal(cams, &d); err != nil {
			return fmt.Errorf("plan of box %q: decode cameras: %w", id, err)
		}
		p := &out[i].Plan
		for _, s := range d.Speakers {
			p.Broadcast.Speakers = append(p.Broadcast.Speakers, protocol.Speaker{ID: s.ID, Name: s.Name})
		}
		for _, c := range d.Cameras {
			p.Cameras.Cameras = append(p.Cameras.Cameras, protocol.Camera{ID: c.ID, Name: c.Name})
		}
	}
	return rows.Err()
}
