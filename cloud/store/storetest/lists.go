package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
)

// testLists covers households, persons, categories, entries and the audit
// trail.
func testLists(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Villagers", func(t *testing.T) { testVillagers(t, open) })
	t.Run("Roster", func(t *testing.T) { testRoster(t, open) })
	t.Run("Entries", func(t *testing.T) { testEntries(t, open) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, open) })
}

func note(action string) store.AuditRecord {
	return store.AuditRecord{Time: t0, Actor: "张会计", Action: action, Note: action}
}

// auditOf returns every audit record, failing the test on error.
func auditOf(t *testing.T, s store.Store, f store.AuditFilter) []store.AuditRecord {
	t.Helper()
	if f.Limit == 0 {
		f.Limit = 1000
	}
	got, err := s.ListAudit(t.Context(), f)
	if err != nil {
		t.Fatalf("ListAudit(%+v): %v", f, err)
	}
	return got
}

func testVillagers(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("households and persons round trip, ordered by id, with audit", func(t *testing.T) {
		s := fresh(t, open)
		ctx := t.Context()
		mustCreateBox(t, s, newBox("village-1"))
		mustCreateBox(t, s, newBox("village-2"))
		for _, h := range []store.Household{
			{Village: "village-1", ID: "h02", Head: "李四", CreatedAt: t0, CreatedBy: "张会计"},
			{Village: "village-1", ID: "h01", Head: "张三", CreatedAt: t0, CreatedBy: "张会计"},
			{Village: "village-2", ID: "h01", Head: "王五", CreatedAt: t0, CreatedBy: "张会计"},
		} {
			if err := s.CreateHousehold(ctx, h, note("household.create")); err != nil {
				t.Fatalf("CreateHousehold(%+v): %v", h, err)
			}
		}
		p := store.Person{Village: "village-1", ID: "p1", Name: "张小明", Household: "h01", CreatedAt: t0, CreatedBy: "张会计"}
		if err := s.CreatePerson(ctx, p, note("person.create")); err != nil {
			t.Fatal(err)
		}
		hs, err := s.ListHouseholds(ctx, "village-1")
		if err != nil || len(hs) != 2 || hs[0].ID != "h01" || hs[1].ID != "h02" || hs[0].Head != "张三" || hs[0].Village != "village-1" {
			t.Fatalf("ListHouseholds = %+v, %v; want h01 张三 then h02", hs, err)
		}
		h, err := s.GetHousehold(ctx, "village-2", "h01")
		if err != nil || h.Head != "王五" || !h.CreatedAt.Equal(t0) || h.CreatedBy != "张会计" {
			t.Fatalf("GetHousehold = %+v, %v", h, err)
		}
		got, err := s.GetPerson(ctx, "village-1", "p1")
		if err != nil || got.Name != p.Name || got.Household != "h01" || got.Village != "village-1" || !got.CreatedAt.Equal(t0) {
			t.Fatalf("GetPerson = %+v, %v", got, err)
		}
		if ps, err := s.ListPersons(ctx, "village-1"); err != nil || len(ps) != 1 {
			t.Fatalf("ListPersons = %+v, %v", ps, err)
		}
		if ps, err := s.ListPersons(ctx, "village-2"); err != nil || len(ps) != 0 {
			t.Fatalf("ListPersons of another village = %+v, %v", ps, err)
		}
		if a := auditOf(t, s, store.AuditFilter{Village: "village-1"}); len(a) != 3 || a[2].Action != "person.create" {
			t.Fatalf("audit of village-1 = %+v; want 3 records, the person last", a)
		}
	})
	t.Run("refusals write nothing", func(t *testing.T) {
		s := fresh(t, open)
		ctx := t.Context()
		mustCreateBox(t, s, newBox("village-1"))
		h := store.Household{Village: "village-1", ID: "h01", Head: "张三"}
		if err := s.CreateHousehold(ctx, h, note("household.create")); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name string
			err  error
			want error
		}{
			{"taken household id", s.CreateHousehold(ctx, store.Household{Village: "village-1", ID: "h01", Head: "冒名"}, note("x")), store.ErrExists},
			{"household of an unknown village", s.CreateHousehold(ctx, store.Household{Village: "nowhere", ID: "h01", Head: "x"}, note("x")), store.ErrNotFound},
			{"person of an unknown household", s.CreatePerson(ctx, store.Person{Village: "village-1", ID: "p1", Name: "x", Household: "h99"}, note("x")), store.ErrNotFound},
			{"categories of an unknown village", s.PutCategories(ctx, "nowhere", []store.Category{{Name: "x"}}, note("x")), store.ErrNotFound},
		}
		for _, c := range cases {
			if !errors.Is(c.err, c.want) {
				t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
			}
		}
		if got, _ := s.GetHousehold(ctx, "village-1", "h01"); got.Head != "张三" {
			t.Errorf("a refused create changed the household: %+v", got)
		}
		if _, err := s.GetPerson(ctx, "village-1", "p1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a refused person was stored: %v", err)
		}
		if a := auditOf(t, s, store.AuditFilter{}); len(a) != 1 {
			t.Errorf("refusals appended audit records: %+v", a)
		}
	})
	t.Run("categories: not found until put, then replaced in order", func(t *testing.T) {
		s := fresh(t, open)
		ctx := t.Context()
		mustCreateBox(t, s, newBox("village-1"))
		if _, err := s.GetCategories(ctx, "village-1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetCategories before a put = %v, want ErrNotFound", err)
		}
		for _, want := range [][]store.Category{
			{{Name: "厕所革命", Red: 5, Black: -5}, {Name: "孝老爱亲", Red: 10, Black: -10}},
			{{Name: "平安家庭", Red: 3, Black: -8}},
		} {
			if err := s.PutCategories(ctx, "village-1", want, note("categories.put")); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetCategories(ctx, "village-1")
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("GetCategories = %+v, %v; want %+v", got, err, want)
			}
		}
	})
}

