package storecopy_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/cloud/store/pgstore"
	"github.com/dalaba/dalaba/cloud/store/pgstore/pgtest"
	"github.com/dalaba/dalaba/cloud/store/storecopy"
	"github.com/dalaba/dalaba/cloud/store/storetest"
)

func openBolt(t *testing.T) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPG(t *testing.T, db *pgtest.DB) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(t.Context(), db.Fresh(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A township's bbolt store copies into PostgreSQL whole: every kind
// counts and hashes the same on both sides, and the copy goes on working
// where the original left off.
func TestCopyBoltToPostgres(t *testing.T) {
	db := pgtest.New(t)
	from, to := openBolt(t), openPG(t, db)
	storetest.Populate(t, from)

	counts, err := storecopy.Copy(t.Context(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range storecopy.Kinds {
		if counts[k] == 0 {
			t.Errorf("copied no %s: the fixture should hold some", k)
		}
	}
	var out bytes.Buffer
	if err := storecopy.Check(t.Context(), from, to, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Logf("check:\n%s", out.String())
	if n := strings.Count(out.String(), " ok\n"); n != len(storecopy.Kinds) {
		t.Errorf("check printed %d ok lines, want %d:\n%s", n, len(storecopy.Kinds), out.String())
	}

	// Numbering and counts go on from the original's.
	ctx := t.Context()
	want, _ := from.AppendAudit(ctx, store.AuditRecord{Actor: "admin", Action: "after"})
	if got, err := to.AppendAudit(ctx, store.AuditRecord{Actor: "admin", Action: "after"}); err != nil || got != want {
		t.Errorf("next audit seq in the copy = %d, %v; the original's is %d", got, err, want)
	}
	for _, box := range []string{"village-1", "village-2"} {
		a, _ := from.CountEvents(ctx, box)
		b, err := to.CountEvents(ctx, box)
		if err != nil || a != b {
			t.Errorf("CountEvents(%s) = %d, %v in the copy, %d in the original", box, b, err, a)
		}
	}
	b, err := to.GetBox(ctx, "village-1")
	if err != nil || b.Incarnation != 2 || b.Watermark != 3 {
		t.Errorf("copied village-1 = %+v, %v; want incarnation 2 at watermark 3", b, err)
	}
	got, err := to.AppendEvents(ctx, "village-1", store.Batch{Epoch: b.Epoch, Floor: 4, Events: []store.Event{{Seq: 4, Type: "t"}}})
	if err != nil || got.Watermark != 5 || got.Incarnation != 2 {
		t.Errorf("appending to the copy = %+v, %v; want incarnation 2 at watermark 5", got, err)
	}

	h, err := to.GetBox(ctx, "village-2")
	if err != nil || h.Health.Position == 0 || string(h.Health.Data) != `{"uptime_s":3600}` {
		t.Errorf("copied village-2's health = %+v, %v; want its box.health event", h.Health, err)
	}
	nc := []store.Claim{{Lookup: []byte("after-copy"), Village: "village-9", ExpiresAt: h.CreatedAt.Add(time.Hour)}}
	wantC, err := from.CreateClaims(ctx, nc, store.AuditRecord{Actor: "admin", Action: "claim.create"})
	if err != nil {
		t.Fatal(err)
	}
	if gotC, err := to.CreateClaims(ctx, nc, store.AuditRecord{Actor: "admin", Action: "claim.create"}); err != nil || gotC[0].ID != wantC[0].ID {
		t.Errorf("next claim id in the copy = %v, %v; the original's is %d", gotC, err, wantC[0].ID)
	}

	// A second copy into the now non-empty store is refused.
	if _, err := storecopy.Copy(ctx, from, to); !errors.Is(err, storecopy.ErrNotEmpty) {
		t.Errorf("second copy: %v, want ErrNotEmpty", err)
	}
}

// The check fails, naming the kind, when the copy differs.
func TestCheckNamesWhatDiffers(t *testing.T) {
	db := pgtest.New(t)
	from, to := openBolt(t), openPG(t, db)
	storetest.Populate(t, from)
	if _, err := storecopy.Copy(t.Context(), from, to); err != nil {
		t.Fatal(err)
	}
	if err := to.UpdateBox(t.Context(), "village-2", func(b *store.Box) error { b.Name = "改了名"; return nil }); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := storecopy.Check(t.Context(), from, to, &out)
	if err == nil || !strings.Contains(err.Error(), "boxes") {
		t.Fatalf("check = %v, want a difference in boxes", err)
	}
	if !strings.Contains(out.String(), "DIFFERS") {
		t.Errorf("check printed no DIFFERS line:\n%s", out.String())
	}
}

// A store that has only been opened is empty; one with a user is not.
func TestEmpty(t *testing.T) {
	s := openPG(t, pgtest.New(t))
	if empty, err := s.Empty(t.Context()); err != nil || !empty {
		t.Fatalf("Empty of a new store = %t, %v", empty, err)
	}
	if err := s.CreateUser(t.Context(), store.User{Name: "admin", Role: store.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if empty, err := s.Empty(t.Context()); err != nil || empty {
		t.Fatalf("Empty with a user = %t, %v", empty, err)
	}
}
