package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
)

func newClaim(village string, n byte) store.Claim {
	return store.Claim{
		Lookup: bytes.Repeat([]byte{n}, 32), Village: village, Name: "示范村 " + village, Place: "东片",
		Sealed: []byte("sealed answer"), SecretHash: bytes.Repeat([]byte{n + 1}, 32),
		BrokerURL: "tls://t:8883", MediaURL: "https://t/media/", KeyID: "key-1",
		CreatedAt: t0, CreatedBy: "admin", ExpiresAt: t0.Add(7 * 24 * time.Hour),
	}
}

func claimAudit(action string) store.AuditRecord {
	return store.AuditRecord{Time: t0, Actor: "admin", Action: action, Target: "claims"}
}

func auditActions(t *testing.T, s store.Store) []string {
	t.Helper()
	rs, err := s.ListAudit(t.Context(), store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		out = append(out, r.Action)
	}
	return out
}

func testClaims(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	t.Run("created with ids, listed, found, with their record", func(t *testing.T) {
		s := fresh(t, open)
		got, err := s.CreateClaims(t.Context(), []store.Claim{newClaim("v-1", 1), newClaim("v-2", 2)}, claimAudit("claim.create"))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID == 0 || got[1].ID <= got[0].ID {
			t.Fatalf("ids %d, %d: want growing from 1", got[0].ID, got[1].ID)
		}
		all, err := s.ListClaims(t.Context())
		if err != nil || len(all) != 2 || all[0].Village != "v-1" || all[1].Village != "v-2" {
			t.Fatalf("ListClaims = %+v, %v", all, err)
		}
		c, err := s.GetClaim(t.Context(), got[1].ID)
		if err != nil || !bytes.Equal(c.Lookup, got[1].Lookup) || !bytes.Equal(c.Sealed, []byte("sealed answer")) ||
			c.KeyID != "key-1" || !c.ExpiresAt.Equal(t0.Add(7*24*time.Hour)) || c.Status(t0) != store.ClaimOpen {
			t.Fatalf("GetClaim = %+v, %v", c, err)
		}
		if _, err := s.GetClaim(t.Context(), 99); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown claim: %v", err)
		}
		if a := auditActions(t, s); len(a) != 1 || a[0] != "claim.create" {
			t.Fatalf("audit %v", a)
		}
	})
	t.Run("a village with an open claim, a name twice or a taken lookup: nothing stored", func(t *testing.T) {
		s := fresh(t, open)
		if _, err := s.CreateClaims(ctx, []store.Claim{newClaim("v-1", 1)}, claimAudit("claim.create")); err != nil {
			t.Fatal(err)
		}
		for name, cs := range map[string][]store.Claim{
			"open claim":   {newClaim("v-2", 2), newClaim("v-1", 3)},
			"named twice":  {newClaim("v-3", 4), newClaim("v-3", 5)},
			"taken lookup": {newClaim("v-4", 1)},
		} {
			if _, err := s.CreateClaims(ctx, cs, claimAudit("claim.create")); !errors.Is(err, store.ErrExists) {
				t.Errorf("%s: %v, want ErrExists", name, err)
			}
		}
		if all, _ := s.ListClaims(ctx); len(all) != 1 {
			t.Fatalf("%d claims stored after refusals, want 1", len(all))
		}
		if a := auditActions(t, s); len(a) != 1 {
			t.Fatalf("audit %v after refusals", a)
		}
		// Once expired, the village may have a new one.
		later := newClaim("v-1", 6)
		later.CreatedAt = t0.Add(8 * 24 * time.Hour)
		if _, err := s.CreateClaims(ctx, []store.Claim{later}, claimAudit("claim.create")); err != nil {
			t.Fatalf("a new claim after the old one expired: %v", err)
		}
	})
	t.Run("revoked: sealed answer gone, status revoked", func(t *testing.T) {
		s := fresh(t, open)
		cs, err := s.CreateClaims(ctx, []store.Claim{newClaim("v-1", 1)}, claimAudit("claim.create"))
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.RevokeClaim(ctx, cs[0].ID, func(c *store.Claim) (store.AuditRecord, error) {
			c.RevokedAt, c.RevokedBy, c.Village = t0.Add(time.Hour), "admin", "other"
			return claimAudit("claim.revoke"), nil
		})
		if err != nil || c.Status(t0.Add(2*time.Hour)) != store.ClaimRevoked || len(c.Sealed) != 0 || c.Village != "v-1" {
			t.Fatalf("revoked %+v, %v", c, err)
		}
		back, _ := s.GetClaim(ctx, cs[0].ID)
		if back.RevokedBy != "admin" || len(back.Sealed) != 0 {
			t.Fatalf("stored %+v", back)
		}
		refused := errors.New("no")
		if _, err := s.RevokeClaim(ctx, cs[0].ID, func(*store.Claim) (store.AuditRecord, error) { return store.AuditRecord{}, refused }); !errors.Is(err, refused) {
			t.Fatalf("fn's error: %v", err)
		}
		if a := auditActions(t, s); len(a) != 2 || a[1] != "claim.revoke" {
			t.Fatalf("audit %v", a)
		}
	})
	t.Run("used: creates the box, or sets a registered box's credentials", func(t *testing.T) {
		s := fresh(t, open)
		mustCreateBox(t, s, newBox("v-2"))
		cs, err := s.CreateClaims(ctx, []store.Claim{newClaim("v-1", 1), newClaim("v-2", 3)}, claimAudit("claim.create"))
		if err != nil {
			t.Fatal(err)
		}
		use := func(c *store.Claim, b *store.Box, registered bool) (store.AuditRecord, error) {
			c.UsedAt, c.UsedFrom = t0.Add(time.Minute), "192.0.2.7"
			b.SecretHash = c.SecretHash
			if !registered {
				b.Name, b.Place, b.CreatedAt = c.Name, c.Place, c.UsedAt
			}
			return claimAudit("claim.use"), nil
		}
		c, b, err := s.UseClaim(ctx, cs[0].Lookup, use)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status(t0.Add(time.Hour)) != store.ClaimUsed || c.UsedFrom != "192.0.2.7" || len(c.Sealed) != 0 {
			t.Fatalf("used claim %+v", c)
		}
		got := mustGetBox(t, s, "v-1")
		if b.ID != "v-1" || !bytes.Equal(got.SecretHash, cs[0].SecretHash) || got.Name != "示范村 v-1" || got.Place != "东片" {
			t.Fatalf("created box %+v (answered %+v)", got, b)
		}
		if err := s.UpdateBox(ctx, "v-1", func(*store.Box) error { return nil }); err != nil {
			t.Fatalf("the created box is not a full box: %v", err)
		}
		if _, err := s.AppendEvents(ctx, "v-1", store.Batch{Events: []store.Event{{Seq: 1, Time: t0, Type: "x", Data: []byte(`{}`)}}}); err != nil {
			t.Fatalf("the created box takes no events: %v", err)
		}
		if _, _, err := s.UseClaim(ctx, cs[1].Lookup, use); err != nil {
			t.Fatal(err)
		}
		reg := mustGetBox(t, s, "v-2")
		if !bytes.Equal(reg.SecretHash, cs[1].SecretHash) || !reg.CreatedAt.Equal(t0) {
			t.Fatalf("registered box after use %+v", reg)
		}
		if a := auditActions(t, s); len(a) != 3 || a[2] != "claim.use" {
			t.Fatalf("audit %v", a)
		}
	})
	t.Run("an unknown lookup or fn's refusal writes nothing", func(t *testing.T) {
		s := fresh(t, open)
		cs, err := s.CreateClaims(ctx, []store.Claim{newClaim("v-1", 1)}, claimAudit("claim.create"))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.UseClaim(ctx, bytes.Repeat([]byte{9}, 32), func(*store.Claim, *store.Box, bool) (store.AuditRecord, error) {
			t.Fatal("fn called for an unknown lookup")
			return store.AuditRecord{}, nil
		}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown lookup: %v", err)
		}
		refused := errors.New("used")
		if _, _, err := s.UseClaim(ctx, cs[0].Lookup, func(c *store.Claim, b *store.Box, _ bool) (store.AuditRecord, error) {
			c.UsedAt, b.Name = t0, "x"
			return store.AuditRecord{}, refused
		}); !errors.Is(err, refused) {
			t.Fatalf("fn's error: %v", err)
		}
		if c, _ := s.GetClaim(ctx, cs[0].ID); c.Status(t0) != store.ClaimOpen || len(c.Sealed) == 0 {
			t.Fatalf("claim after a refusal %+v", c)
		}
		if _, err := s.GetBox(ctx, "v-1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("box after a refusal: %v", err)
		}
		if a := auditActions(t, s); len(a) != 1 {
			t.Fatalf("audit %v", a)
		}
	})
}
