package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/dalaba/dalaba/cloud/store"
)

// Releases and rollouts are a doc beside the column each list is ordered
// by.

func normRelease(r store.Release) store.Release {
	r.UploadedAt = utc(r.UploadedAt)
	return r
}

func normRollout(r store.Rollout) store.Rollout {
	r.CreatedAt, r.UpdatedAt = utc(r.CreatedAt), utc(r.UpdatedAt)
	for i := range r.Boxes {
		r.Boxes[i].SentAt, r.Boxes[i].DoneAt = utc(r.Boxes[i].SentAt), utc(r.Boxes[i].DoneAt)
	}
	return r
}

// PutRelease stores r; ErrExists if its version is taken.
func (s *Store) PutRelease(ctx context.Context, r store.Release) error {
	doc, err := encode(normRelease(r))
	if err != nil {
		return fmt.Errorf("pgstore: put release: %w", err)
	}
	return s.tx(ctx, "put release", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO releases (version, uploaded_at, doc) VALUES ($1, $2, $3) ON CONFLICT (version) DO NOTHING`,
			r.Version, r.UploadedAt, doc)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("release %q: %w", r.Version, store.ErrExists)
		}
		return nil
	})
}

// GetRelease returns ErrNotFound for an unknown version.
func (s *Store) GetRelease(ctx context.Context, version string) (store.Release, error) {
	var r store.Release
	err := s.read(ctx, "get release", func(tx pgx.Tx) error {
		return getDoc(ctx, tx, "release "+version, &r, `SELECT doc FROM releases WHERE version = $1`, version)
	})
	return normRelease(r), err
}

// ListReleases returns every release, newest upload first.
func (s *Store) ListReleases(ctx context.Context) ([]store.Release, error) {
	var out []store.Release
	err := s.read(ctx, "list releases", func(tx pgx.Tx) error {
		var err error
		out, err = docs[store.Release](ctx, tx, "releases",
			`SELECT doc FROM releases ORDER BY uploaded_at DESC, version COLLATE "C" DESC`)
		return err
	})
	for i := range out {
		out[i] = normRelease(out[i])
	}
	return out, err
}

// CreateRollout stores r; ErrExists if its id is taken.
func (s *Store) CreateRollout(ctx context.Context, r store.Rollout) error {
	doc, err := encode(normRollout(r))
	if err != nil {
		return fmt.Errorf("pgstore: create rollout: %w", err)
	}
	return s.tx(ctx, "create rollout", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO rollouts (id, created_at, doc) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
			r.ID, r.CreatedAt, doc)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("rollout %q: %w", r.ID, store.ErrExists)
		}
		return nil
	})
}

// GetRollout returns ErrNotFound for an unknown id.
func (s *Store) GetRollout(ctx context.Context, id string) (store.Rollout, error) {
	var r store.Rollout
	err := s.read(ctx, "get rollout", func(tx pgx.Tx) error {
		return getDoc(ctx, tx, "rollout "+id, &r, `SELECT doc FROM rollouts WHERE id = $1`, id)
	})
	return normRollout(r), err
}

// ListRollouts returns every rollout, newest first.
func (s *Store) ListRollouts(ctx context.Context) ([]store.Rollout, error) {
	var out []store.Rollout
	err := s.read(ctx, "list rollouts", func(tx pgx.Tx) error {
		var err error
		out, err = docs[store.Rollout](ctx, tx, "rollouts", `SELECT doc FROM rollouts ORDER BY created_at DESC, id COLLATE "C" DESC`)
		return err
	})
	for i := range out {
		out[i] = normRollout(out[i])
	}
	return out, err
}

// UpdateRollout runs fn on rollout id in one transaction, its row locked.
func (s *Store) UpdateRollout(ctx context.Context, id string, fn func(*store.Rollout) error) error {
	return s.tx(ctx, "update rollout "+id, func(tx pgx.Tx) error {
		var r store.Rollout
		if err := getDoc(ctx, tx, "rollout "+id, &r, `SELECT doc FROM rollouts WHERE id = $1 FOR UPDATE`, id); err != nil {
			return err
		}
		r = normRollout(r)
		if err := fn(&r); err != nil {
			return err
		}
		r.ID = id
		doc, err := encode(normRollout(r))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE rollouts SET doc = $2 WHERE id = $1`, id, doc)
		return err
	})
}
