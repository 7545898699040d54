package boltstore

import (
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dalaba/dalaba/cloud/store"
)

// BenchmarkRedeem redeems one item per fsynced transaction in a village
// of 200 households with 1000 published entries (a township's year): the
// transaction reads the household's balance from every entry and
// redemption before it takes the points, so the figure includes that
// walk and the durable write.
func BenchmarkRedeem(b *testing.B) {
	const households, entries = 200, 1000
	s, err := Open(b.TempDir()+"/cloud.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	now := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	if err := s.CreateBox(ctx, store.Box{ID: "village-1"}); err != nil {
		b.Fatal(err)
	}
	none := store.AuditRecord{Time: now, Action: "setup"}
	// The registers and entries go in one transaction: the benchmark
	// times redemptions, not a thousand fsyncs of setup.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		hb, err := villageBucket(tx, bucketHouses, "village-1", true)
		if err != nil {
			return err
		}
		for h := range households {
			if err := putJSON(hb, fmt.Appendf(nil, "h%03d", h), householdRecord{Head: "户主", CreatedAt: now}); err != nil {
				return err
			}
		}
		for i := range entries {
			id, err := tx.Bucket(bucketEntries).NextSequence()
			if err != nil {
				return err
			}
			e := store.Entry{ID: id, Village: "village-1", Kind: store.KindRed, SubjectKind: store.SubjectHousehold, SubjectID: fmt.Sprintf("h%03d", i%households),
				Category: "孝老爱亲", Reason: "照顾老人", Period: "2026-11", Points: 100, Status: store.StatusPublished, CreatedAt: now, PublishedAt: now, Revision: 1}
			if err := putEntry(tx, e); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	if err := s.PutGoods(ctx, store.Goods{Village: "village-1", ID: "soap", Name: "肥皂", Price: 1, Stock: 1 << 30, OnSale: true}, true, none); err != nil {
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		r := store.Redemption{Village: "village-1", Household: fmt.Sprintf("h%03d", n%households), Goods: "soap", Quantity: 1, Key: fmt.Sprintf("bench-key-%08d", n), CreatedAt: now}
		if _, _, err := s.Redeem(ctx, r, func(store.Redemption, int) store.AuditRecord { return none }); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "redemptions/s")
}
