package pgstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dalaba/dalaba/cloud/store"
)

func normHold(h store.Hold) store.Hold {
	h.CreatedAt, h.ResolvedAt, h.Anonymised = utc(h.CreatedAt), utc(h.ResolvedAt), utc(h.Anonymised)
	return h
}

func putHold(ctx context.Context, tx pgx.Tx, h store.Hold) error {
	doc, err := encode(normHold(h))
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO holds (id, village, entry_id, doc) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET village = excluded.village, entry_id = excluded.entry_id, doc = excluded.doc`,
		int64(h.ID), h.Village, int64(h.EntryID), doc)
	if err != nil {
		return fmt.Errorf("hold %d: %w", h.ID, err)
	}
	return nil
}

func listHolds(ctx context.Context, tx pgx.Tx, q string, args ...any) ([]store.Hold, error) {
	hs, err := docs[store.Hold](ctx, tx, "holds", q, args...)
	for i := range hs {
		hs[i] = normHold(hs[i])
	}
	return hs, err
}

// ChangeHolds runs fn on entry id and its holds in one transaction; see
// store.Holds.
func (s *Store) ChangeHolds(ctx context.Context, id uint64, fn func(*store.Entry, *[]store.Hold) ([]store.AuditRecord, error)) (store.Entry, []store.Hold, error) {
	var (
		e     store.Entry
		holds []store.Hold
	)
	err := s.write(ctx, fmt.Sprintf("change holds of entry %d", id), func(tx pgx.Tx) error {
		old, err := getEntry(ctx, tx, id, true)
		if err != nil {
			return err
		}
		before, err := listHolds(ctx, tx, `SELECT doc FROM holds WHERE entry_id = $1 ORDER BY id`, int64(id))
		if err != nil {
			return err
		}
		e = old
		e.Editors = slices.Clone(old.Editors)
		e.Approvals = slices.Clone(old.Approvals)
		holds = slices.Clone(before)
		recs, err := fn(&e, &holds)
		if err != nil {
			return err
		}
		e.ID, e.Village, e.CreatedAt, e.Revision = id, old.Village, old.CreatedAt, old.Revision+1
		if err := putEntry(ctx, tx, e); err != nil {
			return err
		}
		e = normEntry(e)
		for i := range holds {
			h := &holds[i]
			h.Village, h.EntryID = e.Village, id
			if h.ID == 0 {
				if h.ID, err = next(ctx, tx, "holds"); err != nil {
					return err
				}
			} else if i >= len(before) || before[i].ID != h.ID {
				return fmt.Errorf("hold %d: holds may be changed and appended, not reordered or removed", h.ID)
			} else if before[i] == *h {
				continue
			}
			if err := putHold(ctx, tx, *h); err != nil {
				return err
			}
		}
		for _, a := range recs {
			a.Village, a.EntryID = e.Village, id
			if _, err := appendAudit(ctx, tx, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return store.Entry{}, nil, err
	}
	return e, holds, nil
}

// GetHold returns ErrNotFound for an unknown id.
func (s *Store) GetHold(ctx context.Context, id uint64) (store.Hold, error) {
	var h store.Hold
	err := s.read(ctx, "get hold", func(tx pgx.Tx) error {
		return getDoc(ctx, tx, fmt.Sprintf("hold %d", id), &h, `SELECT doc FROM holds WHERE id = $1`, int64(id))
	})
	return normHold(h), err
}

// ListHolds returns the holds f selects, by id.
func (s *Store) ListHolds(ctx context.Context, f store.HoldFilter) ([]store.Hold, error) {
	var out []store.Hold
	err := s.read(ctx, "list holds", func(tx pgx.Tx) error {
		all, err := listHolds(ctx, tx, `SELECT doc FROM holds WHERE ($1 = '' OR village = $1) AND ($2 = 0 OR entry_id = $2) ORDER BY id`,
			f.Village, int64(f.EntryID))
		for _, h := range all {
			if f.Status == "" || h.Status == f.Status {
				out = append(out, h)
			}
		}
		return err
	})
	return out, err
}

func getGoods(ctx context.Context, tx pgx.Tx, village, id string, lock bool) (store.Goods, error) {
	q := `SELECT doc FROM goods WHERE village = $1 AND id = $2`
	if lock {
		q += ` FOR UPDATE`
	}
	var g store.Goods
	err := getDoc(ctx, tx, fmt.Sprintf("goods %q of village %q", id, village), &g, q, village, id)
	g.Village, g.ID, g.UpdatedAt = village, id, utc(g.UpdatedAt)
	return g, err
}

func putGoods(ctx context.Context, tx pgx.Tx, g store.Goods) error {
	doc, err := encode(g)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO goods (village, id, doc) VALUES ($1, $2, $3)
		ON CONFLICT (village, id) DO UPDATE SET doc = excluded.doc`, g.Village, g.ID, doc)
	return err
}

