package pgstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/dalaba/dalaba/cloud/store"
)

func scanUser(row pgx.Row) (store.User, error) {
	var (
		u    store.User
		role string
	)
	if err := row.Scan(&u.Name, &u.PasswordHash, &role, &u.CreatedAt, &u.Disabled, &u.Township); err != nil {
		return store.User{}, err
	}
	u.Role, u.CreatedAt = store.Role(role), utc(u.CreatedAt)
	return u, nil
}

const userColumns = `name, password_hash, role, created_at, disabled, township`

// CreateUser stores u; ErrExists if the name is taken.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	if u.Name == "" {
		return errors.New("pgstore: create user: empty name")
	}
	return s.tx(ctx, "create user", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING`,
			u.Name, u.PasswordHash, string(u.Role), u.CreatedAt, u.Disabled, u.Township)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("user %q: %w", u.Name, store.ErrExists)
		}
		return nil
	})
}

// GetUser returns ErrNotFound for an unknown name.
func (s *Store) GetUser(ctx context.Context, name string) (store.User, error) {
	if err := ctx.Err(); err != nil {
		return store.User{}, err
	}
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE name = $1`, name))
	if err := noRows(err, fmt.Sprintf("user %q", name)); err != nil {
		return store.User{}, fmt.Errorf("pgstore: get user: %w", err)
	}
	return u, nil
}

// UpdateUser runs fn on user name in one transaction; a change deletes
// the user's sessions in it too. See store.Users.
func (s *Store) UpdateUser(ctx context.Context, name string, fn func(*store.User) error) (store.User, error) {
	var out store.User
	err := s.tx(ctx, "update user", func(tx pgx.Tx) error {
		old, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE name = $1 FOR UPDATE`, name))
		if err := noRows(err, fmt.Sprintf("user %q", name)); err != nil {
			return err
		}
		u := old
		u.PasswordHash = bytes.Clone(old.PasswordHash) // fn may write into it
		if err := fn(&u); err != nil {
			return err
		}
		u.Name, u.CreatedAt = old.Name, old.CreatedAt
		out = u
		if bytes.Equal(u.PasswordHash, old.PasswordHash) && u.Role == old.Role && u.Disabled == old.Disabled && u.Township == old.Township {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, role = $3, disabled = $4, township = $5 WHERE name = $1`,
			name, u.PasswordHash, string(u.Role), u.Disabled, u.Township); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM sessions WHERE user_name = $1`, name)
		return err
	})
	if err != nil {
		return store.User{}, err
	}
	return out, nil
}

// ListUsers returns every user ordered by name (byte order).
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("pgstore: list users: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.User, error) { return scanUser(r) })
	if err != nil {
		return nil, fmt.Errorf("pgstore: list users: %w", err)
	}
	return out, nil
}

// PutSession stores sess under its token hash, replacing what was there.
func (s *Store) PutSession(ctx context.Context, sess store.Session) error {
	if len(sess.TokenHash) == 0 {
		return errors.New("pgstore: put session: empty token hash")
	}
	return s.tx(ctx, "put session", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sessions (token_hash, user_name, created_at, expires_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (token_hash) DO UPDATE SET user_name = excluded.user_name, created_at = excluded.created_at,
			expires_at = excluded.expires_at`, sess.TokenHash, sess.User, sess.CreatedAt, sess.ExpiresAt)
		return err
	})
}

// GetSession returns ErrNotFound for an unknown token hash.
func (s *Store) GetSession(ctx context.Context, tokenHash []byte) (store.Session, error) {
	if err := ctx.Err(); err != nil {
		return store.Session{}, err
	}
	out := store.Session{TokenHash: bytes.Clone(tokenHash)}
	err := s.pool.QueryRow(ctx, `SELECT user_name, created_at, expires_at FROM sessions WHERE token_hash = $1`, tokenHash).
		Scan(&out.User, &out.CreatedAt, &out.ExpiresAt)
	if err := noRows(err, "session"); err != nil {
		return store.Session{}, fmt.Errorf("pgstore: get session: %w", err)
	}
	out.CreatedAt, out.ExpiresAt = utc(out.CreatedAt), utc(out.ExpiresAt)
	return out, nil
}

// DeleteSession deletes the session; an unknown one is no error.
func (s *Store) DeleteSession(ctx context.Context, tokenHash []byte) error {
	if len(tokenHash) == 0 {
		return ctx.Err()
	}
	return s.tx(ctx, "delete session", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash)
		return err
	})
}

