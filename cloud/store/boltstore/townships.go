package boltstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dalaba/dalaba/cloud/store"
)

// Schema 10: the county's townships (store.Townships).
//
//	townships/<id>         JSON township: name, created_at
var bucketTownships = []byte("townships")

// townshipRecord is the stored form of a store.Township; its JSON names
// are the file format.
type townshipRecord struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

func decodeTownship(id string, v []byte) (store.Township, error) {
	var r townshipRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return store.Township{}, fmt.Errorf("township %q: decode: %w", id, err)
	}
	return store.Township{ID: id, Name: r.Name, CreatedAt: r.CreatedAt}, nil
}

func putTownship(tx *bolt.Tx, t store.Township) error {
	v, err := json.Marshal(townshipRecord{Name: t.Name, CreatedAt: t.CreatedAt})
	if err != nil {
		return fmt.Errorf("township %q: encode: %w", t.ID, err)
	}
	return tx.Bucket(bucketTownships).Put([]byte(t.ID), v)
}

// CreateTownship adds t; ErrExists if the id is taken.
func (s *Store) CreateTownship(ctx context.Context, t store.Township) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t.ID == "" {
		return errors.New("boltstore: create township: empty id")
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketTownships).Get([]byte(t.ID)) != nil {
			return fmt.Errorf("township %q: %w", t.ID, store.ErrExists)
		}
		return putTownship(tx, t)
	})
	if err != nil {
		return fmt.Errorf("boltstore: create township: %w", err)
	}
	return nil
}

// GetTownship returns township id; ErrNotFound if unknown.
func (s *Store) GetTownship(ctx context.Context, id string) (store.Township, error) {
	if err := ctx.Err(); err != nil {
		return store.Township{}, err
	}
	var out store.Township
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketTownships).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("township %q: %w", id, store.ErrNotFound)
		}
		var err error
		out, err = decodeTownship(id, v)
		return err
	})
	if err != nil {
		return store.Township{}, fmt.Errorf("boltstore: get township: %w", err)
	}
	return out, nil
}

// ListTownships returns every township ordered by id.
func (s *Store) ListTownships(ctx context.Context) ([]store.Township, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []store.Township
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTownships).ForEach(func(k, v []byte) error {
			t, err := decodeTownship(string(k), v)
			out = append(out, t)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list townships: %w", err)
	}
	return out, nil
}

// RenameTownship sets township id's name.
func (s *Store) RenameTownship(ctx context.Context, id, name string) (store.Township, error) {
	if err := ctx.Err(); err != nil {
		return store.Township{}, err
	}
	var out store.Township
	err := s.db.Update(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketTownships).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("township %q: %w", id, store.ErrNotFound)
		}
		t, err := decodeTownship(id, v)
		if err != nil {
			return err
		}
		t.Name = name
		out = t
		return putTownship(tx, t)
	})
	if err != nil {
		return store.Township{}, fmt.Errorf("boltstore: rename township: %w", err)
	}
	return out, nil
}