// PutGoods creates or replaces goods with a; see store.Shop.
func (s *Store) PutGoods(ctx context.Context, g store.Goods, create bool, a store.AuditRecord) error {
	return s.write(ctx, "put goods", func(tx pgx.Tx) error {
		if _, err := getBox(ctx, tx, g.Village, false); err != nil {
			return err
		}
		if g.ID == "" {
			return fmt.Errorf("goods: empty id")
		}
		_, err := getGoods(ctx, tx, g.Village, g.ID, true)
		exists := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if create && exists {
			return fmt.Errorf("goods %q of village %q: %w", g.ID, g.Village, store.ErrExists)
		}
		if !create && !exists {
			return fmt.Errorf("goods %q of village %q: %w", g.ID, g.Village, store.ErrNotFound)
		}
		if err := putGoods(ctx, tx, g); err != nil {
			return err
		}
		a.Village = g.Village
		_, err = appendAudit(ctx, tx, a)
		return err
	})
}

// GetGoods returns ErrNotFound for unknown goods.
func (s *Store) GetGoods(ctx context.Context, village, id string) (store.Goods, error) {
	var g store.Goods
	err := s.read(ctx, "get goods", func(tx pgx.Tx) error {
		var err error
		g, err = getGoods(ctx, tx, village, id, false)
		return err
	})
	return g, err
}

// ListGoods returns the village's goods by id.
func (s *Store) ListGoods(ctx context.Context, village string) ([]store.Goods, error) {
	var out []store.Goods
	err := s.read(ctx, "list goods", func(tx pgx.Tx) error {
		var err error
		out, err = docs[store.Goods](ctx, tx, "goods", `SELECT doc FROM goods WHERE village = $1 ORDER BY id COLLATE "C"`, village)
		for i := range out {
			out[i].UpdatedAt = utc(out[i].UpdatedAt)
		}
		return err
	})
	return out, err
}

func normRedemption(r store.Redemption) store.Redemption {
	r.CreatedAt, r.CancelledAt = utc(r.CreatedAt), utc(r.CancelledAt)
	return r
}

