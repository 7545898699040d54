package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/dalaba/dalaba/cloud/store"
)

// Claims are a doc beside the columns a claim is found by: its id, its
// proof's lookup and its village. Their writes take the write lock: they
// are rare, and CreateClaims's check for an open claim reads across rows.

func normClaim(c store.Claim) store.Claim {
	c.CreatedAt, c.ExpiresAt, c.UsedAt, c.RevokedAt = utc(c.CreatedAt), utc(c.ExpiresAt), utc(c.UsedAt), utc(c.RevokedAt)
	return c
}

func getClaim(ctx context.Context, tx pgx.Tx, q string, arg any) (store.Claim, error) {
	var c store.Claim
	if err := getDoc(ctx, tx, "claim", &c, `SELECT doc FROM claims WHERE `+q, arg); err != nil {
		return store.Claim{}, err
	}
	return normClaim(c), nil
}

func putClaim(ctx context.Context, tx pgx.Tx, c store.Claim) error {
	doc, err := encode(normClaim(c))
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO claims (id, lookup, village, doc) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET doc = excluded.doc`, int64(c.ID), c.Lookup, c.Village, doc)
	if err != nil {
		return fmt.Errorf("claim %d: %w", c.ID, err)
	}
	return nil
}

// CreateClaims stores cs and a in one transaction, or nothing.
func (s *Store) CreateClaims(ctx context.Context, cs []store.Claim, a store.AuditRecord) ([]store.Claim, error) {
	out := make([]store.Claim, len(cs))
	err := s.write(ctx, "create claims", func(tx pgx.Tx) error {
		named, lookups := map[string]bool{}, map[string]bool{}
		for _, c := range cs {
			if len(c.Lookup) == 0 || c.Village == "" {
				return errors.New("a claim without lookup or village")
			}
			if named[c.Village] {
				return fmt.Errorf("village %q named twice: %w", c.Village, store.ErrExists)
			}
			named[c.Village] = true
			existing, err := docs[store.Claim](ctx, tx, "claims of "+c.Village, `SELECT doc FROM claims WHERE village = $1`, c.Village)
			if err != nil {
				return err
			}
			for _, old := range existing {
				if normClaim(old).Status(c.CreatedAt) == store.ClaimOpen {
					return fmt.Errorf("village %q has open claim %d: %w", c.Village, old.ID, store.ErrExists)
				}
			}
			var taken bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM claims WHERE lookup = $1)`, c.Lookup).Scan(&taken); err != nil {
				return err
			}
			if taken || lookups[string(c.Lookup)] {
				return fmt.Errorf("claim lookup of village %q: %w", c.Village, store.ErrExists)
			}
			lookups[string(c.Lookup)] = true
		}
		for i, c := range cs {
			id, err := next(ctx, tx, "claims")
			if err != nil {
				return err
			}
			c.ID = id
			if err := putClaim(ctx, tx, c); err != nil {
				return err
			}
			out[i] = normClaim(c)
		}
		_, err := appendAudit(ctx, tx, a)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetClaim returns claim id; ErrNotFound if unknown.
func (s *Store) GetClaim(ctx context.Context, id uint64) (store.Claim, error) {
	var c store.Claim
	err := s.read(ctx, "get claim", func(tx pgx.Tx) error {
		var err error
		c, err = getClaim(ctx, tx, `id = $1`, int64(id))
		return err
	})
	return c, err
}

// ListClaims returns every claim ordered by id.
func (s *Store) ListClaims(ctx context.Context) ([]store.Claim, error) {
	var out []store.Claim
	err := s.read(ctx, "list claims", func(tx pgx.Tx) error {
		var err error
		out, err = docs[store.Claim](ctx, tx, "claims", `SELECT doc FROM claims ORDER BY id`)
		return err
	})
	for i := range out {
		out[i] = normClaim(out[i])
	}
	return out, err
}

// RevokeClaim writes fn's revocation of claim id with its record.
func (s *Store) RevokeClaim(ctx context.Context, id uint64, fn func(*store.Claim) (store.AuditRecord, error)) (store.Claim, error) {
	var out store.Claim
	err := s.write(ctx, fmt.Sprintf("revoke claim %d", id), func(tx pgx.Tx) error {
		c, err := getClaim(ctx, tx, `id = $1`, int64(id))
		if err != nil {
			return err
		}
		work := c
		a, err := fn(&work)
		if err != nil {
			return err
		}
		c.RevokedAt, c.RevokedBy, c.Sealed = work.RevokedAt, work.RevokedBy, nil
		if err := putClaim(ctx, tx, c); err != nil {
			return err
		}
		out = normClaim(c)
		_, err = appendAudit(ctx, tx, a)
		return err
	})
	if err != nil {
		return store.Claim{}, err
	}
	return out, nil
}

// UseClaim runs fn on the claim lookup finds and its village's box, and
// writes both with fn's record in one transaction.
func (s *Store) UseClaim(ctx context.Context, lookup []byte, fn func(*store.Claim, *store.Box, bool) (store.AuditRecord, error)) (store.Claim, store.Box, error) {
	var (
		outC store.Claim
		outB store.Box
	)
	err := s.write(ctx, "use claim", func(tx pgx.Tx) error {
		c, err := getClaim(ctx, tx, `lookup = $1`, lookup)
		if err != nil {
			return err
		}
		old, err := getBox(ctx, tx, c.Village, true)
		registered := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		b := store.Box{ID: c.Village}
		if registered {
			b = old
			b.SecretHash = append([]byte(nil), old.SecretHash...)
		}
		work := c
		a, err := fn(&work, &b, registered)
		if err != nil {
			return err
		}
		c.UsedAt, c.UsedFrom, c.Sealed = work.UsedAt, work.UsedFrom, nil
		if err := putClaim(ctx, tx, c); err != nil {
			return err
		}
		b.ID = c.Village
		if registered {
			if err := writeBox(ctx, tx, old, true, func(w *store.Box) error { *w = b; return nil }); err != nil {
				return err
			}
			got, err := getBox(ctx, tx, b.ID, false)
			if err != nil {
				return err
			}
			b = got
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO boxes (`+boxColumns+`, events)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 0)`,
				b.ID, b.Name, b.Place, b.SecretHash, b.CreatedAt, b.Online, b.LastSeen, int64(b.AppliedRev), int64(b.OutboxBacklog),
				b.ReportedAt, int64(b.DesiredRev), b.RetiredAt, b.Epoch, int32(max(b.Incarnation, 1)), int64(b.Watermark), b.Township)
			if err != nil {
				return fmt.Errorf("box %q: %w", b.ID, err)
			}
			if b, err = getBox(ctx, tx, b.ID, false); err != nil {
				return err
			}
		}
		outC, outB = normClaim(c), b
		if _, err = appendAudit(ctx, tx, a); err != nil {
			return err
		}
		return s.notifyFleet(ctx, tx)
	})
	if err != nil {
		return store.Claim{}, store.Box{}, err
	}
	return outC, outB, nil
}
