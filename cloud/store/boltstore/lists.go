package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dalaba/dalaba/cloud/store"
)

// The records below are the stored forms of the lists' types; their JSON
// names are the file format, so they change only with SchemaVersion.

type householdRecord struct {
	Head      string    `json:"head"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

type personRecord struct {
	Name      string    `json:"name"`
	Household string    `json:"household"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

type categoryRecord struct {
	Name  string `json:"name"`
	Red   int    `json:"red"`
	Black int    `json:"black"`
}

type approvalRecord struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
}

type entryRecord struct {
	Village      string           `json:"village"`
	Kind         string           `json:"kind"`
	SubjectKind  string           `json:"subject_kind"`
	SubjectID    string           `json:"subject_id"`
	Category     string           `json:"category"`
	Reason       string           `json:"reason"`
	Period       string           `json:"period"`
	Points       int              `json:"points"`
	Evidence     string           `json:"evidence,omitempty"`
	Author       string           `json:"author"`
	Editors      []string         `json:"editors,omitempty"`
	Status       string           `json:"status"`
	Approvals    []approvalRecord `json:"approvals,omitempty"`
	RejectReason string           `json:"reject_reason,omitempty"`
	RevokeNote   string           `json:"revoke_note,omitempty"`
	CreatedAt    time.Time        `json:"created_at"`
	UpdatedAt    time.Time        `json:"updated_at"`
	SubmittedAt  time.Time        `json:"submitted_at,omitzero"`
	PublishedAt  time.Time        `json:"published_at,omitzero"`
	RevokedAt    time.Time        `json:"revoked_at,omitzero"`
	Revision     uint64           `json:"revision"`
	// Public notice and holds (schema 5).
	NoticeEnds     time.Time `json:"notice_ends,omitzero"`
	HeldFrom       string    `json:"held_from,omitempty"`
	WithdrawReason string    `json:"withdraw_reason,omitempty"`
	WithdrawnAt    time.Time `json:"withdrawn_at,omitzero"`
	Anonymised     time.Time `json:"anonymised,omitzero"`
}

