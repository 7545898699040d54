package boltstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/dalaba/dalaba/cloud/store"
)

// readRoster reads a village's households and persons, each by id.
func readRoster(tx *bolt.Tx, village string) (store.Roster, error) {
	var r store.Roster
	err := eachOf(tx, bucketHouses, village, func(id string, v []byte) error {
		var rec householdRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("household %q: decode: %w", id, err)
		}
		r.Households = append(r.Households, rec.household(village, id))
		return nil
	})
	if err != nil {
		return store.Roster{}, err
	}
	err = eachOf(tx, bucketPersons, village, func(id string, v []byte) error {
		var rec personRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("person %q: decode: %w", id, err)
		}
		r.Persons = append(r.Persons, rec.person(village, id))
		return nil
	})
	if err != nil {
		return store.Roster{}, err
	}
	return r, nil
}

// ApplyRoster lets fn plan a change against the village's roster as
// stored and writes it with fn's record, all in one transaction.
func (s *Store) ApplyRoster(ctx context.Context, village string, fn func(store.Roster) (store.RosterChange, store.AuditRecord, error)) (store.RosterChange, error) {
	if err := ctx.Err(); err != nil {
		return store.RosterChange{}, err
	}
	var out store.RosterChange
	err := s.db.Update(func(tx *bolt.Tx) error {
		out = store.RosterChange{}
		if _, err := getBox(tx, village); err != nil {
			return err
		}
		cur, err := readRoster(tx, village)
		if err != nil {
			return err
		}
		change, a, err := fn(cur)
		if err != nil {
			return err
		}
		if change.Empty() {
			return nil
		}
		houses, err := villageBucket(tx, bucketHouses, village, true)
		if err != nil {
			return err
		}
		persons, err := villageBucket(tx, bucketPersons, village, true)
		if err != nil {
			return err
		}
		for _, h := range change.Households {
			if h.ID == "" {
				return errors.New("a household without an id")
			}
			h.Village = village
			if raw := houses.Get([]byte(h.ID)); raw != nil {
				var old householdRecord
				if err := json.Unmarshal(raw, &old); err != nil {
					return fmt.Errorf("household %q: decode: %w", h.ID, err)
				}
				h.CreatedAt, h.CreatedBy = old.CreatedAt, old.CreatedBy
			}
			v, err := json.Marshal(toHouseholdRecord(h))
			if err != nil {
				return fmt.Errorf("household %q: encode: %w", h.ID, err)
			}
			if err := houses.Put([]byte(h.ID), v); err != nil {
				return err
			}
			out.Households = append(out.Households, h)
		}
		// Persons after households, so a person may join a household of
		// the same change.
		for _, p := range change.Persons {
			if p.ID == "" {
				return errors.New("a person without an id")
			}
			if houses.Get([]byte(p.Household)) == nil {
				return fmt.Errorf("household %q of person %q in village %q: %w", p.Household, p.ID, village, store.ErrNotFound)
			}
			p.Village = village
			if raw := persons.Get([]byte(p.ID)); raw != nil {
				var old personRecord
				if err := json.Unmarshal(raw, &old); err != nil {
					return fmt.Errorf("person %q: decode: %w", p.ID, err)
				}
				p.CreatedAt, p.CreatedBy = old.CreatedAt, old.CreatedBy
			}
			rec := toPersonRecord(p)
			p.Status = store.PersonStatus(rec.Status)
			v, err := json.Marshal(rec)
			if err != nil {
				return fmt.Errorf("person %q: encode: %w", p.ID, err)
			}
			if err := persons.Put([]byte(p.ID), v); err != nil {
				return err
			}
			out.Persons = append(out.Persons, p)
		}
		a.Village = village
		_, err = appendAudit(tx, a)
		return err
	})
	if err != nil {
		return store.RosterChange{}, fmt.Errorf("boltstore: apply roster of %s: %w", village, err)
	}
	return out, nil
}
