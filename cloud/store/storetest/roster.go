package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
)

// normHousehold and normPerson make records comparable: times in UTC.
func normHousehold(h store.Household) store.Household {
	h.CreatedAt, h.UpdatedAt = h.CreatedAt.UTC(), h.UpdatedAt.UTC()
	return h
}

func normPerson(p store.Person) store.Person {
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p
}

func wantPerson(t *testing.T, got, want store.Person) {
	t.Helper()
	if g, w := normPerson(got), normPerson(want); !reflect.DeepEqual(g, w) {
		t.Errorf("person %s:\n got %+v\nwant %+v", want.ID, g, w)
	}
}

func wantHousehold(t *testing.T, got, want store.Household) {
	t.Helper()
	if g, w := normHousehold(got), normHousehold(want); !reflect.DeepEqual(g, w) {
		t.Errorf("household %s:\n got %+v\nwant %+v", want.ID, g, w)
	}
}

// testRoster covers the roster's fields and ApplyRoster: a whole change
// in one transaction with its record, or nothing.
func testRoster(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("every field round trips; a person stored without a status is active", func(t *testing.T) {
		s := fresh(t, open)
		ctx := t.Context()
		mustCreateBox(t, s, newBox("village-1"))
		h := store.Household{Village: "village-1", ID: "h01", Head: "张三", Group: "第一村民小组", CreatedAt: t0, CreatedBy: "张会计",
			UpdatedAt: t0.Add(time.Hour), UpdatedBy: "李会计"}
		if err := s.CreateHousehold(ctx, h, note("household.create")); err != nil {
			t.Fatal(err)
		}
		p := store.Person{Village: "village-1", ID: "p1", Name: "张三", Household: "h01", Phone: "13812345678", IDLast4: "123X",
			Status: store.PersonDeceased, CreatedAt: t0, CreatedBy: "张会计", UpdatedAt: t0.Add(time.Hour), UpdatedBy: "李会计"}
		if err := s.CreatePerson(ctx, p, note("person.create")); err != nil {
			t.Fatal(err)
		}
		q := store.Person{Village: "village-1", ID: "p2", Name: "张小", Household: "h01", CreatedAt: t0, CreatedBy: "张会计"}
		if err := s.CreatePerson(ctx, q, note("person.create")); err != nil {
			t.Fatal(err)
		}
		gh, err := s.GetHousehold(ctx, "village-1", "h01")
		if err != nil {
			t.Fatal(err)
		}
		wantHousehold(t, gh, h)
		gp, err := s.GetPerson(ctx, "village-1", "p1")
		if err != nil {
			t.Fatal(err)
		}
		wantPerson(t, gp, p)
		q.Status = store.PersonActive
		gq, err := s.GetPerson(ctx, "village-1", "p2")
		if err != nil {
			t.Fatal(err)
		}
		wantPerson(t, gq, q)
	})
	t.Run("apply writes new and changed households and persons with the record, keeping creation", func(t *testing.T) {
		s := fresh(t, open)
		ctx := t.Context()
		mustCreateBox(t, s, newBox("village-1"))
		mustCreateBox(t, s, newBox("village-2"))
		if err := s.CreateHousehold(ctx, store.Household{Village: "village-1", ID: "h01", Head: "张三", CreatedAt: t0, CreatedBy: "张会计"}, note("household.create")); err != nil {
			t.Fatal(err)
		}
		if err := s.CreatePerson(ctx, store.Person{Village: "village-1", ID: "p1", Name: "张三", Household: "h01", CreatedAt: t0, CreatedBy: "张会计"}, note("person.create")); err != nil {
			t.Fatal(err)
		}
		later := t0.Add(24 * time.Hour)
		var seen store.Roster
		got, err := s.ApplyRoster(ctx, "village-1", func(r store.Roster) (store.RosterChange, store.AuditRecord, error) {
			seen = r
			return store.RosterChange{
				Households: []store.Household{
					{ID: "h01", Head: "张三", Group: "一组", CreatedAt: later, CreatedBy: "someone else", UpdatedAt: later, UpdatedBy: "李会计"},
					{ID: "h02", Head: "李四", CreatedAt: later, CreatedBy: "李会计"},
				},
				Persons: []store.Person{
					{ID: "p1", Name: "张三", Household: "h02", Phone: "139", CreatedAt: later, CreatedBy: "someone else", UpdatedAt: later, UpdatedBy: "李会计"},
					{ID: "p2", Name: "李四", Household: "h02", CreatedAt: later, CreatedBy: "李会计"},
				},
			}, note("roster.import"), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(seen.Households) != 1 || seen.Households[0].ID != "h01" || len(seen.Persons) != 1 || seen.Persons[0].Village != "village-1" {
			t.Errorf("fn saw %+v; want the stored roster", seen)
		}
		if len(got.Households) != 2 || len(got.Persons) != 2 || !got.Persons[0].CreatedAt.Equal(t0) || got.Persons[1].Status != store.PersonActive {
			t.Errorf("ApplyRoster returned %+v; want the change as stored", got)
		}
		h1, _ := s.GetHousehold(ctx, "village-1", "h01")
		wantHousehold(t, h1, store.Household{Village: "village-1", ID: "h01", Head: "张三", Group: "一组", CreatedAt: t0, CreatedBy: "张会计", UpdatedAt: later, UpdatedBy: "李会计"})
		p1, _ := s.GetPerson(ctx, "village-1", "p1")
		wantPerson(t, p1, store.Person{Village: "village-1", ID: "p1", Name: "张三", Household: "h02", Phone: "139", Status: store.PersonActive,
			CreatedAt: t0, CreatedBy: "张会计", UpdatedAt: later, UpdatedBy: "李会计"})
		p2, _ := s.GetPerson(ctx, "village-1", "p2")
		wantPerson(t, p2, store.Person{Village: "village-1", ID: "p2", Name: "李四", Household: "h02", Status: store.PersonActive, CreatedAt: later, CreatedBy: "李会计"})
		if hs, _ := s.ListHouseholds(ctx, "village-2"); len(hs) != 0 {
			t.Errorf("another village gained %+v", hs)
		}
		if a := auditOf(t, s, store.AuditFilter{Village: "village-1"}); len(a) != 3 || a[2].Action != "roster.import" || a[2].Village != "village-1" {
			t.Errorf("audit = %+v; want the import's record last, of village-1", a)
		}
	})
	t.Run("a refused change writes nothing, and an empty one not even its record", func(t *testing.T) {
		s := fresh(t, open)
		ctx := t.Context()
		mustCreateBox(t, s, newBox("village-1"))
		boom := errors.New("boom")
		cases := []struct {
			name   string
			change store.RosterChange
			err    error
			want   error
		}{
			{"fn's error", store.RosterChange{Households: []store.Household{{ID: "h01", Head: "x"}}}, boom, boom},
			{"a person of a household that is nowhere", store.RosterChange{
				Households: []store.Household{{ID: "h01", Head: "x"}},
				Persons:    []store.Person{{ID: "p1", Name: "x", Household: "h01"}, {ID: "p2", Name: "y", Household: "h99"}},
			}, nil, store.ErrNotFound},
		}
		for _, c := range cases {
			_, err := s.ApplyRoster(ctx, "village-1", func(store.Roster) (store.RosterChange, store.AuditRecord, error) {
				return c.change, note("roster.import"), c.err
			})
			if !errors.Is(err, c.want) {
				t.Errorf("%s: %v, want %v", c.name, err, c.want)
			}
		}
		if _, err := s.ApplyRoster(ctx, "nowhere", func(store.Roster) (store.RosterChange, store.AuditRecord, error) {
			t.Error("fn called for an unknown village")
			return store.RosterChange{}, note("x"), nil
		}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown village: %v, want ErrNotFound", err)
		}
		got, err := s.ApplyRoster(ctx, "village-1", func(store.Roster) (store.RosterChange, store.AuditRecord, error) {
			return store.RosterChange{}, note("roster.import"), nil
		})
		if err != nil || !got.Empty() {
			t.Errorf("an empty change: %+v, %v", got, err)
		}
		if hs, _ := s.ListHouseholds(ctx, "village-1"); len(hs) != 0 {
			t.Errorf("refused changes left %+v", hs)
		}
		if a := auditOf(t, s, store.AuditFilter{}); len(a) != 0 {
			t.Errorf("refused or empty changes left records %+v", a)
		}
	})
}
