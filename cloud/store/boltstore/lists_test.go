package boltstore

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dalaba/dalaba/cloud/store"
)

// A schema 2 file (plans and media, no lists) gains the lists' buckets
// when opened, keeping what it held.
func TestOpenMigratesSchema2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, n := range [][]byte{bucketMeta, bucketBoxes, bucketDesired, bucketEvents, bucketUsers, bucketSessions, bucketPlans, bucketMedia} {
			if _, err := tx.CreateBucket(n); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, u64(2))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open of a schema 2 file: %v", err)
	}
	defer s.Close()
	ctx := t.Context()
	if err := s.CreateBox(ctx, store.Box{ID: "village-1"}); err != nil {
		t.Fatal(err)
	}
	a := store.AuditRecord{Time: time.Now(), Actor: "张会计", Action: "household.create"}
	if err := s.CreateHousehold(ctx, store.Household{Village: "village-1", ID: "h01", Head: "张三"}, a); err != nil {
		t.Fatalf("households after migration: %v", err)
	}
	if recs, err := s.ListAudit(ctx, store.AuditFilter{Limit: 10}); err != nil || len(recs) != 1 || recs[0].Seq != 1 {
		t.Fatalf("audit after migration = %+v, %v", recs, err)
	}
	var ver []byte
	_ = s.db.View(func(tx *bolt.Tx) error { ver = tx.Bucket(bucketMeta).Get(keySchema); return nil }) // the callback never fails
	if !slices.Equal(ver, u64(SchemaVersion)) {
		t.Fatalf("schema after migration %x, want %d", ver, SchemaVersion)
	}
}

// A schema 4 file opens as the current schema: its persons become active, with
// what they held kept, and the new fields of boxes, households and
// persons read as empty until written.
func TestOpenMigratesSchema4(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	err = db.Update(func(tx *bolt.Tx) error {
		for _, n := range buckets() {
			if _, err := tx.CreateBucket(n); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketBoxes).Put([]byte("village-1"), []byte(`{"name":"一村","created_at":"2026-11-01T08:00:00Z","watermark":0,"events":0}`)); err != nil {
			return err
		}
		h, err := tx.Bucket(bucketHouses).CreateBucket([]byte("village-1"))
		if err != nil {
			return err
		}
		if err := h.Put([]byte("h01"), []byte(`{"head":"张三","created_at":"2026-11-01T08:00:00Z","created_by":"张会计"}`)); err != nil {
			return err
		}
		p, err := tx.Bucket(bucketPersons).CreateBucket([]byte("village-1"))
		if err != nil {
			return err
		}
		for _, id := range []string{"p1", "p2"} {
			if err := p.Put([]byte(id), []byte(`{"name":"张`+id+`","household":"h01","created_at":"2026-11-01T08:00:00Z","created_by":"张会计"}`)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, u64(4))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open of a schema 4 file: %v", err)
	}
	defer s.Close()
	ctx := t.Context()
	b, err := s.GetBox(ctx, "village-1")
	if err != nil || b.Name != "一村" || b.Place != "" || b.Retired() {
		t.Fatalf("box after migration %+v, %v", b, err)
	}
	ps, err := s.ListPersons(ctx, "village-1")
	if err != nil || len(ps) != 2 {
		t.Fatalf("persons after migration %+v, %v", ps, err)
	}
	for _, p := range ps {
		if p.Status != store.PersonActive || p.Name != "张"+p.ID || p.Household != "h01" || !p.CreatedAt.Equal(created) || p.CreatedBy != "张会计" {
			t.Errorf("person after migration %+v", p)
		}
	}
	var raw []byte
	_ = s.db.View(func(tx *bolt.Tx) error { // the callback never fails
		raw = slices.Clone(tx.Bucket(bucketPersons).Bucket([]byte("village-1")).Get([]byte("p1")))
		return nil
	})
	if !strings.Contains(string(raw), `"status":"active"`) {
		t.Errorf("the stored person does not say it is active: %s", raw)
	}
	if h, err := s.GetHousehold(ctx, "village-1", "h01"); err != nil || h.Head != "张三" || h.Group != "" {
		t.Fatalf("household after migration %+v, %v", h, err)
	}
	var ver []byte
	_ = s.db.View(func(tx *bolt.Tx) error { ver = tx.Bucket(bucketMeta).Get(keySchema); return nil }) // the callback never fails
	if !slices.Equal(ver, u64(SchemaVersion)) {
		t.Fatalf("schema after migration %x, want %d", ver, SchemaVersion)
	}
}
