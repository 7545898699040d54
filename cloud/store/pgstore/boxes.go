package pgstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/dalaba/dalaba/cloud/store"
)

const boxColumns = `id, name, place, secret_hash, created_at, online, last_seen, applied_rev, outbox_backlog,
	reported_at, desired_rev, retired_at, epoch, incarnation, watermark, township`

// boxRead is what a box is read with: boxColumns and its latest health,
// which only AppendEvents (and Load) write.
const boxRead = boxColumns + `, health_pos, health_time, health_data`

func scanBox(row pgx.Row) (store.Box, error) {
	var (
		b                         store.Box
		applied, backlog, desired int64
		incarnation               int32
		watermark, healthPos      int64
	)
	err := row.Scan(&b.ID, &b.Name, &b.Place, &b.SecretHash, &b.CreatedAt, &b.Online, &b.LastSeen, &applied, &backlog,
		&b.ReportedAt, &desired, &b.RetiredAt, &b.Epoch, &incarnation, &watermark, &b.Township, &healthPos, &b.Health.Time, &b.Health.Data)
	if err != nil {
		return store.Box{}, err
	}
	b.AppliedRev, b.OutboxBacklog, b.DesiredRev = uint64(applied), uint64(backlog), uint64(desired)
	b.Incarnation, b.Watermark = uint32(max(incarnation, 1)), uint64(watermark)
	b.CreatedAt, b.LastSeen, b.ReportedAt, b.RetiredAt = utc(b.CreatedAt), utc(b.LastSeen), utc(b.ReportedAt), utc(b.RetiredAt)
	b.Health.Position, b.Health.Time = uint64(healthPos), utc(b.Health.Time)
	return b, nil
}

// getBox reads box id, locked for the transaction's update when lock is
// set; ErrNotFound if there is none.
func getBox(ctx context.Context, tx pgx.Tx, id string, lock bool) (store.Box, error) {
	q := `SELECT ` + boxRead + ` FROM boxes WHERE id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	b, err := scanBox(tx.QueryRow(ctx, q, id))
	if err := noRows(err, fmt.Sprintf("box %q", id)); err != nil {
		return store.Box{}, err
	}
	return b, nil
}

// CreateBox registers b; ErrExists if the id is taken.
func (s *Store) CreateBox(ctx context.Context, b store.Box) error {
	if b.ID == "" {
		return errors.New("pgstore: create box: empty id")
	}
	return s.tx(ctx, "create box", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO boxes (`+boxColumns+`, events)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 0) ON CONFLICT (id) DO NOTHING`,
			b.ID, b.Name, b.Place, b.SecretHash, b.CreatedAt, b.Online, b.LastSeen, int64(b.AppliedRev), int64(b.OutboxBacklog),
			b.ReportedAt, int64(b.DesiredRev), b.RetiredAt, b.Epoch, int32(max(b.Incarnation, 1)), int64(b.Watermark), b.Township)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("box %q: %w", b.ID, store.ErrExists)
		}
		return s.notifyFleet(ctx, tx)
	})
}

// GetBox returns box id; ErrNotFound if unknown.
func (s *Store) GetBox(ctx context.Context, id string) (store.Box, error) {
	if err := ctx.Err(); err != nil {
		return store.Box{}, err
	}
	b, err := scanBox(s.pool.QueryRow(ctx, `SELECT `+boxRead+` FROM boxes WHERE id = $1`, id))
	if err := noRows(err, fmt.Sprintf("box %q", id)); err != nil {
		return store.Box{}, fmt.Errorf("pgstore: get box: %w", err)
	}
	return b, nil
}

