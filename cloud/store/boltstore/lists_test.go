package boltstore

import (
	"path/filepath"
	"slices"
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
