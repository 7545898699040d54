package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/dalaba/dalaba/cloud/store"
)

// getDoc decodes the doc one row of q returns into v; ErrNotFound with
// what when there is none.
func getDoc(ctx context.Context, tx pgx.Tx, what string, v any, q string, args ...any) error {
	var doc []byte
	if err := noRows(tx.QueryRow(ctx, q, args...).Scan(&doc), what); err != nil {
		return err
	}
	if err := json.Unmarshal(doc, v); err != nil {
		return fmt.Errorf("%s: decode: %w", what, err)
	}
	return nil
}

// docs decodes the doc column of every row of q, in order.
func docs[T any](ctx context.Context, tx pgx.Tx, what string, q string, args ...any) ([]T, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	raw, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	var out []T
	for _, b := range raw {
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("%s: decode: %w", what, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return b, nil
}

// auditDoc is an audit record as stored: an absent Before or After stays
// absent rather than reading back as JSON null.
type auditDoc struct {
	store.AuditRecord
	Before json.RawMessage `json:",omitempty"`
	After  json.RawMessage `json:",omitempty"`
}

func (d auditDoc) record() store.AuditRecord {
	a := d.AuditRecord
	a.Before, a.After, a.Time = d.Before, d.After, utc(a.Time)
	return a
}

func appendAudit(ctx context.Context, tx pgx.Tx, a store.AuditRecord) (uint64, error) {
	seq, err := next(ctx, tx, "audit")
	if err != nil {
		return 0, err
	}
	a.Seq = seq
	doc, err := encode(auditDoc{AuditRecord: a, Before: a.Before, After: a.After})
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit (seq, village, entry_id, doc) VALUES ($1, $2, $3, $4)`,
		int64(seq), a.Village, int64(a.EntryID), doc); err != nil {
		return 0, fmt.Errorf("audit: put %d: %w", seq, err)
	}
	return seq, nil
}

func normHousehold(h store.Household) store.Household {
	h.CreatedAt, h.UpdatedAt = utc(h.CreatedAt), utc(h.UpdatedAt)
	return h
}

func normPerson(p store.Person) store.Person {
	if p.Status == "" {
		p.Status = store.PersonActive
	}
	p.CreatedAt, p.UpdatedAt = utc(p.CreatedAt), utc(p.UpdatedAt)
	return p
}

// CreateHousehold stores h and appends a; see store.Villagers.
func (s *Store) CreateHousehold(ctx context.Context, h store.Household, a store.AuditRecord) error {
	return s.write(ctx, "create household", func(tx pgx.Tx) error {
		if _, err := getBox(ctx, tx, h.Village, false); err != nil {
			return err
		}
		if h.ID == "" {
			return errors.New("empty id")
		}
		return insertNew(ctx, tx, "households", h.Village, h.ID, "", normHousehold(h), a)
	})
}

// insertNew stores a household or a person (household set) as new, with
// a; ErrExists for a taken id.
func insertNew(ctx context.Context, tx pgx.Tx, table, village, id, household string, v any, a store.AuditRecord) error {
	doc, err := encode(v)
	if err != nil {
		return err
	}
	var q string
	args := []any{village, id, doc}
	if table == "persons" {
		q = `INSERT INTO persons (village, id, doc, household) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`
		args = append(args, household)
	} else {
		q = `INSERT INTO households (village, id, doc) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`
	}
	tag, err := tx.Exec(ctx, q, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s %q of village %q: %w", table, id, village, store.ErrExists)
	}
	a.Village = village
	_, err = appendAudit(ctx, tx, a)
	return err
}

func getHousehold(ctx context.Context, tx pgx.Tx, village, id string) (store.Household, error) {
	var h store.Household
	err := getDoc(ctx, tx, fmt.Sprintf("households %q of village %q", id, village), &h,
		`SELECT doc FROM households WHERE village = $1 AND id = $2`, village, id)
	return normHousehold(h), err
}

// GetHousehold returns ErrNotFound for an unknown household.
func (s *Store) GetHousehold(ctx context.Context, village, id string) (store.Household, error) {
	var h store.Household
	err := s.read(ctx, "get household", func(tx pgx.Tx) error {
		var err error
		h, err = getHousehold(ctx, tx, village, id)
		return err
	})
	return h, err
}

// ListHouseholds returns the village's households ordered by id.
func (s *Store) ListHouseholds(ctx context.Context, village string) ([]store.Household, error) {
	var out []store.Household
	err := s.read(ctx, "list households", func(tx pgx.Tx) error {
		var err error
		out, err = listHouseholds(ctx, tx, village)
		return err
	})
	return out, err
}

func listHouseholds(ctx context.Context, tx pgx.Tx, village string) ([]store.Household, error) {
	hs, err := docs[store.Household](ctx, tx, "households", `SELECT doc FROM households WHERE village = $1 ORDER BY id COLLATE "C"`, village)
	for i := range hs {
		hs[i] = normHousehold(hs[i])
	}
	return hs, err
}

func listPersons(ctx context.Context, tx pgx.Tx, village string) ([]store.Person, error) {
	ps, err := docs[store.Person](ctx, tx, "persons", `SELECT doc FROM persons WHERE village = $1 ORDER BY id COLLATE "C"`, village)
	for i := range ps {
		ps[i] = normPerson(ps[i])
	}
	return ps, err
}

// CreatePerson stores p and appends a; see store.Villagers.
func (s *Store) CreatePerson(ctx context.Context, p store.Person, a store.AuditRecord) error {
	return s.write(ctx, "create person", func(tx pgx.Tx) error {
		if _, err := getHousehold(ctx, tx, p.Village, p.Household); err != nil {
			return err
		}
		if p.ID == "" {
			return errors.New("empty id")
		}
		return insertNew(ctx, tx, "persons", p.Village, p.ID, p.Household, normPerson(p), a)
	})
}

// GetPerson returns ErrNotFound for an unknown person.
func (s *Store) GetPerson(ctx context.Context, village, id string) (store.Person, error) {
	var p store.Person
	err := s.read(ctx, "get person", func(tx pgx.Tx) error {
		return getDoc(ctx, tx, fmt.Sprintf("persons %q of village %q", id, village), &p,
			`SELECT doc FROM persons WHERE village = $1 AND id = $2`, village, id)
	})
	return normPerson(p), err
}

// ListPersons returns the village's persons ordered by id.
func (s *Store) ListPersons(ctx context.Context, village string) ([]store.Person, error) {
	var out []store.Person
	err := s.read(ctx, "list persons", func(tx pgx.Tx) error {
		var err error
		out, err = listPersons(ctx, tx, village)
		return err
	})
	return out, err
}

// GetCategories returns ErrNotFound when none were ever put.
func (s *Store) GetCategories(ctx context.Context, village string) ([]store.Category, error) {
	var out []store.Category
	err := s.read(ctx, "get categories", func(tx pgx.Tx) error {
		return getDoc(ctx, tx, fmt.Sprintf("categories of village %q", village), &out,
			`SELECT doc FROM categories WHERE village = $1`, village)
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []store.Category{}
	}
	return out, nil
}

// PutCategories replaces the village's categories and appends a.
func (s *Store) PutCategories(ctx context.Context, village string, cats []store.Category, a store.AuditRecord) error {
	if cats == nil {
		cats = []store.Category{}
	}
	return s.write(ctx, "put categories of "+village, func(tx pgx.Tx) error {
		if _, err := getBox(ctx, tx, village, false); err != nil {
			return err
		}
		doc, err := encode(cats)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO categories (village, doc) VALUES ($1, $2)
			ON CONFLICT (village) DO UPDATE SET doc = excluded.doc`, village, doc); err != nil {
			return err
		}
		a.Village = village
		_, err = appendAudit(ctx, tx, a)
		return err
	})
}

