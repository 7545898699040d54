package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dalaba/dalaba/cloud/store"
)

// Schema 5: what the lists keep beyond entries (store.Community).
//
//	holds/<id>                  JSON hold (objection or flag); id as 8 bytes
//	                            big-endian from the bucket's sequence
//	goods/<village>/<id>        JSON goods of the village's points shop
//	redemptions/<id>            JSON redemption; id from the bucket's sequence
//	redeemkeys/<village>/<key>  8-byte id of the redemption the key made
//	links/<token sha256>        JSON villager link
//	chats/<village>             JSON array of the village's group chats
//	deliveries/<id>             JSON delivery to a chat
//	images/<id>                 8-byte unix nanoseconds stored, then a PNG
var (
	bucketHolds       = []byte("holds")
	bucketGoods       = []byte("goods")
	bucketRedemptions = []byte("redemptions")
	bucketRedeemKeys  = []byte("redeemkeys")
	bucketLinks       = []byte("links")
	bucketChats       = []byte("chats")
	bucketDeliveries  = []byte("deliveries")
	bucketImages      = []byte("images")
)

func communityBuckets() [][]byte {
	return [][]byte{bucketHolds, bucketGoods, bucketRedemptions, bucketRedeemKeys, bucketLinks, bucketChats, bucketDeliveries, bucketImages}
}

// The stored forms; their JSON names are the file format.

type holdRecord struct {
	Village    string    `json:"village"`
	EntryID    uint64    `json:"entry_id"`
	Kind       string    `json:"kind"`
	Name       string    `json:"name,omitempty"`
	Contact    string    `json:"contact,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	By         string    `json:"by,omitempty"`
	Household  string    `json:"household,omitempty"`
	Status     string    `json:"status"`
	Resolution string    `json:"resolution,omitempty"`
	ResolvedBy string    `json:"resolved_by,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	Anonymised time.Time `json:"anonymised,omitzero"`
}

func (r holdRecord) hold(id uint64) store.Hold {
	return store.Hold{ID: id, Village: r.Village, EntryID: r.EntryID, Kind: store.HoldKind(r.Kind), Name: r.Name, Contact: r.Contact,
		Reason: r.Reason, By: r.By, Household: r.Household, Status: store.HoldStatus(r.Status), Resolution: r.Resolution,
		ResolvedBy: r.ResolvedBy, CreatedAt: r.CreatedAt, ResolvedAt: r.ResolvedAt, Anonymised: r.Anonymised}
}

func toHoldRecord(h store.Hold) holdRecord {
	return holdRecord{Village: h.Village, EntryID: h.EntryID, Kind: string(h.Kind), Name: h.Name, Contact: h.Contact,
		Reason: h.Reason, By: h.By, Household: h.Household, Status: string(h.Status), Resolution: h.Resolution,
		ResolvedBy: h.ResolvedBy, CreatedAt: h.CreatedAt, ResolvedAt: h.ResolvedAt, Anonymised: h.Anonymised}
}

type goodsRecord struct {
	Name      string    `json:"name"`
	Price     int       `json:"price"`
	Stock     int       `json:"stock"`
	OnSale    bool      `json:"on_sale"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
}

type redemptionRecord struct {
	Village      string    `json:"village"`
	Household    string    `json:"household"`
	Goods        string    `json:"goods"`
	GoodsName    string    `json:"goods_name"`
	Quantity     int       `json:"quantity"`
	Points       int       `json:"points"`
	Key          string    `json:"key"`
	By           string    `json:"by"`
	Status       string    `json:"status"`
	CreatedAt    time.Time `json:"created_at"`
	CancelledAt  time.Time `json:"cancelled_at,omitzero"`
	CancelledBy  string    `json:"cancelled_by,omitempty"`
	CancelReason string    `json:"cancel_reason,omitempty"`
}

func (r redemptionRecord) redemption(id uint64) store.Redemption {
	return store.Redemption{ID: id, Village: r.Village, Household: r.Household, Goods: r.Goods, GoodsName: r.GoodsName,
		Quantity: r.Quantity, Points: r.Points, Key: r.Key, By: r.By, Status: store.RedemptionStatus(r.Status),
		CreatedAt: r.CreatedAt, CancelledAt: r.CancelledAt, CancelledBy: r.CancelledBy, CancelReason: r.CancelReason}
}

func toRedemptionRecord(x store.Redemption) redemptionRecord {
	return redemptionRecord{Village: x.Village, Household: x.Household, Goods: x.Goods, GoodsName: x.GoodsName,
		Quantity: x.Quantity, Points: x.Points, Key: x.Key, By: x.By, Status: string(x.Status), CreatedAt: x.CreatedAt,
		CancelledAt: x.CancelledAt, CancelledBy: x.CancelledBy, CancelReason: x.CancelReason}
}

type linkRecord struct {
	Village   string    `json:"village"`
	Household string    `json:"household"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
}