// ListBoxes returns every box ordered by id (byte order, as bbolt's keys).
func (s *Store) ListBoxes(ctx context.Context) ([]store.Box, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+boxRead+` FROM boxes ORDER BY id COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("pgstore: list boxes: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Box, error) { return scanBox(r) })
	if err != nil {
		return nil, fmt.Errorf("pgstore: list boxes: %w", err)
	}
	return out, nil
}

// UpdateBox runs fn on box id in one transaction; see store.Boxes.
func (s *Store) UpdateBox(ctx context.Context, id string, fn func(*store.Box) error) error {
	return s.updateBox(ctx, id, false, fn)
}

// UpdateBoxCredentials is UpdateBox where fn may also change SecretHash
// and RetiredAt.
func (s *Store) UpdateBoxCredentials(ctx context.Context, id string, fn func(*store.Box) error) error {
	return s.updateBox(ctx, id, true, fn)
}

func (s *Store) updateBox(ctx context.Context, id string, credentials bool, fn func(*store.Box) error) error {
	return s.tx(ctx, "update box "+id, func(tx pgx.Tx) error {
		old, err := getBox(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if err := writeBox(ctx, tx, old, credentials, fn); err != nil {
			return err
		}
		return s.notifyFleet(ctx, tx)
	})
}

// writeBox runs fn on a copy of old, a box locked in tx, and writes what
// fn may change back.
func writeBox(ctx context.Context, tx pgx.Tx, old store.Box, credentials bool, fn func(*store.Box) error) error {
	b := old
	b.SecretHash = append([]byte(nil), old.SecretHash...)
	if old.SecretHash == nil {
		b.SecretHash = nil
	}
	if err := fn(&b); err != nil {
		return err
	}
	if !credentials {
		b.SecretHash, b.RetiredAt = old.SecretHash, old.RetiredAt
	}
	// The event log's columns and the health are AppendEvents's and not
	// written here.
	_, err := tx.Exec(ctx, `UPDATE boxes SET name = $2, place = $3, secret_hash = $4, online = $5, last_seen = $6,
		applied_rev = $7, outbox_backlog = $8, reported_at = $9, desired_rev = $10, retired_at = $11, township = $12 WHERE id = $1`,
		old.ID, b.Name, b.Place, b.SecretHash, b.Online, b.LastSeen, int64(b.AppliedRev), int64(b.OutboxBacklog),
		b.ReportedAt, int64(b.DesiredRev), b.RetiredAt, b.Township)
	return err
}

// UpdateBoxes runs each fn on its box in one transaction; see
// store.Boxes. The rows are locked in id order, so two bulk writes over
// the same boxes cannot deadlock.
func (s *Store) UpdateBoxes(ctx context.Context, fns map[string]func(*store.Box) error) ([]string, error) {
	ids := slices.Sorted(maps.Keys(fns))
	var missing []string
	err := s.tx(ctx, "update boxes", func(tx pgx.Tx) error {
		missing = missing[:0]
		found, err := lockBoxes(ctx, tx, ids)
		if err != nil {
			return err
		}
		for _, id := range ids {
			old, ok := found[id]
			if !ok {
				missing = append(missing, id)
				continue
			}
			if err := writeBox(ctx, tx, old, false, fns[id]); err != nil {
				return fmt.Errorf("box %q: %w", id, err)
			}
		}
		if len(found) == 0 {
			return nil
		}
		return s.notifyFleet(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	return missing, nil
}

// lockBoxes reads and locks the boxes of ids that exist, in id order.
func lockBoxes(ctx context.Context, tx pgx.Tx, ids []string) (map[string]store.Box, error) {
	rows, err := tx.Query(ctx, `SELECT `+boxRead+` FROM boxes WHERE id = ANY($1) ORDER BY id COLLATE "C" FOR UPDATE`, ids)
	if err != nil {
		return nil, err
	}
	bs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Box, error) { return scanBox(r) })
	if err != nil {
		return nil, err
	}
	out := make(map[string]store.Box, len(bs))
	for _, b := range bs {
		out[b.ID] = b
	}
	return out, nil
}

// PutDesired stores d if its rev is above the stored one and records the
// rev in the box; ErrExists otherwise, ErrNotFound for an unknown box.
func (s *Store) PutDesired(ctx context.Context, d store.Desired) error {
	return s.tx(ctx, "put desired", func(tx pgx.Tx) error {
		if _, err := getBox(ctx, tx, d.BoxID, true); err != nil {
			return err
		}
		if err := putDesired(ctx, tx, d); err != nil {
			return err
		}
		return s.notifyFleet(ctx, tx)
	})
}

// putDesired stores d for its box, locked in tx.
func putDesired(ctx context.Context, tx pgx.Tx, d store.Desired) error {
	var rev int64
	err := tx.QueryRow(ctx, `SELECT rev FROM desired WHERE box_id = $1`, d.BoxID).Scan(&rev)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return err
	case d.Rev <= uint64(rev):
		return fmt.Errorf("rev %d of box %q is not above the stored rev %d: %w", d.Rev, d.BoxID, uint64(rev), store.ErrExists)
	}
	payload := d.Payload
	if payload == nil {
		payload = []byte{}
	}
	_, err = tx.Exec(ctx, `INSERT INTO desired (box_id, rev, payload) VALUES ($1, $2, $3)
		ON CONFLICT (box_id) DO UPDATE SET rev = excluded.rev, payload = excluded.payload`, d.BoxID, int64(d.Rev), payload)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE boxes SET desired_rev = $2 WHERE id = $1`, d.BoxID, int64(d.Rev))
	return err
}

// PutDesiredBatch stores each of ds as PutDesired would, in one
// transaction; see store.Batches.
func (s *Store) PutDesiredBatch(ctx context.Context, ds []store.Desired) ([]error, error) {
	errs := make([]error, len(ds))
	ids := make([]string, 0, len(ds))
	for _, d := range ds {
		ids = append(ids, d.BoxID)
	}
	slices.Sort(ids)
	err := s.tx(ctx, "put desired batch", func(tx pgx.Tx) error {
		clear(errs)
		found, err := lockBoxes(ctx, tx, slices.Compact(ids))
		if err != nil {
			return err
		}
		stored := false
		for i, d := range ds {
			if _, ok := found[d.BoxID]; !ok {
				errs[i] = fmt.Errorf("pgstore: put desired: box %q: %w", d.BoxID, store.ErrNotFound)
				continue
			}
			// Refusals are found before anything of d is written.
			if err := putDesired(ctx, tx, d); errors.Is(err, store.ErrExists) {
				errs[i] = fmt.Errorf("pgstore: put desired: %w", err)
			} else if err != nil {
				return err
			} else {
				stored = true
			}
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

// GetDesired returns the last desired state stored for boxID.
func (s *Store) GetDesired(ctx context.Context, boxID string) (store.Desired, error) {
	if err := ctx.Err(); err != nil {
		return store.Desired{}, err
	}
	d := store.Desired{BoxID: boxID}
	var rev int64
	err := s.pool.QueryRow(ctx, `SELECT rev, payload FROM desired WHERE box_id = $1`, boxID).Scan(&rev, &d.Payload)
	if err := noRows(err, fmt.Sprintf("desired state of box %q", boxID)); err != nil {
		return store.Desired{}, fmt.Errorf("pgstore: get desired: %w", err)
	}
	d.Rev = uint64(rev)
	return d, nil
}
