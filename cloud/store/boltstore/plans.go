package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// planRecord is the stored form of a store.Plan. The broadcast section is
// kept in the protocol's own JSON, which only grows compatibly within a
// protocol version.
type planRecord struct {
	Broadcast protocol.Broadcast `json:"broadcast"`
	Cameras   protocol.Cameras   `json:"cameras,omitzero"`
	UpdatedAt time.Time          `json:"updated_at"`
	UpdatedBy string             `json:"updated_by"`
}

func getPlan(tx *bolt.Tx, boxID string) (store.Plan, error) {
	v := tx.Bucket(bucketPlans).Get([]byte(boxID))
	if v == nil {
		return store.Plan{}, fmt.Errorf("plan of box %q: %w", boxID, store.ErrNotFound)
	}
	var r planRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return store.Plan{}, fmt.Errorf("plan of box %q: decode: %w", boxID, err)
	}
	return store.Plan{BoxID: boxID, Broadcast: r.Broadcast, Cameras: r.Cameras, UpdatedAt: r.UpdatedAt, UpdatedBy: r.UpdatedBy}, nil
}

// GetPlan returns box boxID's plan; ErrNotFound when none is stored.
func (s *Store) GetPlan(ctx context.Context, boxID string) (store.Plan, error) {
	if err := ctx.Err(); err != nil {
		return store.Plan{}, err
	}
	var p store.Plan
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		p, err = getPlan(tx, boxID)
		return err
	})
	if err != nil {
		return store.Plan{}, fmt.Errorf("boltstore: get plan: %w", err)
	}
	return p, nil
}

// UpdatePlan runs fn on box boxID's plan (empty when none is stored) in one
// write transaction; ErrNotFound for an unknown box; nothing is written if
// fn fails.
func (s *Store) UpdatePlan(ctx context.Context, boxID string, fn func(*store.Plan) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if _, err := getBox(tx, boxID); err != nil {
			return err
		}
		p, err := getPlan(tx, boxID)
		if errors.Is(err, store.ErrNotFound) {
			p, err = store.Plan{BoxID: boxID}, nil
		}
		if err != nil {
			return err
		}
		if err := fn(&p); err != nil {
			return err
		}
		v, err := json.Marshal(planRecord{Broadcast: p.Broadcast, Cameras: p.Cameras, UpdatedAt: p.UpdatedAt, UpdatedBy: p.UpdatedBy})
		if err != nil {
			return fmt.Errorf("plan of box %q: encode: %w", boxID, err)
		}
		return tx.Bucket(bucketPlans).Put([]byte(boxID), v)
	})
	if err != nil {
		return fmt.Errorf("boltstore: update plan of %s: %w", boxID, err)
	}
	return nil
}

// ListOverviews reads every box with its plan and latest events in one
// read transaction: one pass over the boxes, a seek into each box's
// events and a lookup of its plan, instead of three transactions a box.
func (s *Store) ListOverviews(ctx context.Context, window int, types []string) ([]store.Overview, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if window < 1 {
		return nil, fmt.Errorf("boltstore: list overviews: window %d, must be positive", window)
	}
	// The stored JSON of an event names its type as json.Marshal wrote
	// it; looking for that first skips decoding events nobody asked for.
	var marks [][]byte
	for _, t := range types {
		q, err := json.Marshal(t)
		if err != nil {
			return nil, fmt.Errorf("boltstore: list overviews: type %q: %w", t, err)
		}
		marks = append(marks, append([]byte(`"type":`), q...))
	}
	wanted := func(v []byte) bool {
		if marks == nil {
			return true
		}
		for _, m := range marks {
			if bytes.Contains(v, m) {
				return true
			}
		}
		return false
	}
	var out []store.Overview
	err := s.db.View(func(tx *bolt.Tx) error {
		events, plans := tx.Bucket(bucketEvents), tx.Bucket(bucketPlans)
		return tx.Bucket(bucketBoxes).ForEach(func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			var r boxRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("box %q: decode: %w", k, err)
			}
			id := string(k)
			o := store.Overview{Box: r.box(id), Plan: store.Plan{BoxID: id}}
			if v := plans.Get(k); v != nil {
				var d planDevices
				if err := json.Unmarshal(v, &d); err != nil {
					return fmt.Errorf("plan of box %q: decode: %w", id, err)
				}
				for _, s := range d.Broadcast.Speakers {
					o.Plan.Broadcast.Speakers = append(o.Plan.Broadcast.Speakers, protocol.Speaker{ID: s.ID, Name: s.Name})
				}
				for _, c := range d.Cameras.Cameras {
					o.Plan.Cameras.Cameras = append(o.Plan.Cameras.Cameras, protocol.Camera{ID: c.ID, Name: c.Name})
				}
			}
			after := store.Position(o.Box.Incarnation, 0)
			if o.Box.Watermark > uint64(window) {
				after = store.Position(o.Box.Incarnation, o.Box.Watermark-uint64(window))
			}
			if b := events.Bucket(k); b != nil {
				c := b.Cursor()
				n := 0
				for ek, ev := c.Seek(u64(after + 1)); ek != nil && n < 2*window; ek, ev = c.Next() {
					n++
					if !wanted(ev) {
						continue
					}
					var er eventRecord
					if err := json.Unmarshal(ev, &er); err != nil {
						return fmt.Errorf("event %x of %s: decode: %w", ek, id, err)
					}
					if types == nil || slices.Contains(types, er.Type) {
						o.Recent = append(o.Recent, er.event(id, ek))
					}
				}
			}
			out = append(out, o)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list overviews: %w", err)
	}
	return out, nil
}

// planDevices is what ListOverviews decodes of a stored plan.
type planDevices struct {
	Broadcast struct {
		Speakers []idName `json:"speakers"`
	} `json:"broadcast"`
	Cameras struct {
		Cameras []idName `json:"cameras"`
	} `json:"cameras"`
}

type idName struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}