type auditRecord struct {
	Time    time.Time       `json:"time"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Village string          `json:"village,omitempty"`
	EntryID uint64          `json:"entry_id,omitempty"`
	Target  string          `json:"target,omitempty"`
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
	Note    string          `json:"note,omitempty"`
}

func toEntryRecord(e store.Entry) entryRecord {
	r := entryRecord{
		Village: e.Village, Kind: string(e.Kind), SubjectKind: string(e.SubjectKind), SubjectID: e.SubjectID,
		Category: e.Category, Reason: e.Reason, Period: e.Period, Points: e.Points, Evidence: e.Evidence,
		Author: e.Author, Editors: e.Editors, Status: string(e.Status), RejectReason: e.RejectReason,
		RevokeNote: e.RevokeNote, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, SubmittedAt: e.SubmittedAt,
		PublishedAt: e.PublishedAt, RevokedAt: e.RevokedAt, Revision: e.Revision,
		NoticeEnds: e.NoticeEnds, HeldFrom: string(e.HeldFrom), WithdrawReason: e.WithdrawReason,
		WithdrawnAt: e.WithdrawnAt, Anonymised: e.Anonymised,
	}
	for _, a := range e.Approvals {
		r.Approvals = append(r.Approvals, approvalRecord(a))
	}
	return r
}

func (r entryRecord) entry(id uint64) store.Entry {
	e := store.Entry{
		ID: id, Village: r.Village, Kind: store.ListKind(r.Kind), SubjectKind: store.SubjectKind(r.SubjectKind),
		SubjectID: r.SubjectID, Category: r.Category, Reason: r.Reason, Period: r.Period, Points: r.Points,
		Evidence: r.Evidence, Author: r.Author, Editors: r.Editors, Status: store.EntryStatus(r.Status),
		RejectReason: r.RejectReason, RevokeNote: r.RevokeNote, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		SubmittedAt: r.SubmittedAt, PublishedAt: r.PublishedAt, RevokedAt: r.RevokedAt, Revision: r.Revision,
		NoticeEnds: r.NoticeEnds, HeldFrom: store.EntryStatus(r.HeldFrom), WithdrawReason: r.WithdrawReason,
		WithdrawnAt: r.WithdrawnAt, Anonymised: r.Anonymised,
	}
	for _, a := range r.Approvals {
		e.Approvals = append(e.Approvals, store.Approval(a))
	}
	return e
}

func beU64(k []byte) uint64 { return binary.BigEndian.Uint64(k) }

// appendAudit writes a as the next record of the trail. bbolt's bucket
// sequence is part of the transaction, so a rolled-back write leaves no
// gap in the seqs.
func appendAudit(tx *bolt.Tx, a store.AuditRecord) (uint64, error) {
	b := tx.Bucket(bucketAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return 0, fmt.Errorf("audit: next seq: %w", err)
	}
	v, err := json.Marshal(auditRecord{
		Time: a.Time, Actor: a.Actor, Action: a.Action, Village: a.Village, EntryID: a.EntryID,
		Target: a.Target, Before: a.Before, After: a.After, Note: a.Note,
	})
	if err != nil {
		return 0, fmt.Errorf("audit: encode: %w", err)
	}
	if err := b.Put(u64(seq), v); err != nil {
		return 0, fmt.Errorf("audit: put %d: %w", seq, err)
	}
	return seq, nil
}

// villageBucket returns the village's sub-bucket of parent, creating it
// when create is set; nil when it does not exist and create is not set.
func villageBucket(tx *bolt.Tx, parent []byte, village string, create bool) (*bolt.Bucket, error) {
	p := tx.Bucket(parent)
	if !create {
		return p.Bucket([]byte(village)), nil
	}
	b, err := p.CreateBucketIfNotExists([]byte(village))
	if err != nil {
		return nil, fmt.Errorf("%s of village %q: %w", parent, village, err)
	}
	return b, nil
}

// putNew stores v under village/id in parent after checking the village
// exists and the id is free, then appends a.
func putNew(tx *bolt.Tx, parent []byte, village, id string, v any, a store.AuditRecord) error {
	if _, err := getBox(tx, village); err != nil {
		return err
	}
	if id == "" {
		return errors.New("empty id")
	}
	b, err := villageBucket(tx, parent, village, true)
	if err != nil {
		return err
	}
	if b.Get([]byte(id)) != nil {
		return fmt.Errorf("%s %q of village %q: %w", parent, id, village, store.ErrExists)
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s %q: encode: %w", parent, id, err)
	}
	if err := b.Put([]byte(id), enc); err != nil {
		return err
	}
	a.Village = village
	_, err = appendAudit(tx, a)
	return err
}

// getOne decodes village/id of parent into v; ErrNotFound if absent.
func getOne(tx *bolt.Tx, parent []byte, village, id string, v any) error {
	b, _ := villageBucket(tx, parent, village, false) // no error without create
	var raw []byte
	if b != nil {
		raw = b.Get([]byte(id))
	}
	if raw == nil {
		return fmt.Errorf("%s %q of village %q: %w", parent, id, village, store.ErrNotFound)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s %q of village %q: decode: %w", parent, id, village, err)
	}
	return nil
}

// eachOf calls fn for every record of the village in parent, by id.
func eachOf(tx *bolt.Tx, parent []byte, village string, fn func(id string, v []byte) error) error {
	b, _ := villageBucket(tx, parent, village, false) // no error without create
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error { return fn(string(k), v) })
}

// CreateHousehold stores h with its audit record.
func (s *Store) CreateHousehold(ctx context.Context, h store.Household, a store.AuditRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return putNew(tx, bucketHouses, h.Village, h.ID, householdRecord{Head: h.Head, CreatedAt: h.CreatedAt, CreatedBy: h.CreatedBy}, a)
	})
	if err != nil {
		return fmt.Errorf("boltstore: create household: %w", err)
	}
	return nil
}

// GetHousehold returns household id of village.
func (s *Store) GetHousehold(ctx context.Context, village, id string) (store.Household, error) {
	if err := ctx.Err(); err != nil {
		return store.Household{}, err
	}
	var r householdRecord
	if err := s.db.View(func(tx *bolt.Tx) error { return getOne(tx, bucketHouses, village, id, &r) }); err != nil {
		return store.Household{}, fmt.Errorf("boltstore: get household: %w", err)
	}
	return store.Household{Village: village, ID: id, Head: r.Head, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy}, nil
}

// ListHouseholds returns the village's households by id.
func (s *Store) ListHouseholds(ctx context.Context, village string) ([]store.Household, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []store.Household
	err := s.db.View(func(tx *bolt.Tx) error {
		return eachOf(tx, bucketHouses, village, func(id string, v []byte) error {
			var r householdRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("household %q: decode: %w", id, err)
			}
			out = append(out, store.Household{Village: village, ID: id, Head: r.Head, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list households: %w", err)
	}
	return out, nil
}

// CreatePerson stores p with its audit record; its household must exist.
func (s *Store) CreatePerson(ctx context.Context, p store.Person, a store.AuditRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		var h householdRecord
		if err := getOne(tx, bucketHouses, p.Village, p.Household, &h); err != nil {
			return err
		}
		return putNew(tx, bucketPersons, p.Village, p.ID, personRecord{Name: p.Name, Household: p.Household, CreatedAt: p.CreatedAt, CreatedBy: p.CreatedBy}, a)
	})
	if err != nil {
		return fmt.Errorf("boltstore: create person: %w", err)
	}
	return nil
}

// GetPerson returns person id of village.
func (s *Store) GetPerson(ctx context.Context, village, id string) (store.Person, error) {
	if err := ctx.Err(); err != nil {
		return store.Person{}, err
	}
	var r personRecord
	if err := s.db.View(func(tx *bolt.Tx) error { return getOne(tx, bucketPersons, village, id, &r) }); err != nil {
		return store.Person{}, fmt.Errorf("boltstore: get person: %w", err)
	}
	return store.Person{Village: village, ID: id, Name: r.Name, Household: r.Household, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy}, nil
}

// ListPersons returns the village's persons by id.
func (s *Store) ListPersons(ctx context.Context, village string) ([]store.Person, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []store.Person
	err := s.db.View(func(tx *bolt.Tx) error {
		return eachOf(tx, bucketPersons, village, func(id string, v []byte) error {
			var r personRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("person %q: decode: %w", id, err)
			}
			out = append(out, store.Person{Village: village, ID: id, Name: r.Name, Household: r.Household, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list persons: %w", err)
	}
	return out, nil
}

// GetCategories returns the village's categories; ErrNotFound if never put.
func (s *Store) GetCategories(ctx context.Context, village string) ([]store.Category, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []store.Category
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCats).Get([]byte(village))
		if v == nil {
			return fmt.Errorf("categories of village %q: %w", village, store.ErrNotFound)
		}
		var rs []categoryRecord
		if err := json.Unmarshal(v, &rs); err != nil {
			return fmt.Errorf("categories of village %q: decode: %w", village, err)
		}
		out = make([]store.Category, 0, len(rs))
		for _, r := range rs {
			out = append(out, store.Category(r))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get categories: %w", err)
	}
	return out, nil
}

// PutCategories replaces the village's categories with their audit record.
func (s *Store) PutCategories(ctx context.Context, village string, cats []store.Category, a store.AuditRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rs := make([]categoryRecord, 0, len(cats))
	for _, c := range cats {
		rs = append(rs, categoryRecord(c))
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if _, err := getBox(tx, village); err != nil {
			return err
		}
		v, err := json.Marshal(rs)
		if err != nil {
			return fmt.Errorf("categories: encode: %w", err)
		}
		if err := tx.Bucket(bucketCats).Put([]byte(village), v); err != nil {
			return err
		}
		a.Village = village
		_, err = appendAudit(tx, a)
		return err
	})
	if err != nil {
		return fmt.Errorf("boltstore: put categories of %s: %w", village, err)
	}
	return nil
}

func getEntry(tx *bolt.Tx, id uint64) (store.Entry, error) {
	v := tx.Bucket(bucketEntries).Get(u64(id))
	if v == nil {
		return store.Entry{}, fmt.Errorf("entry %d: %w", id, store.ErrNotFound)
	}
	var r entryRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return store.Entry{}, fmt.Errorf("entry %d: decode: %w", id, err)
	}
	return r.entry(id), nil
}

func putEntry(tx *bolt.Tx, e store.Entry) error {
	v, err := json.Marshal(toEntryRecord(e))
	if err != nil {
		return fmt.Errorf("entry %d: encode: %w", e.ID, err)
	}
	return tx.Bucket(bucketEntries).Put(u64(e.ID), v)
}

// CreateEntry stores e under the next id with the record audit builds.
func (s *Store) CreateEntry(ctx context.Context, e store.Entry, audit func(store.Entry) (store.AuditRecord, error)) (store.Entry, error) {
	if err := ctx.Err(); err != nil {
		return store.Entry{}, err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if _, err := getBox(tx, e.Village); err != nil {
			return err
		}
		id, err := tx.Bucket(bucketEntries).NextSequence()
		if err != nil {
			return fmt.Errorf("next entry id: %w", err)
		}
		e.ID, e.Revision = id, 1
		if err := putEntry(tx, e); err != nil {
			return err
		}
		a, err := audit(e)
		if err != nil {
			return err
		}
		a.Village, a.EntryID = e.Village, id
		_, err = appendAudit(tx, a)
		return err
	})
	if err != nil {
		return store.Entry{}, fmt.Errorf("boltstore: create entry: %w", err)
	}
	return e, nil
}

// GetEntry returns entry id.
func (s *Store) GetEntry(ctx context.Context, id uint64) (store.Entry, error) {
	if err := ctx.Err(); err != nil {
		return store.Entry{}, err
	}
	var e store.Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		e, err = getEntry(tx, id)
		return err
	})
	if err != nil {
		return store.Entry{}, fmt.Errorf("boltstore: get entry: %w", err)
	}
	return e, nil
}

func (f entryMatch) match(e store.Entry) bool {
	return (f.Village == "" || e.Village == f.Village) && (f.Period == "" || e.Period == f.Period) &&
		(f.Status == "" || e.Status == f.Status) && (f.Kind == "" || e.Kind == f.Kind)
}

type entryMatch store.EntryFilter

// ListEntries returns the entries f selects, by id.
func (s *Store) ListEntries(ctx context.Context, f store.EntryFilter) ([]store.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []store.Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketEntries).ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("entry key %x: not 8 bytes", k)
			}
			var r entryRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("entry %x: decode: %w", k, err)
			}
			if e := r.entry(beU64(k)); entryMatch(f).match(e) {
				out = append(out, e)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list entries: %w", err)
	}
	return out, nil
}

// UpdateEntries changes every entry of ids and appends their records in
// one transaction.
func (s *Store) UpdateEntries(ctx context.Context, ids []uint64, fn func(*store.Entry) (store.AuditRecord, error)) ([]store.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []store.Entry
	err := s.db.Update(func(tx *bolt.Tx) error {
		out = out[:0]
		for _, id := range ids {
			old, err := getEntry(tx, id)
			if err != nil {
				return err
			}
			e := old
			// fn gets its own slices, so it cannot alias the old entry.
			e.Editors = append([]string(nil), old.Editors...)
			e.Approvals = append([]store.Approval(nil), old.Approvals...)
			a, err := fn(&e)
			if err != nil {
				return err
			}
			e.ID, e.Village, e.CreatedAt, e.Revision = id, old.Village, old.CreatedAt, old.Revision+1
			if err := putEntry(tx, e); err != nil {
				return err
			}
			a.Village, a.EntryID = e.Village, id
			if _, err := appendAudit(tx, a); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: update entries %v: %w", ids, err)
	}
	return out, nil
}

// AppendAudit appends a record that goes with no stored change.
func (s *Store) AppendAudit(ctx context.Context, a store.AuditRecord) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var seq uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		seq, err = appendAudit(tx, a)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("boltstore: append audit: %w", err)
	}
	return seq, nil
}

// ListAudit returns the records f selects, in seq order.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.Limit <= 0 {
		return nil, fmt.Errorf("boltstore: list audit: limit %d, want at least 1", f.Limit)
	}
	var out []store.AuditRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		if f.After == ^uint64(0) {
			return nil // no seq above the top (After+1 would wrap to 0)
		}
		c := tx.Bucket(bucketAudit).Cursor()
		// Forward from After, or with Last backward from the top down to it.
		k, v := c.Seek(u64(f.After + 1))
		next := c.Next
		if f.Last {
			k, v = c.Last()
			next = c.Prev
		}
		for ; k != nil && beU64(k) > f.After && len(out) < f.Limit; k, v = next() {
			var r auditRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("audit %x: decode: %w", k, err)
			}
			if (f.Village != "" && r.Village != f.Village) || (f.EntryID != 0 && r.EntryID != f.EntryID) {
				continue
			}
			out = append(out, store.AuditRecord{
				Seq: beU64(k), Time: r.Time, Actor: r.Actor, Action: r.Action, Village: r.Village, EntryID: r.EntryID,
				Target: r.Target, Before: r.Before, After: r.After, Note: r.Note,
			})
		}
		if f.Last {
			slices.Reverse(out)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list audit: %w", err)
	}
	return out, nil
}