// ApplyRoster changes a village's roster in one transaction; see
// store.Villagers.
func (s *Store) ApplyRoster(ctx context.Context, village string, fn func(store.Roster) (store.RosterChange, store.AuditRecord, error)) (store.RosterChange, error) {
	var out store.RosterChange
	err := s.write(ctx, "apply roster of "+village, func(tx pgx.Tx) error {
		if _, err := getBox(ctx, tx, village, false); err != nil {
			return err
		}
		var (
			cur store.Roster
			err error
		)
		if cur.Households, err = listHouseholds(ctx, tx, village); err != nil {
			return err
		}
		if cur.Persons, err = listPersons(ctx, tx, village); err != nil {
			return err
		}
		change, a, err := fn(cur)
		if err != nil {
			return err
		}
		if change.Empty() {
			return nil
		}
		for _, h := range change.Households {
			if h.ID == "" {
				return errors.New("a household without an id")
			}
			h.Village = village
			if old, err := getHousehold(ctx, tx, village, h.ID); err == nil {
				h.CreatedAt, h.CreatedBy = old.CreatedAt, old.CreatedBy
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			h = normHousehold(h)
			doc, err := encode(h)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO households (village, id, doc) VALUES ($1, $2, $3)
				ON CONFLICT (village, id) DO UPDATE SET doc = excluded.doc`, village, h.ID, doc); err != nil {
				return err
			}
			out.Households = append(out.Households, h)
		}
		for _, p := range change.Persons {
			if p.ID == "" {
				return errors.New("a person without an id")
			}
			if _, err := getHousehold(ctx, tx, village, p.Household); errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("household %q of person %q in village %q: %w", p.Household, p.ID, village, store.ErrNotFound)
			} else if err != nil {
				return err
			}
			p.Village = village
			var old store.Person
			err := getDoc(ctx, tx, "person", &old, `SELECT doc FROM persons WHERE village = $1 AND id = $2`, village, p.ID)
			switch {
			case err == nil:
				p.CreatedAt, p.CreatedBy = old.CreatedAt, old.CreatedBy
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
			p = normPerson(p)
			doc, err := encode(p)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO persons (village, id, household, doc) VALUES ($1, $2, $3, $4)
				ON CONFLICT (village, id) DO UPDATE SET household = excluded.household, doc = excluded.doc`,
				village, p.ID, p.Household, doc); err != nil {
				return err
			}
			out.Persons = append(out.Persons, p)
		}
		a.Village = village
		_, err = appendAudit(ctx, tx, a)
		return err
	})
	if err != nil {
		return store.RosterChange{}, err
	}
	return out, nil
}