type chatRecord struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	URL       string    `json:"url"`
	Secret    string    `json:"secret,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
}

type deliveryRecord struct {
	Village   string    `json:"village"`
	Chat      string    `json:"chat"`
	Event     string    `json:"event"`
	Period    string    `json:"period"`
	Title     string    `json:"title"`
	Text      string    `json:"text"`
	Image     string    `json:"image,omitempty"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error,omitempty"`
	NextAt    time.Time `json:"next_at,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	DoneAt    time.Time `json:"done_at,omitzero"`
}

func (r deliveryRecord) delivery(id uint64) store.Delivery {
	return store.Delivery{ID: id, Village: r.Village, Chat: r.Chat, Event: r.Event, Period: r.Period, Title: r.Title, Text: r.Text,
		Image: r.Image, Status: store.DeliveryStatus(r.Status), Attempts: r.Attempts, LastError: r.LastError, NextAt: r.NextAt,
		CreatedAt: r.CreatedAt, DoneAt: r.DoneAt}
}

func toDeliveryRecord(d store.Delivery) deliveryRecord {
	return deliveryRecord{Village: d.Village, Chat: d.Chat, Event: d.Event, Period: d.Period, Title: d.Title, Text: d.Text,
		Image: d.Image, Status: string(d.Status), Attempts: d.Attempts, LastError: d.LastError, NextAt: d.NextAt,
		CreatedAt: d.CreatedAt, DoneAt: d.DoneAt}
}

// putJSON encodes v under key of b.
func putJSON(b *bolt.Bucket, key []byte, v any) error {
	enc, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %T: %w", v, err)
	}
	return b.Put(key, enc)
}

// getJSON decodes key of b into v; ErrNotFound when absent.
func getJSON(b *bolt.Bucket, key []byte, what string, v any) error {
	raw := b.Get(key)
	if raw == nil {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: decode: %w", what, err)
	}
	return nil
}

// update runs fn in a write transaction, wrapping its error with op.
func (s *Store) update(ctx context.Context, op string, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.db.Update(fn); err != nil {
		return fmt.Errorf("boltstore: %s: %w", op, err)
	}
	return nil
}

// view runs fn in a read transaction, wrapping its error with op.
func (s *Store) view(ctx context.Context, op string, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.db.View(fn); err != nil {
		return fmt.Errorf("boltstore: %s: %w", op, err)
	}
	return nil
}

// ChangeHolds changes entry id and its holds with fn in one transaction.
func (s *Store) ChangeHolds(ctx context.Context, id uint64, fn func(*store.Entry, *[]store.Hold) ([]store.AuditRecord, error)) (store.Entry, []store.Hold, error) {
	var (
		e     store.Entry
		holds []store.Hold
	)
	err := s.update(ctx, fmt.Sprintf("change holds of entry %d", id), func(tx *bolt.Tx) error {
		old, err := getEntry(tx, id)
		if err != nil {
			return err
		}
		hb := tx.Bucket(bucketHolds)
		var before []store.Hold
		if err := hb.ForEach(func(k, v []byte) error {
			var r holdRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("hold %x: decode: %w", k, err)
			}
			if r.EntryID == id {
				before = append(before, r.hold(beU64(k)))
			}
			return nil
		}); err != nil {
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
		if err := putEntry(tx, e); err != nil {
			return err
		}
		for i := range holds {
			h := &holds[i]
			h.Village, h.EntryID = e.Village, id
			if h.ID == 0 {
				if h.ID, err = hb.NextSequence(); err != nil {
					return fmt.Errorf("next hold id: %w", err)
				}
			} else if i >= len(before) || before[i].ID != h.ID {
				return fmt.Errorf("hold %d: holds may be changed and appended, not reordered or removed", h.ID)
			} else if before[i] == *h {
				continue
			}
			if err := putJSON(hb, u64(h.ID), toHoldRecord(*h)); err != nil {
				return err
			}
		}
		for _, a := range recs {
			a.Village, a.EntryID = e.Village, id
			if _, err := appendAudit(tx, a); err != nil {
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

// GetHold returns hold id.
func (s *Store) GetHold(ctx context.Context, id uint64) (store.Hold, error) {
	var h store.Hold
	err := s.view(ctx, "get hold", func(tx *bolt.Tx) error {
		var r holdRecord
		if err := getJSON(tx.Bucket(bucketHolds), u64(id), fmt.Sprintf("hold %d", id), &r); err != nil {
			return err
		}
		h = r.hold(id)
		return nil
	})
	return h, err
}

// ListHolds returns the holds f selects, by id.
func (s *Store) ListHolds(ctx context.Context, f store.HoldFilter) ([]store.Hold, error) {
	var out []store.Hold
	err := s.view(ctx, "list holds", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHolds).ForEach(func(k, v []byte) error {
			var r holdRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("hold %x: decode: %w", k, err)
			}
			if (f.Village == "" || r.Village == f.Village) && (f.EntryID == 0 || r.EntryID == f.EntryID) && (f.Status == "" || r.Status == string(f.Status)) {
				out = append(out, r.hold(beU64(k)))
			}
			return nil
		})
	})
	return out, err
}

// PutGoods creates or replaces goods with their audit record.
func (s *Store) PutGoods(ctx context.Context, g store.Goods, create bool, a store.AuditRecord) error {
	return s.update(ctx, "put goods", func(tx *bolt.Tx) error {
		if _, err := getBox(tx, g.Village); err != nil {
			return err
		}
		if g.ID == "" {
			return fmt.Errorf("goods: empty id")
		}
		b, err := villageBucket(tx, bucketGoods, g.Village, true)
		if err != nil {
			return err
		}
		exists := b.Get([]byte(g.ID)) != nil
		if create && exists {
			return fmt.Errorf("goods %q of village %q: %w", g.ID, g.Village, store.ErrExists)
		}
		if !create && !exists {
			return fmt.Errorf("goods %q of village %q: %w", g.ID, g.Village, store.ErrNotFound)
		}
		if err := putJSON(b, []byte(g.ID), goodsRecord{Name: g.Name, Price: g.Price, Stock: g.Stock, OnSale: g.OnSale, UpdatedAt: g.UpdatedAt, UpdatedBy: g.UpdatedBy}); err != nil {
			return err
		}
		a.Village = g.Village
		_, err = appendAudit(tx, a)
		return err
	})
}

func getGoods(tx *bolt.Tx, village, id string) (store.Goods, error) {
	var r goodsRecord
	if err := getOne(tx, bucketGoods, village, id, &r); err != nil {
		return store.Goods{}, err
	}
	return store.Goods{Village: village, ID: id, Name: r.Name, Price: r.Price, Stock: r.Stock, OnSale: r.OnSale, UpdatedAt: r.UpdatedAt, UpdatedBy: r.UpdatedBy}, nil
}

// GetGoods returns goods id of village.
func (s *Store) GetGoods(ctx context.Context, village, id string) (store.Goods, error) {
	var g store.Goods
	err := s.view(ctx, "get goods", func(tx *bolt.Tx) error {
		var err error
		g, err = getGoods(tx, village, id)
		return err
	})
	return g, err
}

// ListGoods returns the village's goods by id.
func (s *Store) ListGoods(ctx context.Context, village string) ([]store.Goods, error) {
	var out []store.Goods
	err := s.view(ctx, "list goods", func(tx *bolt.Tx) error {
		return eachOf(tx, bucketGoods, village, func(id string, v []byte) error {
			var r goodsRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("goods %q: decode: %w", id, err)
			}
			out = append(out, store.Goods{Village: village, ID: id, Name: r.Name, Price: r.Price, Stock: r.Stock, OnSale: r.OnSale, UpdatedAt: r.UpdatedAt, UpdatedBy: r.UpdatedBy})
			return nil
		})
	})
	return out, err
}

// balance computes the household's balance inside tx (store.Shop says
// how). It reads every entry and redemption: a township's few thousand.
func balance(tx *bolt.Tx, village, household string) (int, error) {
	members := map[string]bool{}
	if err := eachOf(tx, bucketPersons, village, func(id string, v []byte) error {
		var r personRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("person %q: decode: %w", id, err)
		}
		if r.Household == household {
			members[id] = true
		}
		return nil
	}); err != nil {
		return 0, err
	}
	sum := 0
	if err := tx.Bucket(bucketEntries).ForEach(func(k, v []byte) error {
		var r entryRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("entry %x: decode: %w", k, err)
		}
		if r.Village != village || r.Status != string(store.StatusPublished) {
			return nil
		}
		if (r.SubjectKind == string(store.SubjectHousehold) && r.SubjectID == household) ||
			(r.SubjectKind == string(store.SubjectPerson) && members[r.SubjectID]) {
			sum += r.Points
		}
		return nil
	}); err != nil {
		return 0, err
	}
	err := tx.Bucket(bucketRedemptions).ForEach(func(k, v []byte) error {
		var r redemptionRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("redemption %x: decode: %w", k, err)
		}
		if r.Village == village && r.Household == household && r.Status != string(store.RedemptionCancelled) {
			sum -= r.Points
		}
		return nil
	})
	return sum, err
}

// Redeem spends a household's points on goods (store.Shop says how).
func (s *Store) Redeem(ctx context.Context, r store.Redemption, audit func(store.Redemption, int) store.AuditRecord) (store.Redemption, bool, error) {
	replayed := false
	err := s.update(ctx, "redeem", func(tx *bolt.Tx) error {
		if r.Key == "" {
			return fmt.Errorf("redemption: empty idempotency key")
		}
		keys, err := villageBucket(tx, bucketRedeemKeys, r.Village, true)
		if err != nil {
			return err
		}
		rb := tx.Bucket(bucketRedemptions)
		if id := keys.Get([]byte(r.Key)); id != nil {
			var old redemptionRecord
			if err := getJSON(rb, id, fmt.Sprintf("redemption %d", beU64(id)), &old); err != nil {
				return err
			}
			if old.Household != r.Household || old.Goods != r.Goods || old.Quantity != r.Quantity {
				return fmt.Errorf("key %q: %w", r.Key, store.ErrKeyReused)
			}
			r, replayed = old.redemption(beU64(id)), true
			return nil
		}
		if _, err := getBox(tx, r.Village); err != nil {
			return err
		}
		var h householdRecord
		if err := getOne(tx, bucketHouses, r.Village, r.Household, &h); err != nil {
			return err
		}
		g, err := getGoods(tx, r.Village, r.Goods)
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
		bal, err := balance(tx, r.Village, r.Household)
		if err != nil {
			return err
		}
		if bal < r.Points {
			return fmt.Errorf("household %q has %d points, %d needed: %w", r.Household, bal, r.Points, store.ErrNotEnoughPoints)
		}
		g.Stock -= r.Quantity
		gb, _ := villageBucket(tx, bucketGoods, r.Village, false) // exists: the goods were read from it
		if err := putJSON(gb, []byte(g.ID), goodsRecord{Name: g.Name, Price: g.Price, Stock: g.Stock, OnSale: g.OnSale, UpdatedAt: g.UpdatedAt, UpdatedBy: g.UpdatedBy}); err != nil {
			return err
		}
		if r.ID, err = rb.NextSequence(); err != nil {
			return fmt.Errorf("next redemption id: %w", err)
		}
		r.Status = store.RedemptionDone
		if err := putJSON(rb, u64(r.ID), toRedemptionRecord(r)); err != nil {
			return err
		}
		if err := keys.Put([]byte(r.Key), u64(r.ID)); err != nil {
			return err
		}
		a := audit(r, bal-r.Points)
		a.Village = r.Village
		_, err = appendAudit(tx, a)
		return err
	})
	if err != nil {
		return store.Redemption{}, false, err
	}
	return r, replayed, nil
}

// CancelRedemption cancels redemption id with fn and returns its stock.
func (s *Store) CancelRedemption(ctx context.Context, id uint64, fn func(*store.Redemption) (store.AuditRecord, error)) (store.Redemption, error) {
	var x store.Redemption
	err := s.update(ctx, fmt.Sprintf("cancel redemption %d", id), func(tx *bolt.Tx) error {
		rb := tx.Bucket(bucketRedemptions)
		var r redemptionRecord
		if err := getJSON(rb, u64(id), fmt.Sprintf("redemption %d", id), &r); err != nil {
			return err
		}
		x = r.redemption(id)
		old := x
		a, err := fn(&x)
		if err != nil {
			return err
		}
		x.ID, x.Village, x.Household, x.Goods, x.Quantity, x.Points, x.Key = id, old.Village, old.Household, old.Goods, old.Quantity, old.Points, old.Key
		if old.Status != store.RedemptionCancelled && x.Status == store.RedemptionCancelled {
			// The goods may since have been taken off sale; their stock
			// comes back all the same.
			if g, err := getGoods(tx, x.Village, x.Goods); err == nil {
				g.Stock += x.Quantity
				gb, _ := villageBucket(tx, bucketGoods, x.Village, false) // exists: the goods were read from it
				if err := putJSON(gb, []byte(g.ID), goodsRecord{Name: g.Name, Price: g.Price, Stock: g.Stock, OnSale: g.OnSale, UpdatedAt: g.UpdatedAt, UpdatedBy: g.UpdatedBy}); err != nil {
					return err
				}
			}
		}
		if err := putJSON(rb, u64(id), toRedemptionRecord(x)); err != nil {
			return err
		}
		a.Village = x.Village
		_, err = appendAudit(tx, a)
		return err
	})
	if err != nil {
		return store.Redemption{}, err
	}
	return x, nil
}

// GetRedemption returns redemption id.
func (s *Store) GetRedemption(ctx context.Context, id uint64) (store.Redemption, error) {
	var x store.Redemption
	err := s.view(ctx, "get redemption", func(tx *bolt.Tx) error {
		var r redemptionRecord
		if err := getJSON(tx.Bucket(bucketRedemptions), u64(id), fmt.Sprintf("redemption %d", id), &r); err != nil {
			return err
		}
		x = r.redemption(id)
		return nil
	})
	return x, err
}

// ListRedemptions returns the redemptions f selects, by id.
func (s *Store) ListRedemptions(ctx context.Context, f store.RedemptionFilter) ([]store.Redemption, error) {
	var out []store.Redemption
	err := s.view(ctx, "list redemptions", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRedemptions).ForEach(func(k, v []byte) error {
			var r redemptionRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("redemption %x: decode: %w", k, err)
			}
			if (f.Village == "" || r.Village == f.Village) && (f.Household == "" || r.Household == f.Household) {
				out = append(out, r.redemption(beU64(k)))
			}
			return nil
		})
	})
	return out, err
}

// Balance is the household's balance.
func (s *Store) Balance(ctx context.Context, village, household string) (int, error) {
	var n int
	err := s.view(ctx, "balance", func(tx *bolt.Tx) error {
		var h householdRecord
		if err := getOne(tx, bucketHouses, village, household, &h); err != nil {
			return err
		}
		var err error
		n, err = balance(tx, village, household)
		return err
	})
	return n, err
}

// IssueLink stores l, revoking the household's other links, with a.
func (s *Store) IssueLink(ctx context.Context, l store.Link, a store.AuditRecord) error {
	return s.update(ctx, "issue link", func(tx *bolt.Tx) error {
		var h householdRecord
		if err := getOne(tx, bucketHouses, l.Village, l.Household, &h); err != nil {
			return err
		}
		if len(l.TokenHash) == 0 {
			return fmt.Errorf("link: empty token hash")
		}
		b := tx.Bucket(bucketLinks)
		if b.Get(l.TokenHash) != nil {
			return fmt.Errorf("link: %w", store.ErrExists)
		}
		if _, err := revokeLinks(tx, l.Village, l.Household, l.CreatedBy, l.CreatedAt); err != nil {
			return err
		}
		if err := putJSON(b, l.TokenHash, linkRecord{Village: l.Village, Household: l.Household, CreatedAt: l.CreatedAt, CreatedBy: l.CreatedBy}); err != nil {
			return err
		}
		a.Village = l.Village
		_, err := appendAudit(tx, a)
		return err
	})
}

func revokeLinks(tx *bolt.Tx, village, household, by string, at time.Time) (int, error) {
	b := tx.Bucket(bucketLinks)
	var keys [][]byte
	var recs []linkRecord
	if err := b.ForEach(func(k, v []byte) error {
		var r linkRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("link: decode: %w", err)
		}
		if r.Village == village && r.Household == household && r.RevokedAt.IsZero() {
			keys, recs = append(keys, slices.Clone(k)), append(recs, r)
		}
		return nil
	}); err != nil {
		return 0, err
	}
	for i, k := range keys {
		recs[i].RevokedAt, recs[i].RevokedBy = at, by
		if err := putJSON(b, k, recs[i]); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// GetLink returns the link of a token hash.
func (s *Store) GetLink(ctx context.Context, hash []byte) (store.Link, error) {
	var l store.Link
	err := s.view(ctx, "get link", func(tx *bolt.Tx) error {
		var r linkRecord
		if err := getJSON(tx.Bucket(bucketLinks), hash, "link", &r); err != nil {
			return err
		}
		l = store.Link{TokenHash: slices.Clone(hash), Village: r.Village, Household: r.Household, CreatedAt: r.CreatedAt,
			CreatedBy: r.CreatedBy, RevokedAt: r.RevokedAt, RevokedBy: r.RevokedBy}
		return nil
	})
	return l, err
}

// RevokeLinks revokes the household's working links with a.
func (s *Store) RevokeLinks(ctx context.Context, village, household, by string, at time.Time, a store.AuditRecord) (int, error) {
	var n int
	err := s.update(ctx, "revoke links", func(tx *bolt.Tx) error {
		var h householdRecord
		if err := getOne(tx, bucketHouses, village, household, &h); err != nil {
			return err
		}
		var err error
		if n, err = revokeLinks(tx, village, household, by, at); err != nil {
			return err
		}
		a.Village = village
		_, err = appendAudit(tx, a)
		return err
	})
	return n, err
}

// ListLinks returns the household's links, newest first.
func (s *Store) ListLinks(ctx context.Context, village, household string) ([]store.Link, error) {
	var out []store.Link
	err := s.view(ctx, "list links", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLinks).ForEach(func(k, v []byte) error {
			var r linkRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("link: decode: %w", err)
			}
			if r.Village == village && r.Household == household {
				out = append(out, store.Link{TokenHash: slices.Clone(k), Village: r.Village, Household: r.Household, CreatedAt: r.CreatedAt,
					CreatedBy: r.CreatedBy, RevokedAt: r.RevokedAt, RevokedBy: r.RevokedBy})
			}
			return nil
		})
	})
	slices.SortStableFunc(out, func(a, b store.Link) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, err
}

// PutChats replaces the village's chats with a.
func (s *Store) PutChats(ctx context.Context, village string, chats []store.Chat, a store.AuditRecord) error {
	return s.update(ctx, "put chats", func(tx *bolt.Tx) error {
		if _, err := getBox(tx, village); err != nil {
			return err
		}
		rs := make([]chatRecord, 0, len(chats))
		for _, c := range chats {
			rs = append(rs, chatRecord{ID: c.ID, Kind: c.Kind, URL: c.URL, Secret: c.Secret, UpdatedAt: c.UpdatedAt, UpdatedBy: c.UpdatedBy})
		}
		if err := putJSON(tx.Bucket(bucketChats), []byte(village), rs); err != nil {
			return err
		}
		a.Village = village
		_, err := appendAudit(tx, a)
		return err
	})
}

// ListChats returns the village's chats.
func (s *Store) ListChats(ctx context.Context, village string) ([]store.Chat, error) {
	var out []store.Chat
	err := s.view(ctx, "list chats", func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketChats).Get([]byte(village))
		if raw == nil {
			return nil
		}
		var rs []chatRecord
		if err := json.Unmarshal(raw, &rs); err != nil {
			return fmt.Errorf("chats of %q: decode: %w", village, err)
		}
		for _, r := range rs {
			out = append(out, store.Chat{Village: village, ID: r.ID, Kind: r.Kind, URL: r.URL, Secret: r.Secret, UpdatedAt: r.UpdatedAt, UpdatedBy: r.UpdatedBy})
		}
		return nil
	})
	return out, err
}

// AddDeliveries stores ds and their picture in one transaction.
func (s *Store) AddDeliveries(ctx context.Context, ds []store.Delivery, imageID string, img []byte) ([]store.Delivery, error) {
	out := slices.Clone(ds)
	err := s.update(ctx, "add deliveries", func(tx *bolt.Tx) error {
		if img != nil && len(out) > 0 {
			if imageID == "" {
				return fmt.Errorf("image: empty id")
			}
			stamp := u64(uint64(out[0].CreatedAt.UnixNano()))
			if err := tx.Bucket(bucketImages).Put([]byte(imageID), append(stamp, img...)); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketDeliveries)
		for i := range out {
			id, err := b.NextSequence()
			if err != nil {
				return fmt.Errorf("next delivery id: %w", err)
			}
			out[i].ID = id
			if err := putJSON(b, u64(id), toDeliveryRecord(out[i])); err != nil {
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

// UpdateDelivery changes delivery id with fn.
func (s *Store) UpdateDelivery(ctx context.Context, id uint64, fn func(*store.Delivery) error) (store.Delivery, error) {
	var d store.Delivery
	err := s.update(ctx, fmt.Sprintf("update delivery %d", id), func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDeliveries)
		var r deliveryRecord
		if err := getJSON(b, u64(id), fmt.Sprintf("delivery %d", id), &r); err != nil {
			return err
		}
		d = r.delivery(id)
		if err := fn(&d); err != nil {
			return err
		}
		d.ID = id
		return putJSON(b, u64(id), toDeliveryRecord(d))
	})
	return d, err
}

// ListDeliveries returns deliveries newest first.
func (s *Store) ListDeliveries(ctx context.Context, village string, status store.DeliveryStatus, limit int) ([]store.Delivery, error) {
	var out []store.Delivery
	err := s.view(ctx, "list deliveries", func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDeliveries).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var r deliveryRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("delivery %x: decode: %w", k, err)
			}
			if (village == "" || r.Village == village) && (status == "" || r.Status == string(status)) {
				out = append(out, r.delivery(beU64(k)))
			}
		}
		return nil
	})
	return out, err
}

// GetImage returns a stored picture and when it was stored.
func (s *Store) GetImage(ctx context.Context, id string) ([]byte, time.Time, error) {
	var (
		img []byte
		at  time.Time
	)
	err := s.view(ctx, "get image", func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketImages).Get([]byte(id))
		if len(v) < 8 {
			return fmt.Errorf("image: %w", store.ErrNotFound)
		}
		at, img = time.Unix(0, int64(beU64(v[:8]))), bytes.Clone(v[8:])
		return nil
	})
	return img, at, err
}

// DeleteImages deletes the pictures stored before cutoff.
func (s *Store) DeleteImages(ctx context.Context, cutoff time.Time) (int, error) {
	n := 0
	err := s.update(ctx, "delete images", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketImages)
		var old [][]byte
		if err := b.ForEach(func(k, v []byte) error {
			if len(v) < 8 || time.Unix(0, int64(beU64(v[:8]))).Before(cutoff) {
				old = append(old, slices.Clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(old)
		return nil
	})
	return n, err
}

// Anonymise removes the personal details of entries and holds created
// before cutoff and of the audit records about them, in one transaction.
// It is the one writer that rewrites audit values (never keys): the law
// that asks for the lists' records also asks that what names a person be
// gone once it is no longer needed.
func (s *Store) Anonymise(ctx context.Context, cutoff time.Time, entry func(*store.Entry), hold func(*store.Hold), audit func(entries, holds int) store.AuditRecord) (int, int, error) {
	var ne, nh int
	err := s.update(ctx, "anonymise", func(tx *bolt.Tx) error {
		ids := map[uint64]bool{}
		var entries []store.Entry
		if err := tx.Bucket(bucketEntries).ForEach(func(k, v []byte) error {
			var r entryRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("entry %x: decode: %w", k, err)
			}
			if r.Anonymised.IsZero() && r.CreatedAt.Before(cutoff) {
				entries = append(entries, r.entry(beU64(k)))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, e := range entries {
			id, village, created := e.ID, e.Village, e.CreatedAt
			entry(&e)
			e.ID, e.Village, e.CreatedAt, e.Revision = id, village, created, e.Revision+1
			if err := putEntry(tx, e); err != nil {
				return err
			}
			ids[id] = true
		}
		hb := tx.Bucket(bucketHolds)
		type kv struct {
			k []byte
			h store.Hold
		}
		var hs []kv
		if err := hb.ForEach(func(k, v []byte) error {
			var r holdRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("hold %x: decode: %w", k, err)
			}
			if r.Anonymised.IsZero() && r.CreatedAt.Before(cutoff) {
				hs = append(hs, kv{slices.Clone(k), r.hold(beU64(k))})
			}
			return nil
		}); err != nil {
			return err
		}
		for _, x := range hs {
			h := x.h
			hold(&h)
			h.ID, h.Village, h.EntryID = x.h.ID, x.h.Village, x.h.EntryID
			if err := putJSON(hb, x.k, toHoldRecord(h)); err != nil {
				return err
			}
			ids[h.EntryID] = true
		}
		ab := tx.Bucket(bucketAudit)
		var redact [][]byte
		var recs []auditRecord
		if err := ab.ForEach(func(k, v []byte) error {
			var r auditRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("audit %x: decode: %w", k, err)
			}
			if r.EntryID != 0 && ids[r.EntryID] && (r.Before != nil || r.After != nil || r.Note != "") && string(r.After) != store.Redacted {
				redact, recs = append(redact, slices.Clone(k)), append(recs, r)
			}
			return nil
		}); err != nil {
			return err
		}
		for i, k := range redact {
			r := recs[i]
			r.Before, r.After, r.Note = nil, json.RawMessage(store.Redacted), ""
			if err := putJSON(ab, k, r); err != nil {
				return err
			}
		}
		ne, nh = len(entries), len(hs)
		if ne+nh == 0 {
			return nil
		}
		_, err := appendAudit(tx, audit(ne, nh))
		return err
	})
	return ne, nh, err
}