func sampleEntry(village string) store.Entry {
	return store.Entry{
		Village: village, Kind: store.KindBlack, SubjectKind: store.SubjectPerson, SubjectID: "p1",
		Category: "人居环境整治", Reason: "门前乱堆柴草", Period: "2026-11", Points: -5, Evidence: "照片三张",
		Author: "张会计", Editors: []string{"张会计"}, Status: store.StatusDraft, CreatedAt: t0, UpdatedAt: t0,
	}
}

func testEntries(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("create assigns ids from 1 and revision 1, audit in the same write", func(t *testing.T) {
		s := fresh(t, open)
		ctx := t.Context()
		mustCreateBox(t, s, newBox("village-1"))
		for i := range 3 {
			var seen store.Entry
			e, err := s.CreateEntry(ctx, sampleEntry("village-1"), func(e store.Entry) (store.AuditRecord, error) {
				seen = e
				return note("entry.create"), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if e.ID != uint64(i+1) || e.Revision != 1 || seen.ID != e.ID {
				t.Fatalf("entry %d: id %d revision %d (audit saw id %d)", i, e.ID, e.Revision, seen.ID)
			}
			got, err := s.GetEntry(ctx, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := sampleEntry("village-1")
			want.ID, want.Revision = e.ID, 1
			if g, w := normEntry(got), normEntry(want); !reflect.DeepEqual(g, w) {
				t.Fatalf("GetEntry:\n got %+v\nwant %+v", g, w)
			}
		}
		a := auditOf(t, s, store.AuditFilter{EntryID: 2})
		if len(a) != 1 || a[0].EntryID != 2 || a[0].Village != "village-1" || a[0].Seq != 2 {
			t.Fatalf("audit of entry 2 = %+v", a)
		}
	})
	t.Run("a failing audit builder or unknown village stores nothing", func(t *testing.T) {
		s := fresh(t, open)
		ctx := t.Context()
		mustCreateBox(t, s, newBox("village-1"))
		boom := errors.New("boom")
		if _, err := s.CreateEntry(ctx, sampleEntry("village-1"), func(store.Entry) (store.AuditRecord, error) { return store.AuditRecord{}, boom }); !errors.Is(err, boom) {
			t.Fatalf("CreateEntry = %v, want boom", err)
		}
		if _, err := s.CreateEntry(ctx, sampleEntry("nowhere"), func(store.Entry) (store.AuditRecord, error) { return note("x"), nil }); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("CreateEntry of an unknown village = %v, want ErrNotFound", err)
		}
		if es, err := s.ListEntries(ctx, store.EntryFilter{}); err != nil || len(es) != 0 {
			t.Fatalf("entries after refusals = %+v, %v", es, err)
		}
		if _, err := s.GetEntry(ctx, 1); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetEntry(1) = %v, want ErrNotFound", err)
		}
		if a := auditOf(t, s, store.AuditFilter{}); len(a) != 0 {
			t.Fatalf("refusals appended %+v", a)
		}
		// The id a refused create would have taken is not burnt either.
		e, err := s.CreateEntry(ctx, sampleEntry("village-1"), func(store.Entry) (store.AuditRecord, error) { return note("x"), nil })
		if err != nil || e.ID != 1 {
			t.Fatalf("first good create = %d, %v; want id 1", e.ID, err)
		}
	})
	t.Run("list filters by village, period, status and kind", func(t *testing.T) {
		s := fresh(t, open)
		ctx := t.Context()
		mustCreateBox(t, s, newBox("village-1"))
		mustCreateBox(t, s, newBox("village-2"))
		mk := func(village, period string, kind store.ListKind, status store.EntryStatus) {
			e := sampleEntry(village)
			e.Period, e.Kind, e.Status = period, kind, status
			if _, err := s.CreateEntry(ctx, e, func(store.Entry) (store.AuditRecord, error) { return note("x"), nil }); err != nil {
				t.Fatal(err)
			}
		}
		mk("village-1", "2026-11", store.KindRed, store.StatusDraft)      // 1
		mk("village-1", "2026-11", store.KindBlack, store.StatusApproved) // 2
		mk("village-1", "2026-12", store.KindBlack, store.StatusApproved) // 3
		mk("village-2", "2026-11", store.KindBlack, store.StatusApproved) // 4
		mk("village-2", "2026-11", store.KindRed, store.StatusPublished)  // 5
		cases := []struct {
			f    store.EntryFilter
			want []uint64
		}{
			{store.EntryFilter{}, []uint64{1, 2, 3, 4, 5}},
			{store.EntryFilter{Village: "village-1"}, []uint64{1, 2, 3}},
			{store.EntryFilter{Period: "2026-11"}, []uint64{1, 2, 4, 5}},
			{store.EntryFilter{Status: store.StatusApproved}, []uint64{2, 3, 4}},
			{store.EntryFilter{Kind: store.KindRed}, []uint64{1, 5}},
			{store.EntryFilter{Village: "village-1", Period: "2026-11", Status: store.StatusApproved, Kind: store.KindBlack}, []uint64{2}},
			{store.EntryFilter{Village: "nowhere"}, nil},
		}
		for _, c := range cases {
			got, err := s.ListEntries(ctx, c.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []uint64
			for _, e := range got {
				ids = append(ids, e.ID)
			}
			if !reflect.DeepEqual(ids, c.want) {
				t.Errorf("ListEntries(%+v) = %v, want %v", c.f, ids, c.want)
			}
		}
	})
	t.Run("update changes all or nothing and bumps the revision", func(t *testing.T) {
		s := fresh(t, open)
		ctx := t.Context()
		mustCreateBox(t, s, newBox("village-1"))
		for range 2 {
			if _, err := s.CreateEntry(ctx, sampleEntry("village-1"), func(store.Entry) (store.AuditRecord, error) { return note("entry.create"), nil }); err != nil {
				t.Fatal(err)
			}
		}
		later := t0.Add(time.Hour)
		got, err := s.UpdateEntries(ctx, []uint64{1, 2}, func(e *store.Entry) (store.AuditRecord, error) {
			e.Status = store.StatusPublished
			e.PublishedAt = later
			e.Approvals = append(e.Approvals, store.Approval{By: "李评委", At: later})
			e.ID, e.Village, e.CreatedAt = 99, "village-9", later // ignored
			return note("entry.publish"), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range got {
			stored, err := s.GetEntry(ctx, uint64(i+1))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normEntry(stored), normEntry(e)) {
				t.Errorf("returned %+v, stored %+v", e, stored)
			}
			if stored.ID != uint64(i+1) || stored.Village != "village-1" || !stored.CreatedAt.Equal(t0) || stored.Revision != 2 ||
				stored.Status != store.StatusPublished || !stored.PublishedAt.Equal(later) || len(stored.Approvals) != 1 {
				t.Errorf("entry %d after update: %+v", i+1, stored)
			}
		}
		// One unknown id, or a failing fn on the second entry: nothing.
		boom := errors.New("boom")
		n := 0
		if _, err := s.UpdateEntries(ctx, []uint64{1, 2}, func(e *store.Entry) (store.AuditRecord, error) {
			n++
			e.Reason = "改过了"
			if n == 2 {
				return store.AuditRecord{}, boom
			}
			return note("entry.update"), nil
		}); !errors.Is(err, boom) {
			t.Fatalf("UpdateEntries = %v, want boom", err)
		}
		if _, err := s.UpdateEntries(ctx, []uint64{1, 7}, func(e *store.Entry) (store.AuditRecord, error) {
			e.Reason = "改过了"
			return note("entry.update"), nil
		}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UpdateEntries with an unknown id = %v, want ErrNotFound", err)
		}
		if e, _ := s.GetEntry(ctx, 1); e.Reason != "门前乱堆柴草" || e.Revision != 2 {
			t.Fatalf("a refused update changed entry 1: %+v", e)
		}
		if a := auditOf(t, s, store.AuditFilter{}); len(a) != 4 {
			t.Fatalf("audit after 2 creates, 2 updates and refusals: %d records", len(a))
		}
	})
}

func normEntry(e store.Entry) store.Entry {
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	e.SubmittedAt, e.PublishedAt, e.RevokedAt = e.SubmittedAt.UTC(), e.PublishedAt.UTC(), e.RevokedAt.UTC()
	for i := range e.Approvals {
		e.Approvals[i].At = e.Approvals[i].At.UTC()
	}
	if len(e.Approvals) == 0 {
		e.Approvals = nil
	}
	if len(e.Editors) == 0 {
		e.Editors = nil
	}
	return e
}

func testAudit(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("appending never rewrites earlier records and seqs are contiguous", func(t *testing.T) {
		s := fresh(t, open)
		ctx := t.Context()
		mustCreateBox(t, s, newBox("village-1"))
		var before []store.AuditRecord
		next := uint64(1)
		for i := range 20 {
			a := store.AuditRecord{
				Time: t0.Add(time.Duration(i) * time.Second), Actor: "李评委", Action: "entry.approve", Village: "village-1",
				EntryID: uint64(i%3 + 1), Target: fmt.Sprintf("entry/%d", i%3+1),
				Before: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)), After: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i+1)), Note: "第" + fmt.Sprint(i) + "次",
			}
			seq, err := s.AppendAudit(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			if seq != next {
				t.Fatalf("append %d got seq %d, want %d", i, seq, next)
			}
			next++
			// An interleaved entry change takes the next seq too.
			if i == 10 {
				if _, err := s.CreateEntry(ctx, sampleEntry("village-1"), func(store.Entry) (store.AuditRecord, error) { return note("entry.create"), nil }); err != nil {
					t.Fatal(err)
				}
				next++
			}
			all := auditOf(t, s, store.AuditFilter{})
			for j, r := range all {
				if r.Seq != uint64(j+1) {
					t.Fatalf("after append %d: record %d has seq %d; seqs must be contiguous from 1", i, j, r.Seq)
				}
			}
			if !reflect.DeepEqual(normAudit(all[:len(before)]), normAudit(before)) {
				t.Fatalf("append %d rewrote earlier records:\n got %+v\nwant %+v", i, all[:len(before)], before)
			}
			before = all
		}
		if len(before) != 21 {
			t.Fatalf("%d records, want 21", len(before))
		}
		r := before[0]
		if !r.Time.Equal(t0) || r.Actor != "李评委" || r.Action != "entry.approve" || r.EntryID != 1 || r.Target != "entry/1" ||
			string(r.Before) != `{"n":0}` || string(r.After) != `{"n":1}` || r.Note != "第0次" {
			t.Fatalf("first record = %+v", r)
		}
	})
	t.Run("filter by village and entry, page with after and limit", func(t *testing.T) {
		s := fresh(t, open)
		ctx := t.Context()
		for i := range 9 {
			a := store.AuditRecord{Time: t0, Actor: "x", Action: "a", Village: fmt.Sprintf("village-%d", i%3), EntryID: uint64(i % 2)}
			if _, err := s.AppendAudit(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		seqs := func(rs []store.AuditRecord) []uint64 {
			var out []uint64
			for _, r := range rs {
				out = append(out, r.Seq)
			}
			return out
		}
		cases := []struct {
			f    store.AuditFilter
			want []uint64
		}{
			{store.AuditFilter{Limit: 100}, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9}},
			{store.AuditFilter{Village: "village-1", Limit: 100}, []uint64{2, 5, 8}},
			{store.AuditFilter{EntryID: 1, Limit: 100}, []uint64{2, 4, 6, 8}},
			{store.AuditFilter{Village: "village-1", EntryID: 1, Limit: 100}, []uint64{2, 8}},
			{store.AuditFilter{After: 3, Limit: 2}, []uint64{4, 5}},
			{store.AuditFilter{After: 9, Limit: 2}, nil},
			{store.AuditFilter{After: ^uint64(0), Limit: 2}, nil},
			{store.AuditFilter{Limit: 3, Last: true}, []uint64{7, 8, 9}},
			{store.AuditFilter{Limit: 100, Last: true}, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9}},
			{store.AuditFilter{Village: "village-1", Limit: 2, Last: true}, []uint64{5, 8}},
			{store.AuditFilter{After: 7, Limit: 5, Last: true}, []uint64{8, 9}},
			{store.AuditFilter{After: 9, Limit: 5, Last: true}, nil},
		}
		for _, c := range cases {
			got, err := s.ListAudit(ctx, c.f)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(seqs(got), c.want) {
				t.Errorf("ListAudit(%+v) = %v, want %v", c.f, seqs(got), c.want)
			}
		}
		if _, err := s.ListAudit(ctx, store.AuditFilter{Limit: 0}); err == nil {
			t.Error("ListAudit with limit 0 succeeded")
		}
	})
	t.Run("the interface has no way to change or delete a record", func(t *testing.T) {
		// Append-only is a property of the interface itself: only these
		// methods may touch the trail, and none of them rewrites.
		typ := reflect.TypeFor[store.AuditTrail]()
		var names []string
		for i := range typ.NumMethod() {
			names = append(names, typ.Method(i).Name)
		}
		if !reflect.DeepEqual(names, []string{"AppendAudit", "ListAudit"}) {
			t.Fatalf("store.AuditTrail has methods %v; only AppendAudit and ListAudit may exist", names)
		}
		st := reflect.TypeFor[store.Store]()
		for i := range st.NumMethod() {
			name := st.Method(i).Name
			for _, bad := range []string{"DeleteAudit", "UpdateAudit", "PutAudit", "RewriteAudit", "TruncateAudit"} {
				if name == bad {
					t.Errorf("store.Store has %s", name)
				}
			}
		}
	})
}

func normAudit(rs []store.AuditRecord) []store.AuditRecord {
	out := make([]store.AuditRecord, len(rs))
	for i, r := range rs {
		r.Time = r.Time.UTC()
		out[i] = r
	}
	return out
}
