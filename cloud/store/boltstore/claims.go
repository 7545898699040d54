package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dalaba/dalaba/cloud/store"
)

// Schema 8: claim codes (store.Claims).
//
//	claims/<id>            JSON claim; id as 8 bytes big-endian from the
//	                       bucket's sequence
//	claimkeys/<lookup>     8-byte id of the claim whose proof hashes to
//	                       lookup
var (
	bucketClaims    = []byte("claims")
	bucketClaimKeys = []byte("claimkeys")
)

// claimRecord is the stored form of a store.Claim; its JSON names are the
// file format.
type claimRecord struct {
	Lookup     []byte    `json:"lookup"`
	Village    string    `json:"village"`
	Name       string    `json:"name"`
	Place      string    `json:"place,omitempty"`
	Township   string    `json:"township,omitempty"`
	Sealed     []byte    `json:"sealed,omitempty"`
	SecretHash []byte    `json:"secret_hash"`
	BrokerURL  string    `json:"broker_url"`
	MediaURL   string    `json:"media_url,omitempty"`
	KeyID      string    `json:"key_id"`
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  string    `json:"created_by"`
	ExpiresAt  time.Time `json:"expires_at"`
	UsedAt     time.Time `json:"used_at,omitzero"`
	UsedFrom   string    `json:"used_from,omitempty"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	RevokedBy  string    `json:"revoked_by,omitempty"`
}

func toClaimRecord(c store.Claim) claimRecord {
	return claimRecord{Lookup: c.Lookup, Village: c.Village, Name: c.Name, Place: c.Place, Township: c.Township, Sealed: c.Sealed, SecretHash: c.SecretHash,
		BrokerURL: c.BrokerURL, MediaURL: c.MediaURL, KeyID: c.KeyID, CreatedAt: c.CreatedAt, CreatedBy: c.CreatedBy,
		ExpiresAt: c.ExpiresAt, UsedAt: c.UsedAt, UsedFrom: c.UsedFrom, RevokedAt: c.RevokedAt, RevokedBy: c.RevokedBy}
}

func (r claimRecord) claim(id uint64) store.Claim {
	return store.Claim{ID: id, Lookup: r.Lookup, Village: r.Village, Name: r.Name, Place: r.Place, Township: r.Township, Sealed: r.Sealed, SecretHash: r.SecretHash,
		BrokerURL: r.BrokerURL, MediaURL: r.MediaURL, KeyID: r.KeyID, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy,
		ExpiresAt: r.ExpiresAt, UsedAt: r.UsedAt, UsedFrom: r.UsedFrom, RevokedAt: r.RevokedAt, RevokedBy: r.RevokedBy}
}

func getClaim(tx *bolt.Tx, id uint64) (store.Claim, error) {
	v := tx.Bucket(bucketClaims).Get(u64(id))
	if v == nil {
		return store.Claim{}, fmt.Errorf("claim %d: %w", id, store.ErrNotFound)
	}
	var r claimRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return store.Claim{}, fmt.Errorf("claim %d: decode: %w", id, err)
	}
	return r.claim(id), nil
}

func putClaim(tx *bolt.Tx, c store.Claim) error {
	v, err := json.Marshal(toClaimRecord(c))
	if err != nil {
		return fmt.Errorf("claim %d: encode: %w", c.ID, err)
	}
	return tx.Bucket(bucketClaims).Put(u64(c.ID), v)
}

func allClaims(tx *bolt.Tx) ([]store.Claim, error) {
	var out []store.Claim
	err := tx.Bucket(bucketClaims).ForEach(func(k, v []byte) error {
		var r claimRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("claim %x: decode: %w", k, err)
		}
		out = append(out, r.claim(binary.BigEndian.Uint64(k)))
		return nil
	})
	return out, err
}

// CreateClaims stores cs and a in one transaction, or nothing.
func (s *Store) CreateClaims(ctx context.Context, cs []store.Claim, a store.AuditRecord) ([]store.Claim, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]store.Claim, len(cs))
	err := s.db.Update(func(tx *bolt.Tx) error {
		existing, err := allClaims(tx)
		if err != nil {
			return err
		}
		named := map[string]bool{}
		for _, c := range cs {
			if named[c.Village] {
				return fmt.Errorf("village %q named twice: %w", c.Village, store.ErrExists)
			}
			named[c.Village] = true
		}
		for _, c := range existing {
			for _, n := range cs {
				if c.Village == n.Village && c.Status(n.CreatedAt) == store.ClaimOpen {
					return fmt.Errorf("village %q has open claim %d: %w", c.Village, c.ID, store.ErrExists)
				}
			}
		}
		keys, b := tx.Bucket(bucketClaimKeys), tx.Bucket(bucketClaims)
		for i, c := range cs {
			if len(c.Lookup) == 0 || c.Village == "" {
				return errors.New("a claim without lookup or village")
			}
			if keys.Get(c.Lookup) != nil {
				return fmt.Errorf("claim lookup of village %q: %w", c.Village, store.ErrExists)
			}
			if c.ID, err = b.NextSequence(); err != nil {
				return fmt.Errorf("claim: next id: %w", err)
			}
			if err := keys.Put(c.Lookup, u64(c.ID)); err != nil {
				return err
			}
			if err := putClaim(tx, c); err != nil {
				return err
			}
			out[i] = c
		}
		_, err = appendAudit(tx, a)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: create claims: %w", err)
	}
	return out, nil
}

// GetClaim returns claim id.
func (s *Store) GetClaim(ctx context.Context, id uint64) (store.Claim, error) {
	if err := ctx.Err(); err != nil {
		return store.Claim{}, err
	}
	var c store.Claim
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		c, err = getClaim(tx, id)
		return err
	})
	if err != nil {
		return store.Claim{}, fmt.Errorf("boltstore: get claim: %w", err)
	}
	return c, nil
}

// ListClaims returns every claim ordered by id (the keys sort so).
func (s *Store) ListClaims(ctx context.Context) ([]store.Claim, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []store.Claim
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = allClaims(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list claims: %w", err)
	}
	return out, nil
}

// RevokeClaim writes fn's revocation of claim id with its record.
func (s *Store) RevokeClaim(ctx context.Context, id uint64, fn func(*store.Claim) (store.AuditRecord, error)) (store.Claim, error) {
	if err := ctx.Err(); err != nil {
		return store.Claim{}, err
	}
	var out store.Claim
	err := s.db.Update(func(tx *bolt.Tx) error {
		c, err := getClaim(tx, id)
		if err != nil {
			return err
		}
		work := c
		a, err := fn(&work)
		if err != nil {
			return err
		}
		c.RevokedAt, c.RevokedBy, c.Sealed = work.RevokedAt, work.RevokedBy, nil
		if err := putClaim(tx, c); err != nil {
			return err
		}
		out = c
		_, err = appendAudit(tx, a)
		return err
	})
	if err != nil {
		return store.Claim{}, fmt.Errorf("boltstore: revoke claim %d: %w", id, err)
	}
	return out, nil
}

// UseClaim runs fn on the claim lookup finds and its village's box, and
// writes both with fn's record in one transaction.
func (s *Store) UseClaim(ctx context.Context, lookup []byte, fn func(*store.Claim, *store.Box, bool) (store.AuditRecord, error)) (store.Claim, store.Box, error) {
	if err := ctx.Err(); err != nil {
		return store.Claim{}, store.Box{}, err
	}
	var outC store.Claim
	var outB store.Box
	err := s.db.Update(func(tx *bolt.Tx) error {
		idb := tx.Bucket(bucketClaimKeys).Get(lookup)
		if len(idb) != 8 {
			return fmt.Errorf("claim: %w", store.ErrNotFound)
		}
		c, err := getClaim(tx, binary.BigEndian.Uint64(idb))
		if err != nil {
			return err
		}
		r, err := getBox(tx, c.Village)
		registered := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		b := store.Box{ID: c.Village}
		if registered {
			b = r.box(c.Village)
			b.SecretHash = append([]byte(nil), r.SecretHash...)
		}
		work := c
		a, err := fn(&work, &b, registered)
		if err != nil {
			return err
		}
		c.UsedAt, c.UsedFrom, c.Sealed = work.UsedAt, work.UsedFrom, nil
		if err := putClaim(tx, c); err != nil {
			return err
		}
		b.ID = c.Village
		if registered {
			b.CreatedAt = r.CreatedAt
			b.Epoch, b.Incarnation, b.Watermark = r.Epoch, r.Incarnation, r.Watermark
			if err := putBox(tx, b.ID, toRecord(b, r.Events)); err != nil {
				return err
			}
		} else {
			if _, err := tx.Bucket(bucketEvents).CreateBucketIfNotExists([]byte(b.ID)); err != nil {
				return fmt.Errorf("box %q: events bucket: %w", b.ID, err)
			}
			if err := putBox(tx, b.ID, toRecord(b, 0)); err != nil {
				return err
			}
		}
		outC, outB = c, b
		_, err = appendAudit(tx, a)
		return err
	})
	if err != nil {
		return store.Claim{}, store.Box{}, fmt.Errorf("boltstore: use claim: %w", err)
	}
	return outC, outB, nil
}
