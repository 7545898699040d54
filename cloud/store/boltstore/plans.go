package boltstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
