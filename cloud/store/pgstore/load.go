package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/storecopy"
)

// The store is a storecopy.Target: a bbolt store migrates into it.
var _ storecopy.Target = (*Store)(nil)

// ListEpochs lists every box's epochs, by box and epoch.
func (s *Store) ListEpochs(ctx context.Context) ([]storecopy.Epoch, error) {
	var out []storecopy.Epoch
	err := s.read(ctx, "list epochs", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT box_id, epoch, incarnation, watermark, diverged FROM epochs
			ORDER BY box_id COLLATE "C", epoch COLLATE "C"`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (storecopy.Epoch, error) {
			var (
				e   storecopy.Epoch
				inc int32
				wm  int64
			)
			err := r.Scan(&e.BoxID, &e.Epoch, &inc, &wm, &e.Diverged)
			e.Incarnation, e.Watermark = uint32(inc), uint64(wm)
			return e, err
		})
		return err
	})
	return out, err
}

// dataTables are the tables that hold what the township keeps (not the
// schema's own, nor the ping row).
var dataTables = []string{"counters", "boxes", "desired", "epochs", "events", "users", "sessions", "plans", "media",
	"households", "persons", "categories", "entries", "audit", "holds", "goods", "redemptions", "links", "chats",
	"deliveries", "images", "alert_settings", "incidents", "alerts", "claims", "releases", "rollouts", "townships"}

// Empty reports whether the store holds nothing at all.
func (s *Store) Empty(ctx context.Context) (bool, error) {
	empty := true
	err := s.read(ctx, "empty", func(tx pgx.Tx) error {
		for _, t := range dataTables {
			var any bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+t+`)`).Scan(&any); err != nil {
				return err
			}
			if any {
				empty = false
				return nil
			}
		}
		return nil
	})
	return empty, err
}

// Load stores records as they are, ids and seqs kept, in one transaction;
// see storecopy.Target. Events go in with COPY.
func (s *Store) Load(ctx context.Context, records []any) error {
	return s.write(ctx, "load", func(tx pgx.Tx) error {
		var events [][]any
		for _, r := range records {
			if e, ok := r.(store.Event); ok {
				events = append(events, eventRow(e.BoxID, e))
				continue
			}
			if err := load(ctx, tx, r); err != nil {
				return err
			}
		}
		if len(events) > 0 {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"events"},
				[]string{"box_id", "incarnation", "seq", "time", "type", "priority", "data", "received_at"}, pgx.CopyFromRows(events))
			if err != nil {
				return fmt.Errorf("load %d events: %w", len(events), err)
			}
		}
		return s.notifyFleet(ctx, tx)
	})
}

func load(ctx context.Context, tx pgx.Tx, rec any) error {
	var err error
	switch r := rec.(type) {
	case store.Box:
		_, err = tx.Exec(ctx, `INSERT INTO boxes (`+boxRead+`, events)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, 0)`,
			r.ID, r.Name, r.Place, r.SecretHash, r.CreatedAt, r.Online, r.LastSeen, int64(r.AppliedRev), int64(r.OutboxBacklog),
			r.ReportedAt, int64(r.DesiredRev), r.RetiredAt, r.Epoch, int32(max(r.Incarnation, 1)), int64(r.Watermark), r.Township,
			int64(r.Health.Position), r.Health.Time, r.Health.Data)
	case store.Desired:
		payload := r.Payload
		if payload == nil {
			payload = []byte{}
		}
		_, err = tx.Exec(ctx, `INSERT INTO desired (box_id, rev, payload) VALUES ($1, $2, $3)`, r.BoxID, int64(r.Rev), payload)
	case storecopy.Epoch:
		err = putEpoch(ctx, tx, r.BoxID, incarnation{n: r.Incarnation, epoch: r.Epoch, wm: r.Watermark, diverged: r.Diverged})
	case store.User:
		_, err = tx.Exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
			r.Name, r.PasswordHash, string(r.Role), r.CreatedAt, r.Disabled, r.Township)
	case store.Township:
		_, err = tx.Exec(ctx, `INSERT INTO townships (id, name, created_at) VALUES ($1, $2, $3)`, r.ID, r.Name, r.CreatedAt)
	case store.Plan:
		err = putPlan(ctx, tx, r)
	case store.MediaInfo:
		_, err = tx.Exec(ctx, `INSERT INTO media (`+mediaColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			r.SHA256, r.Name, r.Format, r.Size, r.DurationMS, r.UploadedBy, r.UploadedAt)
	case store.Household:
		err = loadDoc(ctx, tx, `INSERT INTO households (village, id, doc) VALUES ($1, $2, $3)`, normHousehold(r), r.Village, r.ID)
	case store.Person:
		err = loadDoc(ctx, tx, `INSERT INTO persons (village, id, household, doc) VALUES ($1, $2, $3, $4)`, normPerson(r),
			r.Village, r.ID, r.Household)
	case storecopy.Categories:
		cats := r.List
		if cats == nil {
			cats = []store.Category{}
		}
		err = loadDoc(ctx, tx, `INSERT INTO categories (village, doc) VALUES ($1, $2)`, cats, r.Village)
	case store.Entry:
		err = putEntry(ctx, tx, r)
	case store.AuditRecord:
		err = loadDoc(ctx, tx, `INSERT INTO audit (seq, village, entry_id, doc) VALUES ($1, $2, $3, $4)`,
			auditDoc{AuditRecord: r, Before: r.Before, After: r.After}, int64(r.Seq), r.Village, int64(r.EntryID))
	case store.Hold:
		err = putHold(ctx, tx, r)
	case store.Goods:
		err = putGoods(ctx, tx, r)
	case store.Redemption:
		err = putRedemption(ctx, tx, r)
	case store.Link:
		err = putLink(ctx, tx, r)
	case storecopy.Chats:
		err = loadDoc(ctx, tx, `INSERT INTO chats (village, doc) VALUES ($1, $2)`, r.List, r.Village)
	case store.Delivery:
		err = putDelivery(ctx, tx, r)
	case storecopy.Image:
		_, err = tx.Exec(ctx, `INSERT INTO images (id, created_ns, bytes) VALUES ($1, $2, $3)`, r.ID, r.At.UnixNano(), r.Bytes)
	case store.AlertSettings:
		err = loadDoc(ctx, tx, `INSERT INTO alert_settings (id, doc) VALUES (1, $1)`, normSettings(r))
	case store.Incident:
		err = putIncident(ctx, tx, r)
	case store.Alert:
		err = putAlert(ctx, tx, r)
	case store.Claim:
		err = putClaim(ctx, tx, r)
	case store.Release:
		err = loadDoc(ctx, tx, `INSERT INTO releases (version, uploaded_at, doc) VALUES ($1, $2, $3)`, normRelease(r), r.Version, r.UploadedAt)
	case store.Rollout:
		err = loadDoc(ctx, tx, `INSERT INTO rollouts (id, created_at, doc) VALUES ($1, $2, $3)`, normRollout(r), r.ID, r.CreatedAt)
	default:
		return fmt.Errorf("load: a %T is not a record of the store", rec)
	}
	if err != nil {
		return fmt.Errorf("load %T: %w", rec, err)
	}
	return nil
}

// loadDoc runs insert with args and v's JSON as its last argument.
func loadDoc(ctx context.Context, tx pgx.Tx, insert string, v any, args ...any) error {
	doc, err := encode(v)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, insert, append(args, doc)...)
	return err
}

// Seal numbers new records after the loaded ones and counts each box's
// events.
func (s *Store) Seal(ctx context.Context) error {
	return s.write(ctx, "seal", func(tx pgx.Tx) error {
		for name, q := range map[string]string{
			"entries":     `SELECT max(id) FROM entries`,
			"audit":       `SELECT max(seq) FROM audit`,
			"holds":       `SELECT max(id) FROM holds`,
			"redemptions": `SELECT max(id) FROM redemptions`,
			"deliveries":  `SELECT max(id) FROM deliveries`,
			"alerts":      `SELECT max(seq) FROM alerts`,
			"claims":      `SELECT max(id) FROM claims`,
		} {
			if _, err := tx.Exec(ctx, `INSERT INTO counters (name, n) SELECT $1, m FROM (`+q+`) AS t(m) WHERE m IS NOT NULL
				ON CONFLICT (name) DO UPDATE SET n = excluded.n`, name); err != nil {
				return fmt.Errorf("counter %s: %w", name, err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE boxes b SET events = (SELECT count(*) FROM events e WHERE e.box_id = b.id)`); err != nil {
			return err
		}
		return s.notifyFleet(ctx, tx)
	})
}