func putRedemption(ctx context.Context, tx pgx.Tx, r store.Redemption) error {
	doc, err := encode(normRedemption(r))
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO redemptions (id, village, household, key, doc) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET doc = excluded.doc`, int64(r.ID), r.Village, r.Household, r.Key, doc)
	if err != nil {
		return fmt.Errorf("redemption %d: %w", r.ID, err)
	}
	return nil
}

// balance is the household's balance as store.Shop defines it.
func balance(ctx context.Context, tx pgx.Tx, village, household string) (int, error) {
	var earned int64
	err := tx.QueryRow(ctx, `SELECT COALESCE(sum(points), 0) FROM entries WHERE village = $1 AND status = $3 AND (
			(subject_kind = $4 AND subject_id = $2) OR
			(subject_kind = $5 AND subject_id IN (SELECT id FROM persons WHERE village = $1 AND household = $2)))`,
		village, household, string(store.StatusPublished), string(store.SubjectHousehold), string(store.SubjectPerson)).Scan(&earned)
	if err != nil {
		return 0, fmt.Errorf("balance: %w", err)
	}
	spent, err := docs[store.Redemption](ctx, tx, "redemptions", `SELECT doc FROM redemptions WHERE village = $1 AND household = $2`,
		village, household)
	if err != nil {
		return 0, err
	}
	sum := int(earned)
	for _, r := range spent {
		if r.Status != store.RedemptionCancelled {
			sum -= r.Points
		}
	}
	return sum, nil
}

// Redeem checks and stores a redemption in one transaction; see
// store.Shop.
func (s *Store) Redeem(ctx context.Context, r store.Redemption, audit func(store.Redemption, int) store.AuditRecord) (store.Redemption, bool, error) {
	replayed := false
	err := s.write(ctx, "redeem", func(tx pgx.Tx) error {
		if r.Key == "" {
			return fmt.Errorf("redemption: empty idempotency key")
		}
		var (
			oldID int64
			doc   []byte
		)
		err := tx.QueryRow(ctx, `SELECT id, doc FROM redemptions WHERE village = $1 AND key = $2`, r.Village, r.Key).Scan(&oldID, &doc)
		switch {
		case err == nil:
			var old store.Redemption
			if err := json.Unmarshal(doc, &old); err != nil {
				return fmt.Errorf("redemption %d: decode: %w", oldID, err)
			}
			if old.Household != r.Household || old.Goods != r.Goods || old.Quantity != r.Quantity {
				return fmt.Errorf("key %q: %w", r.Key, store.ErrKeyReused)
			}
			old.ID = uint64(oldID)
			r, replayed = normRedemption(old), true
			return nil
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if _, err := getBox(ctx, tx, r.Village, false); err != nil {
			return err
		}
		if _, err := getHousehold(ctx, tx, r.Village, r.Household); err != nil {
			return err
		}
		g, err := getGoods(ctx, tx, r.Village, r.Goods, true)
		if err != nil {
			return err
		}
		if r.Quantity < 1 {
			return fmt.Errorf("redemption: quantity %d", r.Quantity)
		}
		if !g.OnSale || g.Stock < r.Quantity {
			return fmt.Errorf("goods %q: %d left, %d asked: %w", g.ID, g.Stock, r.Quantity, store.ErrOutOfStock)
		}
		r.GoodsName, r.Points = g.Name, g.Price*r.Quantity
		bal, err := balance(ctx, tx, r.Village, r.Household)
		if err != nil {
			return err
		}
		if bal < r.Points {
			return fmt.Errorf("household %q has %d points, %d needed: %w", r.Household, bal, r.Points, store.ErrNotEnoughPoints)
		}
		g.Stock -= r.Quantity
		if err := putGoods(ctx, tx, g); err != nil {
			return err
		}
		if r.ID, err = next(ctx, tx, "redemptions"); err != nil {
			return err
		}
		r.Status = store.RedemptionDone
		if err := putRedemption(ctx, tx, r); err != nil {
			return err
		}
		a := audit(r, bal-r.Points)
		a.Village = r.Village
		_, err = appendAudit(ctx, tx, a)
		return err
	})
	if err != nil {
		return store.Redemption{}, false, err
	}
	return r, replayed, nil
}

func getRedemption(ctx context.Context, tx pgx.Tx, id uint64) (store.Redemption, error) {
	var r store.Redemption
	if err := getDoc(ctx, tx, fmt.Sprintf("redemption %d", id), &r, `SELECT doc FROM redemptions WHERE id = $1`, int64(id)); err != nil {
		return store.Redemption{}, err
	}
	r.ID = id
	return normRedemption(r), nil
}

// CancelRedemption lets fn cancel redemption id and returns the stock, in
// one transaction with fn's record.
func (s *Store) CancelRedemption(ctx context.Context, id uint64, fn func(*store.Redemption) (store.AuditRecord, error)) (store.Redemption, error) {
	var x store.Redemption
	err := s.write(ctx, fmt.Sprintf("cancel redemption %d", id), func(tx pgx.Tx) error {
		old, err := getRedemption(ctx, tx, id)
		if err != nil {
			return err
		}
		x = old
		a, err := fn(&x)
		if err != nil {
			return err
		}
		x.ID, x.Village, x.Household, x.Goods, x.Quantity, x.Points, x.Key = id, old.Village, old.Household, old.Goods, old.Quantity, old.Points, old.Key
		if old.Status != store.RedemptionCancelled && x.Status == store.RedemptionCancelled {
			// Goods gone since (never: goods are not deleted) keep nothing.
			if g, err := getGoods(ctx, tx, x.Village, x.Goods, true); err == nil {
				g.Stock += x.Quantity
				if err := putGoods(ctx, tx, g); err != nil {
					return err
				}
			}
		}
		x = normRedemption(x)
		if err := putRedemption(ctx, tx, x); err != nil {
			return err
		}
		a.Village = x.Village
		_, err = appendAudit(ctx, tx, a)
		return err
	})
	if err != nil {
		return store.Redemption{}, err
	}
	return x, nil
}

// GetRedemption returns ErrNotFound for an unknown id.
func (s *Store) GetRedemption(ctx context.Context, id uint64) (store.Redemption, error) {
	var x store.Redemption
	err := s.read(ctx, "get redemption", func(tx pgx.Tx) error {
		var err error
		x, err = getRedemption(ctx, tx, id)
		return err
	})
	return x, err
}

// ListRedemptions returns the redemptions f selects, by id.
func (s *Store) ListRedemptions(ctx context.Context, f store.RedemptionFilter) ([]store.Redemption, error) {
	var out []store.Redemption
	err := s.read(ctx, "list redemptions", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, doc FROM redemptions WHERE ($1 = '' OR village = $1) AND ($2 = '' OR household = $2)
			ORDER BY id`, f.Village, f.Household)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Redemption, error) {
			var (
				id  int64
				doc []byte
				r   store.Redemption
			)
			if err := row.Scan(&id, &doc); err != nil {
				return r, err
			}
			if err := json.Unmarshal(doc, &r); err != nil {
				return r, fmt.Errorf("redemption %d: decode: %w", id, err)
			}
			r.ID = uint64(id)
			return normRedemption(r), nil
		})
		return err
	})
	return out, err
}

