package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/dalaba/dalaba/cloud/store"
)

// UpdatePlans runs fn on each box's plan in one write transaction; a box
// fn refuses, or an unknown one, keeps its plan and gets its error.
func (s *Store) UpdatePlans(ctx context.Context, ids []string, fn func(*store.Plan) error) ([]error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	errs := make([]error, len(ids))
	err := s.db.Update(func(tx *bolt.Tx) error {
		clear(errs) // bbolt may run the function again
		for i, id := range ids {
			p, err := planFor(tx, id)
			if err == nil {
				err = fn(&p)
			}
			if err != nil {
				errs[i] = fmt.Errorf("boltstore: update plan of %s: %w", id, err)
				continue
			}
			if err := putPlan(tx, id, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: update plans: %w", err)
	}
	return errs, nil
}

// planFor is box id's plan, the empty one when none is stored;
// ErrNotFound for an unknown box.
func planFor(tx *bolt.Tx, id string) (store.Plan, error) {
	if _, err := getBox(tx, id); err != nil {
		return store.Plan{}, err
	}
	p, err := getPlan(tx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Plan{BoxID: id}, nil
	}
	return p, err
}

func putPlan(tx *bolt.Tx, id string, p store.Plan) error {
	v, err := json.Marshal(planRecord{Broadcast: p.Broadcast, Cameras: p.Cameras, UpdatedAt: p.UpdatedAt, UpdatedBy: p.UpdatedBy})
	if err != nil {
		return fmt.Errorf("plan of box %q: encode: %w", id, err)
	}
	return tx.Bucket(bucketPlans).Put([]byte(id), v)
}

// PutDesiredBatch stores each desired state whose rev is above its box's
// stored one, in one write transaction.
func (s *Store) PutDesiredBatch(ctx context.Context, ds []store.Desired) ([]error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	errs := make([]error, len(ds))
	err := s.db.Update(func(tx *bolt.Tx) error {
		clear(errs)
		bucket := tx.Bucket(bucketDesired)
		for i, d := range ds {
			r, err := getBox(tx, d.BoxID)
			if err != nil {
				errs[i] = fmt.Errorf("boltstore: put desired: %w", err)
				continue
			}
			if old := bucket.Get([]byte(d.BoxID)); len(old) >= 8 {
				if rev := binary.BigEndian.Uint64(old); d.Rev <= rev {
					errs[i] = fmt.Errorf("boltstore: put desired: rev %d of box %q is not above the stored rev %d: %w", d.Rev, d.BoxID, rev, store.ErrExists)
					continue
				}
			}
			if err := bucket.Put([]byte(d.BoxID), append(u64(d.Rev), d.Payload...)); err != nil {
				return err
			}
			r.DesiredRev = d.Rev
			if err := putBox(tx, d.BoxID, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: put desired batch: %w", err)
	}
	return errs, nil
}