func getPlan(ctx context.Context, q pgx.Tx, boxID string) (store.Plan, error) {
	p := store.Plan{BoxID: boxID}
	var bc, cams []byte
	err := q.QueryRow(ctx, `SELECT broadcast, cameras, updated_at, updated_by FROM plans WHERE box_id = $1`, boxID).
		Scan(&bc, &cams, &p.UpdatedAt, &p.UpdatedBy)
	if err := noRows(err, fmt.Sprintf("plan of box %q", boxID)); err != nil {
		return store.Plan{}, err
	}
	p.UpdatedAt = utc(p.UpdatedAt)
	if err := json.Unmarshal(bc, &p.Broadcast); err != nil {
		return store.Plan{}, fmt.Errorf("plan of box %q: decode: %w", boxID, err)
	}
	if err := json.Unmarshal(cams, &p.Cameras); err != nil {
		return store.Plan{}, fmt.Errorf("plan of box %q: decode cameras: %w", boxID, err)
	}
	return p, nil
}

// GetPlan returns ErrNotFound when no plan was stored.
func (s *Store) GetPlan(ctx context.Context, boxID string) (store.Plan, error) {
	var p store.Plan
	err := s.read(ctx, "get plan", func(tx pgx.Tx) error {
		var err error
		p, err = getPlan(ctx, tx, boxID)
		return err
	})
	return p, err
}

// UpdatePlan runs fn on the box's plan in one transaction; see
// store.Plans.
func (s *Store) UpdatePlan(ctx context.Context, boxID string, fn func(*store.Plan) error) error {
	return s.tx(ctx, "update plan of "+boxID, func(tx pgx.Tx) error {
		// The box's row serialises the updates of its plan.
		if _, err := getBox(ctx, tx, boxID, true); err != nil {
			return err
		}
		p, err := getPlan(ctx, tx, boxID)
		if errors.Is(err, store.ErrNotFound) {
			p, err = store.Plan{BoxID: boxID}, nil
		}
		if err != nil {
			return err
		}
		if err := fn(&p); err != nil {
			return err
		}
		p.BoxID = boxID
		if err := putPlan(ctx, tx, p); err != nil {
			return err
		}
		return s.notifyFleet(ctx, tx)
	})
}

func putPlan(ctx context.Context, tx pgx.Tx, p store.Plan) error {
	bc, err := json.Marshal(p.Broadcast)
	if err != nil {
		return fmt.Errorf("plan of box %q: encode: %w", p.BoxID, err)
	}
	cams, err := json.Marshal(p.Cameras)
	if err != nil {
		return fmt.Errorf("plan of box %q: encode cameras: %w", p.BoxID, err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO plans (box_id, broadcast, cameras, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (box_id) DO UPDATE SET broadcast = excluded.broadcast, cameras = excluded.cameras,
		updated_at = excluded.updated_at, updated_by = excluded.updated_by`, p.BoxID, bc, cams, p.UpdatedAt, p.UpdatedBy)
	return err
}

const mediaColumns = `sha256, name, format, size, duration_ms, uploaded_by, uploaded_at`

func scanMedia(row pgx.Row) (store.MediaInfo, error) {
	var m store.MediaInfo
	if err := row.Scan(&m.SHA256, &m.Name, &m.Format, &m.Size, &m.DurationMS, &m.UploadedBy, &m.UploadedAt); err != nil {
		return store.MediaInfo{}, err
	}
	m.UploadedAt = utc(m.UploadedAt)
	return m, nil
}

// PutMedia indexes m; a sha256 already indexed keeps its first record.
func (s *Store) PutMedia(ctx context.Context, m store.MediaInfo) error {
	if m.SHA256 == "" {
		return errors.New("pgstore: put media: empty sha256")
	}
	return s.tx(ctx, "put media "+m.SHA256, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO media (`+mediaColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sha256) DO NOTHING`,
			m.SHA256, m.Name, m.Format, m.Size, m.DurationMS, m.UploadedBy, m.UploadedAt)
		return err
	})
}

// GetMedia returns ErrNotFound for a sha256 not indexed.
func (s *Store) GetMedia(ctx context.Context, sha string) (store.MediaInfo, error) {
	if err := ctx.Err(); err != nil {
		return store.MediaInfo{}, err
	}
	m, err := scanMedia(s.pool.QueryRow(ctx, `SELECT `+mediaColumns+` FROM media WHERE sha256 = $1`, sha))
	if err := noRows(err, fmt.Sprintf("media %q", sha)); err != nil {
		return store.MediaInfo{}, fmt.Errorf("pgstore: get media: %w", err)
	}
	return m, nil
}

// ListMedia returns every clip, newest upload first, ties by sha256.
func (s *Store) ListMedia(ctx context.Context) ([]store.MediaInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+mediaColumns+` FROM media ORDER BY uploaded_at DESC, sha256 COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("pgstore: list media: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.MediaInfo, error) { return scanMedia(r) })
	if err != nil {
		return nil, fmt.Errorf("pgstore: list media: %w", err)
	}
	return out, nil
}
