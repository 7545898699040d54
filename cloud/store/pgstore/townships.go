package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/dalaba/dalaba/cloud/store"
)

func scanTownship(row pgx.Row) (store.Township, error) {
	var t store.Township
	if err := row.Scan(&t.ID, &t.Name, &t.CreatedAt); err != nil {
		return store.Township{}, err
	}
	t.CreatedAt = utc(t.CreatedAt)
	return t, nil
}

// CreateTownship adds t; ErrExists if the id is taken.
func (s *Store) CreateTownship(ctx context.Context, t store.Township) error {
	if t.ID == "" {
		return errors.New("pgstore: create township: empty id")
	}
	return s.tx(ctx, "create township", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO townships (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
			t.ID, t.Name, t.CreatedAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("township %q: %w", t.ID, store.ErrExists)
		}
		return nil
	})
}

// GetTownship returns ErrNotFound for an unknown id.
func (s *Store) GetTownship(ctx context.Context, id string) (store.Township, error) {
	if err := ctx.Err(); err != nil {
		return store.Township{}, err
	}
	t, err := scanTownship(s.pool.QueryRow(ctx, `SELECT id, name, created_at FROM townships WHERE id = $1`, id))
	if err := noRows(err, fmt.Sprintf("township %q", id)); err != nil {
		return store.Township{}, fmt.Errorf("pgstore: get township: %w", err)
	}
	return t, nil
}

// ListTownships returns every township ordered by id (byte order, as
// bbolt's keys).
func (s *Store) ListTownships(ctx context.Context) ([]store.Township, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT id, name, created_at FROM townships ORDER BY id COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("pgstore: list townships: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Township, error) { return scanTownship(r) })
	if err != nil {
		return nil, fmt.Errorf("pgstore: list townships: %w", err)
	}
	return out, nil
}

// RenameTownship sets township id's name; ErrNotFound if unknown.
func (s *Store) RenameTownship(ctx context.Context, id, name string) (store.Township, error) {
	var out store.Township
	err := s.tx(ctx, "rename township", func(tx pgx.Tx) error {
		t, err := scanTownship(tx.QueryRow(ctx, `UPDATE townships SET name = $2 WHERE id = $1 RETURNING id, name, created_at`, id, name))
		if err := noRows(err, fmt.Sprintf("township %q", id)); err != nil {
			return err
		}
		out = t
		return nil
	})
	if err != nil {
		return store.Township{}, err
	}
	return out, nil
}