// Balance is the household's balance as Redeem computes it.
func (s *Store) Balance(ctx context.Context, village, household string) (int, error) {
	var n int
	err := s.read(ctx, "balance", func(tx pgx.Tx) error {
		if _, err := getHousehold(ctx, tx, village, household); err != nil {
			return err
		}
		var err error
		n, err = balance(ctx, tx, village, household)
		return err
	})
	return n, err
}

func normLink(l store.Link) store.Link {
	l.CreatedAt, l.RevokedAt = utc(l.CreatedAt), utc(l.RevokedAt)
	return l
}

func putLink(ctx context.Context, tx pgx.Tx, l store.Link) error {
	doc, err := encode(normLink(l))
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO links (token_hash, village, household, doc) VALUES ($1, $2, $3, $4)
		ON CONFLICT (token_hash) DO UPDATE SET doc = excluded.doc`, l.TokenHash, l.Village, l.Household, doc)
	return err
}

func linksOf(ctx context.Context, tx pgx.Tx, village, household string) ([]store.Link, error) {
	ls, err := docs[store.Link](ctx, tx, "links", `SELECT doc FROM links WHERE village = $1 AND household = $2 ORDER BY token_hash`,
		village, household)
	for i := range ls {
		ls[i] = normLink(ls[i])
	}
	return ls, err
}

// IssueLink stores l and revokes the household's other links, with a.
func (s *Store) IssueLink(ctx context.Context, l store.Link, a store.AuditRecord) error {
	return s.write(ctx, "issue link", func(tx pgx.Tx) error {
		if _, err := getHousehold(ctx, tx, l.Village, l.Household); err != nil {
			return err
		}
		if len(l.TokenHash) == 0 {
			return fmt.Errorf("link: empty token hash")
		}
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM links WHERE token_hash = $1`, l.TokenHash).Scan(&one)
		if err == nil {
			return fmt.Errorf("link: %w", store.ErrExists)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if _, err := revokeLinks(ctx, tx, l.Village, l.Household, l.CreatedBy, l.CreatedAt); err != nil {
			return err
		}
		l.RevokedAt, l.RevokedBy = time.Time{}, ""
		if err := putLink(ctx, tx, l); err != nil {
			return err
		}
		a.Village = l.Village
		_, err = appendAudit(ctx, tx, a)
		return err
	})
}