func normEntry(e store.Entry) store.Entry {
	e.CreatedAt, e.UpdatedAt, e.SubmittedAt = utc(e.CreatedAt), utc(e.UpdatedAt), utc(e.SubmittedAt)
	e.PublishedAt, e.RevokedAt, e.NoticeEnds = utc(e.PublishedAt), utc(e.RevokedAt), utc(e.NoticeEnds)
	e.WithdrawnAt, e.Anonymised = utc(e.WithdrawnAt), utc(e.Anonymised)
	if len(e.Editors) == 0 {
		e.Editors = nil
	}
	if len(e.Approvals) == 0 {
		e.Approvals = nil
	}
	for i := range e.Approvals {
		e.Approvals[i].At = utc(e.Approvals[i].At)
	}
	return e
}

func getEntry(ctx context.Context, tx pgx.Tx, id uint64, lock bool) (store.Entry, error) {
	q := `SELECT doc FROM entries WHERE id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	var e store.Entry
	if err := getDoc(ctx, tx, fmt.Sprintf("entry %d", id), &e, q, int64(id)); err != nil {
		return store.Entry{}, err
	}
	e.ID = id
	return normEntry(e), nil
}

func putEntry(ctx context.Context, tx pgx.Tx, e store.Entry) error {
	e = normEntry(e)
	doc, err := encode(e)
	if err != nil {
		return fmt.Errorf("entry %d: %w", e.ID, err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO entries (id, village, status, subject_kind, subject_id, points, doc)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET village = excluded.village, status = excluded.status,
		subject_kind = excluded.subject_kind, subject_id = excluded.subject_id, points = excluded.points, doc = excluded.doc`,
		int64(e.ID), e.Village, string(e.Status), string(e.SubjectKind), e.SubjectID, e.Points, doc)
	if err != nil {
		return fmt.Errorf("entry %d: %w", e.ID, err)
	}
	return nil
}

// CreateEntry stores e under the next id with Revision 1 and appends
// audit's record, in one transaction.
func (s *Store) CreateEntry(ctx context.Context, e store.Entry, audit func(store.Entry) (store.AuditRecord, error)) (store.Entry, error) {
	err := s.write(ctx, "create entry", func(tx pgx.Tx) error {
		if _, err := getBox(ctx, tx, e.Village, false); err != nil {
			return err
		}
		id, err := next(ctx, tx, "entries")
		if err != nil {
			return err
		}
		e.ID, e.Revision = id, 1
		if err := putEntry(ctx, tx, e); err != nil {
			return err
		}
		a, err := audit(e)
		if err != nil {
			return err
		}
		a.Village, a.EntryID = e.Village, id
		_, err = appendAudit(ctx, tx, a)
		return err
	})
	if err != nil {
		return store.Entry{}, err
	}
	return e, nil
}

