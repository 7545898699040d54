package storetest

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
)

// testCommunity covers holds, the shop, villagers' links, chats and
// retention.
func testCommunity(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Holds", func(t *testing.T) { testHolds(t, open) })
	t.Run("Shop", func(t *testing.T) { testShop(t, open) })
	t.Run("Links", func(t *testing.T) { testLinks(t, open) })
	t.Run("Chats", func(t *testing.T) { testChats(t, open) })
	t.Run("Anonymise", func(t *testing.T) { testAnonymise(t, open) })
}

// village makes a village with household h01 (person p1) and h02.
func village(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	mustCreateBox(t, s, newBox("village-1"))
	for _, h := range []string{"h01", "h02"} {
		if err := s.CreateHousehold(ctx, store.Household{Village: "village-1", ID: h, Head: "户主" + h, CreatedAt: t0}, note("household.create")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreatePerson(ctx, store.Person{Village: "village-1", ID: "p1", Name: "张小明", Household: "h01", CreatedAt: t0}, note("person.create")); err != nil {
		t.Fatal(err)
	}
}

// published stores a published entry of points about subject.
func published(t *testing.T, s store.Store, kind store.SubjectKind, subject string, points int) store.Entry {
	t.Helper()
	e := sampleEntry("village-1")
	e.SubjectKind, e.SubjectID, e.Points, e.Status, e.Kind = kind, subject, points, store.StatusPublished, store.KindRed
	e, err := s.CreateEntry(t.Context(), e, func(store.Entry) (store.AuditRecord, error) { return note("entry.create"), nil })
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func testHolds(t *testing.T, open func(t *testing.T) store.Store) {
	s := fresh(t, open)
	ctx := t.Context()
	village(t, s)
	e, err := s.CreateEntry(ctx, sampleEntry("village-1"), func(store.Entry) (store.AuditRecord, error) { return note("entry.create"), nil })
	if err != nil {
		t.Fatal(err)
	}
	// An objection and a flag appended in one change, with the entry.
	e2, hs, err := s.ChangeHolds(ctx, e.ID, func(x *store.Entry, holds *[]store.Hold) ([]store.AuditRecord, error) {
		x.HeldFrom, x.Status = x.Status, store.StatusOnHold
		*holds = append(*holds,
			store.Hold{Kind: store.HoldObjection, Name: "王五", Contact: "13800138000", Reason: "不属实", Status: store.HoldOpen, CreatedAt: t0},
			store.Hold{Kind: store.HoldFlag, Reason: "请复核", By: "监督员", Status: store.HoldOpen, CreatedAt: t0})
		return []store.AuditRecord{note("hold.objection"), note("hold.flag")}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if e2.Status != store.StatusOnHold || e2.HeldFrom != store.StatusDraft || e2.Revision != 2 || len(hs) != 2 || hs[0].ID != 1 || hs[1].ID != 2 || hs[0].Village != "village-1" || hs[1].EntryID != e.ID {
		t.Fatalf("after holding: entry %+v holds %+v", e2, hs)
	}
	got, err := s.GetEntry(ctx, e.ID)
	if err != nil || got.Status != store.StatusOnHold || got.HeldFrom != store.StatusDraft {
		t.Fatalf("GetEntry = %+v, %v", got, err)
	}
	// A refusal writes nothing; a hold may not be removed.
	boom := errors.New("boom")
	if _, _, err := s.ChangeHolds(ctx, e.ID, func(x *store.Entry, holds *[]store.Hold) ([]store.AuditRecord, error) {
		(*holds)[0].Status = store.HoldUpheld
		return nil, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("ChangeHolds refusing = %v", err)
	}
	if _, _, err := s.ChangeHolds(ctx, e.ID, func(x *store.Entry, holds *[]store.Hold) ([]store.AuditRecord, error) {
		*holds = (*holds)[1:]
		return nil, nil
	}); err == nil {
		t.Fatal("ChangeHolds removed a hold")
	}
	if _, _, err := s.ChangeHolds(ctx, 999, func(*store.Entry, *[]store.Hold) ([]store.AuditRecord, error) { return nil, nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ChangeHolds of an unknown entry = %v", err)
	}
	if open, err := s.ListHolds(ctx, store.HoldFilter{Village: "village-1", Status: store.HoldOpen}); err != nil || len(open) != 2 {
		t.Fatalf("open holds = %+v, %v", open, err)
	}
	// Resolving one.
	if _, hs, err = s.ChangeHolds(ctx, e.ID, func(x *store.Entry, holds *[]store.Hold) ([]store.AuditRecord, error) {
		(*holds)[0].Status, (*holds)[0].Resolution, (*holds)[0].ResolvedBy = store.HoldDismissed, "查无此事", "李评委"
		return []store.AuditRecord{note("hold.dismiss")}, nil
	}); err != nil || hs[0].Status != store.HoldDismissed {
		t.Fatalf("dismiss: %+v, %v", hs, err)
	}
	h, err := s.GetHold(ctx, 1)
	if err != nil || h.Status != store.HoldDismissed || h.Resolution != "查无此事" || h.Name != "王五" || !h.CreatedAt.Equal(t0) {
		t.Fatalf("GetHold(1) = %+v, %v", h, err)
	}
	if _, err := s.GetHold(ctx, 99); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetHold(99) = %v", err)
	}
	if a := auditOf(t, s, store.AuditFilter{EntryID: e.ID}); len(a) != 4 || a[1].Action != "hold.objection" || a[3].Village != "village-1" {
		t.Fatalf("entry's audit: %+v", a)
	}
}

func testShop(t *testing.T, open func(t *testing.T) store.Store) {
	s := fresh(t, open)
	ctx := t.Context()
	village(t, s)
	published(t, s, store.SubjectPerson, "p1", 10)    // counts for h01
	published(t, s, store.SubjectHousehold, "h01", 5) // and this
	published(t, s, store.SubjectHousehold, "h02", 3)
	if n, err := s.Balance(ctx, "village-1", "h01"); err != nil || n != 15 {
		t.Fatalf("Balance(h01) = %d, %v; want 15", n, err)
	}
	g := store.Goods{Village: "village-1", ID: "soap", Name: "肥皂", Price: 6, Stock: 1, OnSale: true, UpdatedAt: t0}
	if err := s.PutGoods(ctx, g, true, note("goods.create")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutGoods(ctx, g, true, note("goods.create")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("creating goods twice = %v", err)
	}
	if err := s.PutGoods(ctx, store.Goods{Village: "village-1", ID: "rice", Price: 1}, false, note("goods.put")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("replacing absent goods = %v", err)
	}
	red := func(h, key string) store.Redemption {
		return store.Redemption{Village: "village-1", Household: h, Goods: "soap", Quantity: 1, Key: key, By: "张会计", CreatedAt: t0}
	}
	// Two clerks take the last soap at once: one wins.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, h := range []string{"h01", "h01"} {
		wg.Go(func() {
			_, _, errs[i] = s.Redeem(ctx, red(h, "k"+string(rune('a'+i))), func(store.Redemption, int) store.AuditRecord { return note("shop.redeem") })
		})
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("two redemptions of the last item: %v, %v; want one to win", errs[0], errs[1])
	}
	lost := errs[0]
	if lost == nil {
		lost = errs[1]
	}
	if !errors.Is(lost, store.ErrOutOfStock) {
		t.Fatalf("the loser got %v, want ErrOutOfStock", lost)
	}
	if gg, _ := s.GetGoods(ctx, "village-1", "soap"); gg.Stock != 0 {
		t.Fatalf("stock after = %d", gg.Stock)
	}
	if n, _ := s.Balance(ctx, "village-1", "h01"); n != 9 {
		t.Fatalf("balance after = %d, want 9", n)
	}
	// The winner's request replayed is applied once.
	winner := "ka"
	if errs[0] != nil {
		winner = "kb"
	}
	x, replayed, err := s.Redeem(ctx, red("h01", winner), func(store.Redemption, int) store.AuditRecord { return note("shop.redeem") })
	if err != nil || !replayed || x.Points != 6 || x.Status != store.RedemptionDone {
		t.Fatalf("replay = %+v %t %v", x, replayed, err)
	}
	if _, _, err := s.Redeem(ctx, red("h02", winner), func(store.Redemption, int) store.AuditRecord { return note("shop.redeem") }); !errors.Is(err, store.ErrKeyReused) {
		t.Fatalf("a key reused for another household = %v", err)
	}
	// Never below zero: h02 has 3, soap costs 6.
	g.Stock = 5
	if err := s.PutGoods(ctx, g, false, note("goods.put")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Redeem(ctx, red("h02", "kc"), func(store.Redemption, int) store.AuditRecord { return note("shop.redeem") }); !errors.Is(err, store.ErrNotEnoughPoints) {
		t.Fatalf("redeeming beyond the balance = %v", err)
	}
	var after int
	if _, _, err := s.Redeem(ctx, red("h01", "kd"), func(_ store.Redemption, b int) store.AuditRecord { after = b; return note("shop.redeem") }); err != nil || after != 3 {
		t.Fatalf("second soap for h01: balance after %d, %v", after, err)
	}
	// Cancellation gives both back.
	c, err := s.CancelRedemption(ctx, x.ID, func(r *store.Redemption) (store.AuditRecord, error) {
		r.Status, r.CancelledAt, r.CancelledBy = store.RedemptionCancelled, t0, "张会计"
		return note("shop.cancel"), nil
	})
	if err != nil || c.Status != store.RedemptionCancelled {
		t.Fatalf("cancel = %+v, %v", c, err)
	}
	if n, _ := s.Balance(ctx, "village-1", "h01"); n != 9 {
		t.Fatalf("balance after the cancellation = %d, want 9", n)
	}
	if gg, _ := s.GetGoods(ctx, "village-1", "soap"); gg.Stock != 5 {
		t.Fatalf("stock after the cancellation = %d, want 5", gg.Stock)
	}
	rs, err := s.ListRedemptions(ctx, store.RedemptionFilter{Village: "village-1", Household: "h01"})
	if err != nil || len(rs) != 2 || rs[0].ID >= rs[1].ID {
		t.Fatalf("ListRedemptions = %+v, %v", rs, err)
	}
	if _, _, err := s.Redeem(ctx, store.Redemption{Village: "village-1", Household: "h09", Goods: "soap", Quantity: 1, Key: "ke"}, func(store.Redemption, int) store.AuditRecord { return note("x") }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("redeeming for an unknown household = %v", err)
	}
}

func testLinks(t *testing.T, open func(t *testing.T) store.Store) {
	s := fresh(t, open)
	ctx := t.Context()
	village(t, s)
	first := store.Link{TokenHash: bytes.Repeat([]byte{1}, 32), Village: "village-1", Household: "h01", CreatedAt: t0, CreatedBy: "张会计"}
	second := first
	second.TokenHash, second.CreatedAt = bytes.Repeat([]byte{2}, 32), t0.Add(time.Hour)
	for _, l := range []store.Link{first, second} {
		if err := s.IssueLink(ctx, l, note("link.issue")); err != nil {
			t.Fatal(err)
		}
	}
	if l, err := s.GetLink(ctx, first.TokenHash); err != nil || l.RevokedAt.IsZero() || l.Household != "h01" {
		t.Fatalf("the reprinted link's old one = %+v, %v; want revoked", l, err)
	}
	if l, err := s.GetLink(ctx, second.TokenHash); err != nil || !l.RevokedAt.IsZero() {
		t.Fatalf("the new link = %+v, %v", l, err)
	}
	if _, err := s.GetLink(ctx, bytes.Repeat([]byte{3}, 32)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an unknown link = %v", err)
	}
	if n, err := s.RevokeLinks(ctx, "village-1", "h01", "张会计", t0, note("link.revoke")); err != nil || n != 1 {
		t.Fatalf("RevokeLinks = %d, %v", n, err)
	}
	ls, err := s.ListLinks(ctx, "village-1", "h01")
	if err != nil || len(ls) != 2 || !bytes.Equal(ls[0].TokenHash, second.TokenHash) || ls[0].RevokedAt.IsZero() {
		t.Fatalf("ListLinks = %+v, %v", ls, err)
	}
	if err := s.IssueLink(ctx, store.Link{TokenHash: []byte{9}, Village: "village-1", Household: "h99"}, note("x")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a link for an unknown household = %v", err)
	}
}

func testChats(t *testing.T, open func(t *testing.T) store.Store) {
	s := fresh(t, open)
	ctx := t.Context()
	village(t, s)
	chats := []store.Chat{{Village: "village-1", ID: "grid-1", Kind: "wecom", URL: "https://x/1", UpdatedAt: t0}, {Village: "village-1", ID: "grid-2", Kind: "dingtalk", URL: "https://x/2", Secret: "SEC", UpdatedAt: t0}}
	if err := s.PutChats(ctx, "village-1", chats, note("chats.put")); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListChats(ctx, "village-1")
	if err != nil || len(got) != 2 || got[1].Secret != "SEC" || got[0].ID != "grid-1" {
		t.Fatalf("ListChats = %+v, %v", got, err)
	}
	if err := s.PutChats(ctx, "village-9", chats, note("chats.put")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("chats of an unknown village = %v", err)
	}
	png := []byte("\x89PNG fake")
	ds, err := s.AddDeliveries(ctx, []store.Delivery{
		{Village: "village-1", Chat: "grid-1", Event: "publish", Period: "2026-11", Text: "红榜", Image: "img1", Status: store.DeliveryPending, CreatedAt: t0},
		{Village: "village-1", Chat: "grid-2", Event: "publish", Period: "2026-11", Text: "红榜", Image: "img1", Status: store.DeliveryPending, CreatedAt: t0},
	}, "img1", png)
	if err != nil || len(ds) != 2 || ds[0].ID != 1 || ds[1].ID != 2 {
		t.Fatalf("AddDeliveries = %+v, %v", ds, err)
	}
	if _, err := s.UpdateDelivery(ctx, 1, func(d *store.Delivery) error {
		d.Status, d.Attempts = store.DeliveryDelivered, 1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	pending, err := s.ListDeliveries(ctx, "", store.DeliveryPending, 10)
	if err != nil || len(pending) != 1 || pending[0].ID != 2 {
		t.Fatalf("pending = %+v, %v", pending, err)
	}
	if all, _ := s.ListDeliveries(ctx, "village-1", "", 10); len(all) != 2 || all[0].ID != 2 {
		t.Fatalf("all, newest first = %+v", all)
	}
	img, at, err := s.GetImage(ctx, "img1")
	if err != nil || !bytes.Equal(img, png) || !at.Equal(t0) {
		t.Fatalf("GetImage = %q %s %v", img, at, err)
	}
	if n, err := s.DeleteImages(ctx, t0.Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("DeleteImages = %d, %v", n, err)
	}
	if _, _, err := s.GetImage(ctx, "img1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a deleted image = %v", err)
	}
}

func testAnonymise(t *testing.T, open func(t *testing.T) store.Store) {
	s := fresh(t, open)
	ctx := t.Context()
	village(t, s)
	old := published(t, s, store.SubjectPerson, "p1", 5)
	if _, _, err := s.ChangeHolds(ctx, old.ID, func(x *store.Entry, holds *[]store.Hold) ([]store.AuditRecord, error) {
		*holds = append(*holds, store.Hold{Kind: store.HoldObjection, Name: "王五", Contact: "138", Reason: "不属实", Status: store.HoldDismissed, CreatedAt: t0})
		return []store.AuditRecord{{Time: t0, Action: "hold.objection", After: []byte(`{"name":"王五"}`), Note: "王五"}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	fresh := sampleEntry("village-1")
	fresh.CreatedAt = t0.Add(48 * time.Hour)
	young, err := s.CreateEntry(ctx, fresh, func(store.Entry) (store.AuditRecord, error) {
		return store.AuditRecord{Action: "entry.create", After: []byte(`{"reason":"门前乱堆柴草"}`)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cutoff := t0.Add(time.Hour)
	ne, nh, err := s.Anonymise(ctx, cutoff, func(e *store.Entry) {
		e.Reason, e.Evidence, e.Anonymised = "", "", cutoff
	}, func(h *store.Hold) {
		h.Name, h.Contact, h.Reason, h.Anonymised = "", "", "", cutoff
	}, func(e, h int) store.AuditRecord {
		return store.AuditRecord{Time: cutoff, Action: "retention.anonymise"}
	})
	if err != nil || ne != 1 || nh != 1 {
		t.Fatalf("Anonymise = %d entries %d holds, %v", ne, nh, err)
	}
	e, _ := s.GetEntry(ctx, old.ID)
	if e.Reason != "" || e.Anonymised.IsZero() || e.Points != 5 || e.SubjectID != "p1" {
		t.Fatalf("anonymised entry = %+v", e)
	}
	h, _ := s.GetHold(ctx, 1)
	if h.Name != "" || h.Contact != "" || h.Anonymised.IsZero() {
		t.Fatalf("anonymised hold = %+v", h)
	}
	if y, _ := s.GetEntry(ctx, young.ID); y.Reason == "" || !y.Anonymised.IsZero() {
		t.Fatalf("a young entry was anonymised: %+v", y)
	}
	for _, a := range auditOf(t, s, store.AuditFilter{EntryID: old.ID}) {
		if string(a.After) != store.Redacted || a.Before != nil || a.Note != "" {
			t.Errorf("audit record %d of the anonymised entry kept %s %s %q", a.Seq, a.Before, a.After, a.Note)
		}
	}
	if a := auditOf(t, s, store.AuditFilter{EntryID: young.ID}); len(a) != 1 || string(a[0].After) == store.Redacted {
		t.Errorf("the young entry's audit was redacted: %+v", a)
	}
	all := auditOf(t, s, store.AuditFilter{})
	if last := all[len(all)-1]; last.Action != "retention.anonymise" {
		t.Errorf("last audit record %q, want the anonymisation's", last.Action)
	}
	if ne, nh, err := s.Anonymise(ctx, cutoff, func(*store.Entry) { t.Error("anonymised twice") }, func(*store.Hold) { t.Error("anonymised twice") },
		func(int, int) store.AuditRecord { return store.AuditRecord{Action: "again"} }); err != nil || ne+nh != 0 {
		t.Fatalf("Anonymise again = %d %d %v", ne, nh, err)
	}
	if a := auditOf(t, s, store.AuditFilter{}); len(a) != len(all) {
		t.Error("an anonymisation that changed nothing appended a record")
	}
}