func revokeLinks(ctx context.Context, tx pgx.Tx, village, household, by string, at time.Time) (int, error) {
	ls, err := linksOf(ctx, tx, village, household)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range ls {
		if !l.RevokedAt.IsZero() {
			continue
		}
		l.RevokedAt, l.RevokedBy = at, by
		if err := putLink(ctx, tx, l); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// GetLink returns ErrNotFound for a hash never issued.
func (s *Store) GetLink(ctx context.Context, hash []byte) (store.Link, error) {
	var l store.Link
	err := s.read(ctx, "get link", func(tx pgx.Tx) error {
		return getDoc(ctx, tx, "link", &l, `SELECT doc FROM links WHERE token_hash = $1`, hash)
	})
	l.TokenHash = bytes.Clone(hash)
	return normLink(l), err
}

// RevokeLinks revokes every working link of the household with a.
func (s *Store) RevokeLinks(ctx context.Context, village, household, by string, at time.Time, a store.AuditRecord) (int, error) {
	var n int
	err := s.write(ctx, "revoke links", func(tx pgx.Tx) error {
		if _, err := getHousehold(ctx, tx, village, household); err != nil {
			return err
		}
		var err error
		if n, err = revokeLinks(ctx, tx, village, household, by, at); err != nil {
			return err
		}
		a.Village = village
		_, err = appendAudit(ctx, tx, a)
		return err
	})
	return n, err
}

// ListLinks returns the household's links, newest first.
func (s *Store) ListLinks(ctx context.Context, village, household string) ([]store.Link, error) {
	var out []store.Link
	err := s.read(ctx, "list links", func(tx pgx.Tx) error {
		var err error
		out, err = linksOf(ctx, tx, village, household)
		return err
	})
	slices.SortStableFunc(out, func(a, b store.Link) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, err
}

// PutChats replaces the village's chats with a.
func (s *Store) PutChats(ctx context.Context, village string, chats []store.Chat, a store.AuditRecord) error {
	return s.write(ctx, "put chats", func(tx pgx.Tx) error {
		if _, err := getBox(ctx, tx, village, false); err != nil {
			return err
		}
		cs := make([]store.Chat, 0, len(chats))
		for _, c := range chats {
			c.Village, c.UpdatedAt = village, utc(c.UpdatedAt)
			cs = append(cs, c)
		}
		doc, err := encode(cs)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO chats (village, doc) VALUES ($1, $2)
			ON CONFLICT (village) DO UPDATE SET doc = excluded.doc`, village, doc); err != nil {
			return err
		}
		a.Village = village
		_, err = appendAudit(ctx, tx, a)
		return err
	})
}

// ListChats returns the village's chats in the order put.
func (s *Store) ListChats(ctx context.Context, village string) ([]store.Chat, error) {
	var out []store.Chat
	err := s.read(ctx, "list chats", func(tx pgx.Tx) error {
		err := getDoc(ctx, tx, "chats", &out, `SELECT doc FROM chats WHERE village = $1`, village)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if len(out) == 0 {
		out = nil
	}
	return out, err
}

func normDelivery(d store.Delivery) store.Delivery {
	d.NextAt, d.CreatedAt, d.DoneAt = utc(d.NextAt), utc(d.CreatedAt), utc(d.DoneAt)
	return d
}

func putDelivery(ctx context.Context, tx pgx.Tx, d store.Delivery) error {
	doc, err := encode(normDelivery(d))
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO deliveries (id, village, status, doc) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET village = excluded.village, status = excluded.status, doc = excluded.doc`,
		int64(d.ID), d.Village, string(d.Status), doc)
	if err != nil {
		return fmt.Errorf("delivery %d: %w", d.ID, err)
	}
	return nil
}

// AddDeliveries stores ds and their picture in one transaction.
func (s *Store) AddDeliveries(ctx context.Context, ds []store.Delivery, imageID string, img []byte) ([]store.Delivery, error) {
	out := slices.Clone(ds)
	err := s.write(ctx, "add deliveries", func(tx pgx.Tx) error {
		if img != nil && len(out) > 0 {
			if imageID == "" {
				return fmt.Errorf("image: empty id")
			}
			if _, err := tx.Exec(ctx, `INSERT INTO images (id, created_ns, bytes) VALUES ($1, $2, $3)
				ON CONFLICT (id) DO UPDATE SET created_ns = excluded.created_ns, bytes = excluded.bytes`,
				imageID, out[0].CreatedAt.UnixNano(), img); err != nil {
				return err
			}
		}
		for i := range out {
			id, err := next(ctx, tx, "deliveries")
			if err != nil {
				return err
			}
			out[i].ID = id
			if err := putDelivery(ctx, tx, out[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateDelivery lets fn change delivery id in one transaction.
func (s *Store) UpdateDelivery(ctx context.Context, id uint64, fn func(*store.Delivery) error) (store.Delivery, error) {
	var d store.Delivery
	err := s.write(ctx, fmt.Sprintf("update delivery %d", id), func(tx pgx.Tx) error {
		if err := getDoc(ctx, tx, fmt.Sprintf("delivery %d", id), &d, `SELECT doc FROM deliveries WHERE id = $1`, int64(id)); err != nil {
			return err
		}
		d = normDelivery(d)
		d.ID = id
		if err := fn(&d); err != nil {
			return err
		}
		d.ID = id
		return putDelivery(ctx, tx, d)
	})
	return d, err
}

// ListDeliveries returns the village's deliveries with status, newest
// first, at most limit.
func (s *Store) ListDeliveries(ctx context.Context, village string, status store.DeliveryStatus, limit int) ([]store.Delivery, error) {
	var out []store.Delivery
	err := s.read(ctx, "list deliveries", func(tx pgx.Tx) error {
		var err error
		out, err = docs[store.Delivery](ctx, tx, "deliveries", `SELECT doc FROM deliveries WHERE ($1 = '' OR village = $1)
			AND ($2 = '' OR status = $2) ORDER BY id DESC LIMIT $3`, village, string(status), max(limit, 0))
		for i := range out {
			out[i] = normDelivery(out[i])
		}
		return err
	})
	return out, err
}

// GetImage returns a stored picture; ErrNotFound when absent.
func (s *Store) GetImage(ctx context.Context, id string) ([]byte, time.Time, error) {
	var (
		img []byte
		ns  int64
	)
	err := s.read(ctx, "get image", func(tx pgx.Tx) error {
		return noRows(tx.QueryRow(ctx, `SELECT created_ns, bytes FROM images WHERE id = $1`, id).Scan(&ns, &img), "image")
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	return img, time.Unix(0, ns), nil
}

// DeleteImages deletes the pictures stored before cutoff.
func (s *Store) DeleteImages(ctx context.Context, cutoff time.Time) (int, error) {
	n := 0
	err := s.write(ctx, "delete images", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM images WHERE created_ns < $1`, cutoff.UnixNano())
		n = int(tag.RowsAffected())
		return err
	})
	return n, err
}

// Anonymise rewrites old entries and holds and redacts their audit
// records in one transaction; see store.Retention.
func (s *Store) Anonymise(ctx context.Context, cutoff time.Time, entry func(*store.Entry), hold func(*store.Hold), audit func(entries, holds int) store.AuditRecord) (int, int, error) {
	var ne, nh int
	err := s.write(ctx, "anonymise", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, doc FROM entries ORDER BY id`)
		if err != nil {
			return err
		}
		all, err := scanEntries(rows)
		if err != nil {
			return err
		}
		ids := map[uint64]bool{}
		ne, nh = 0, 0
		for _, e := range all {
			if !e.Anonymised.IsZero() || !e.CreatedAt.Before(cutoff) {
				continue
			}
			id, village, created := e.ID, e.Village, e.CreatedAt
			entry(&e)
			e.ID, e.Village, e.CreatedAt, e.Revision = id, village, created, e.Revision+1
			if err := putEntry(ctx, tx, e); err != nil {
				return err
			}
			ids[id] = true
			ne++
		}
		holds, err := listHolds(ctx, tx, `SELECT doc FROM holds ORDER BY id`)
		if err != nil {
			return err
		}
		for _, old := range holds {
			if !old.Anonymised.IsZero() || !old.CreatedAt.Before(cutoff) {
				continue
			}
			h := old
			hold(&h)
			h.ID, h.Village, h.EntryID = old.ID, old.Village, old.EntryID
			if err := putHold(ctx, tx, h); err != nil {
				return err
			}
			ids[h.EntryID] = true
			nh++
		}
		if len(ids) > 0 {
			entryIDs := make([]int64, 0, len(ids))
			for id := range ids {
				entryIDs = append(entryIDs, int64(id))
			}
			recs, err := docs[auditDoc](ctx, tx, "audit", `SELECT doc FROM audit WHERE entry_id = ANY($1) ORDER BY seq`, entryIDs)
			if err != nil {
				return err
			}
			for _, d := range recs {
				r := d.record()
				if (r.Before == nil && r.After == nil && r.Note == "") || string(r.After) == store.Redacted {
					continue
				}
				r.Before, r.After, r.Note = nil, json.RawMessage(store.Redacted), ""
				doc, err := encode(auditDoc{AuditRecord: r, Before: r.Before, After: r.After})
				if err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `UPDATE audit SET doc = $2 WHERE seq = $1`, int64(r.Seq), doc); err != nil {
					return err
				}
			}
		}
		if ne+nh == 0 {
			return nil
		}
		_, err = appendAudit(ctx, tx, audit(ne, nh))
		return err
	})
	return ne, nh, err
}