// GetEntry returns ErrNotFound for an unknown id.
func (s *Store) GetEntry(ctx context.Context, id uint64) (store.Entry, error) {
	var e store.Entry
	err := s.read(ctx, "get entry", func(tx pgx.Tx) error {
		var err error
		e, err = getEntry(ctx, tx, id, false)
		return err
	})
	return e, err
}

// ListEntries returns the entries f selects ordered by id.
func (s *Store) ListEntries(ctx context.Context, f store.EntryFilter) ([]store.Entry, error) {
	var out []store.Entry
	err := s.read(ctx, "list entries", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, doc FROM entries WHERE ($1 = '' OR village = $1) AND ($2 = '' OR status = $2) ORDER BY id`,
			f.Village, string(f.Status))
		if err != nil {
			return err
		}
		all, err := scanEntries(rows)
		for _, e := range all {
			if (f.Period == "" || e.Period == f.Period) && (f.Kind == "" || e.Kind == f.Kind) {
				out = append(out, e)
			}
		}
		return err
	})
	return out, err
}

func scanEntries(rows pgx.Rows) ([]store.Entry, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Entry, error) {
		var (
			id  int64
			doc []byte
			e   store.Entry
		)
		if err := r.Scan(&id, &doc); err != nil {
			return store.Entry{}, err
		}
		if err := json.Unmarshal(doc, &e); err != nil {
			return store.Entry{}, fmt.Errorf("entry %d: decode: %w", id, err)
		}
		e.ID = uint64(id)
		return normEntry(e), nil
	})
}

// UpdateEntries lets fn change each entry of ids in turn, all in one
// transaction; see store.ListEntries.
func (s *Store) UpdateEntries(ctx context.Context, ids []uint64, fn func(*store.Entry) (store.AuditRecord, error)) ([]store.Entry, error) {
	var out []store.Entry
	err := s.write(ctx, fmt.Sprintf("update entries %v", ids), func(tx pgx.Tx) error {
		out = out[:0]
		for _, id := range ids {
			old, err := getEntry(ctx, tx, id, true)
			if err != nil {
				return err
			}
			e := old
			e.Editors = slices.Clone(old.Editors)
			e.Approvals = slices.Clone(old.Approvals)
			a, err := fn(&e)
			if err != nil {
				return err
			}
			e.ID, e.Village, e.CreatedAt, e.Revision = id, old.Village, old.CreatedAt, old.Revision+1
			if err := putEntry(ctx, tx, e); err != nil {
				return err
			}
			a.Village, a.EntryID = e.Village, id
			if _, err := appendAudit(ctx, tx, a); err != nil {
				return err
			}
			out = append(out, normEntry(e))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AppendAudit appends a record that goes with no stored change.
func (s *Store) AppendAudit(ctx context.Context, a store.AuditRecord) (uint64, error) {
	var seq uint64
	err := s.write(ctx, "append audit", func(tx pgx.Tx) error {
		var err error
		seq, err = appendAudit(ctx, tx, a)
		return err
	})
	return seq, err
}

// ListAudit returns the records f selects in seq order.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error) {
	if f.Limit <= 0 {
		return nil, fmt.Errorf("pgstore: list audit: limit %d, want at least 1", f.Limit)
	}
	var out []store.AuditRecord
	err := s.read(ctx, "list audit", func(tx pgx.Tx) error {
		if f.After >= math.MaxInt64 {
			return nil // no seq above it
		}
		order := "ASC"
		if f.Last {
			order = "DESC"
		}
		ds, err := docs[auditDoc](ctx, tx, "audit", `SELECT doc FROM audit WHERE seq > $1 AND ($2 = '' OR village = $2)
			AND ($3 = 0 OR entry_id = $3) ORDER BY seq `+order+` LIMIT $4`, int64(f.After), f.Village, int64(f.EntryID), f.Limit)
		for _, d := range ds {
			out = append(out, d.record())
		}
		if f.Last {
			slices.Reverse(out)
		}
		return err
	})
	return out, err
}
