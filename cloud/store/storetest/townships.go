package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
)

// testTownships: townships are created, found, listed by id and renamed;
// the township of a box, a user and a claim is kept as written and
// changed only by the updates that may change it.
func testTownships(t *testing.T, open func(t *testing.T) store.Store) {
	dongshan := store.Township{ID: "t-dongshan", Name: "东山镇", CreatedAt: t0}
	xishan := store.Township{ID: "t-xishan", Name: "西山镇", CreatedAt: t0.Add(time.Minute)}

	t.Run("create, get, list by id, rename", func(t *testing.T) {
		s := fresh(t, open)
		ctx := t.Context()
		for _, tw := range []store.Township{xishan, dongshan} {
			if err := s.CreateTownship(ctx, tw); err != nil {
				t.Fatalf("CreateTownship(%s): %v", tw.ID, err)
			}
		}
		if got, err := s.GetTownship(ctx, "t-dongshan"); err != nil || !reflect.DeepEqual(got, dongshan) {
			t.Errorf("GetTownship = %+v, %v; want %+v", got, err, dongshan)
		}
		if err := s.CreateTownship(ctx, store.Township{ID: "t-dongshan", Name: "别的", CreatedAt: t0}); !errors.Is(err, store.ErrExists) {
			t.Errorf("CreateTownship of a taken id = %v, want ErrExists", err)
		}
		got, err := s.ListTownships(ctx)
		if err != nil || !reflect.DeepEqual(got, []store.Township{dongshan, xishan}) {
			t.Errorf("ListTownships = %+v, %v; want dongshan then xishan", got, err)
		}
		renamed, err := s.RenameTownship(ctx, "t-xishan", "西山乡")
		want := xishan
		want.Name = "西山乡"
		if err != nil || !reflect.DeepEqual(renamed, want) {
			t.Errorf("RenameTownship = %+v, %v; want %+v", renamed, err, want)
		}
		if got, err := s.GetTownship(ctx, "t-xishan"); err != nil || got.Name != "西山乡" {
			t.Errorf("after rename GetTownship = %+v, %v", got, err)
		}
	})

	t.Run("unknown ids are ErrNotFound", func(t *testing.T) {
		s := fresh(t, open)
		if _, err := s.GetTownship(t.Context(), "t-none"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetTownship = %v, want ErrNotFound", err)
		}
		if _, err := s.RenameTownship(t.Context(), "t-none", "无"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RenameTownship = %v, want ErrNotFound", err)
		}
		if got, err := s.ListTownships(t.Context()); err != nil || len(got) != 0 {
			t.Errorf("ListTownships of an empty store = %+v, %v", got, err)
		}
	})

	t.Run("a box keeps its township and UpdateBox moves it", func(t *testing.T) {
		s := fresh(t, open)
		b := newBox("village-1")
		b.Township = "t-dongshan"
		mustCreateBox(t, s, b)
		if got := mustGetBox(t, s, "village-1"); got.Township != "t-dongshan" {
			t.Errorf("created box's township = %q", got.Township)
		}
		if err := s.UpdateBox(t.Context(), "village-1", func(b *store.Box) error { b.Township = "t-xishan"; return nil }); err != nil {
			t.Fatal(err)
		}
		if got := mustGetBox(t, s, "village-1"); got.Township != "t-xishan" {
			t.Errorf("moved box's township = %q, want t-xishan", got.Township)
		}
		boxes, err := s.ListBoxes(t.Context())
		if err != nil || len(boxes) != 1 || boxes[0].Township != "t-xishan" {
			t.Errorf("ListBoxes = %+v, %v", boxes, err)
		}
		// The fleet at a glance is scoped by it too.
		ovs, err := s.ListOverviews(t.Context(), 1, nil)
		if err != nil || len(ovs) != 1 || ovs[0].Box.Township != "t-xishan" {
			t.Errorf("ListOverviews = %+v, %v", ovs, err)
		}
	})

	t.Run("a user keeps its township and a move ends its sessions", func(t *testing.T) {
		s := fresh(t, open)
		ctx := t.Context()
		u := store.User{Name: "clerk", PasswordHash: []byte("h"), Role: store.RoleOperator, CreatedAt: t0, Township: "t-dongshan"}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetUser(ctx, "clerk"); err != nil || got.Township != "t-dongshan" {
			t.Errorf("GetUser = %+v, %v", got, err)
		}
		if err := s.PutSession(ctx, store.Session{TokenHash: []byte("tok"), User: "clerk", CreatedAt: t0, ExpiresAt: t0.Add(1e12)}); err != nil {
			t.Fatal(err)
		}
		after, err := s.UpdateUser(ctx, "clerk", func(u *store.User) error { u.Township = ""; return nil })
		if err != nil || after.Township != "" {
			t.Fatalf("UpdateUser = %+v, %v", after, err)
		}
		if _, err := s.GetSession(ctx, []byte("tok")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("session after a move of township: %v, want ErrNotFound", err)
		}
		if us, err := s.ListUsers(ctx); err != nil || len(us) != 1 || us[0].Township != "" {
			t.Errorf("ListUsers = %+v, %v", us, err)
		}
	})

	t.Run("a claim keeps its township", func(t *testing.T) {
		s := fresh(t, open)
		c := newClaim("village-9", 7)
		c.Township = "t-xishan"
		cs, err := s.CreateClaims(t.Context(), []store.Claim{c}, store.AuditRecord{Time: t0, Actor: "admin", Action: "claim.create"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.GetClaim(t.Context(), cs[0].ID)
		if err != nil || got.Township != "t-xishan" {
			t.Errorf("GetClaim = %+v, %v", got, err)
		}
	})
}
