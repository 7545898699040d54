package auth

import (
	"errors"
	"testing"

	"github.com/dalaba/dalaba/cloud/store"
)

// TestScopeCovers: the county covers every unit and what lies directly
// under it; a township covers its own and nothing else, not even the
// county's own villages.
func TestScopeCovers(t *testing.T) {
	county, east := CountyScope(), ScopeOf(store.User{Township: "t-east"})
	cases := []struct {
		scope    Scope
		township string
		want     bool
	}{
		{county, "", true}, {county, "t-east", true}, {county, "t-west", true},
		{east, "t-east", true}, {east, "t-west", false}, {east, "", false},
	}
	for _, c := range cases {
		if got := c.scope.Covers(c.township); got != c.want {
			t.Errorf("%+v.Covers(%q) = %t, want %t", c.scope, c.township, got, c.want)
		}
	}
	if !county.County() || east.County() || east.Township() != "t-east" {
		t.Errorf("County/Township: %+v %+v", county, east)
	}
	if east.CoversAll([]string{"t-east", "t-west"}) || !east.CoversAll([]string{"t-east", "t-east"}) || !county.CoversAll([]string{"", "t-west"}) {
		t.Error("CoversAll")
	}
}

// TestDecide: the decision is the role's row, the target's unit and, for
// the county's own actions, the user's.
func TestDecide(t *testing.T) {
	countyAdmin := store.User{Role: store.RoleAdmin}
	eastAdmin := store.User{Role: store.RoleAdmin, Township: "t-east"}
	eastViewer := store.User{Role: store.RoleViewer, Township: "t-east"}
	cases := []struct {
		name     string
		u        store.User
		a        Action
		township string
		want     bool
	}{
		{"a township admin manages its own users", eastAdmin, ActionManageUsers, "t-east", true},
		{"but not another township's", eastAdmin, ActionManageUsers, "t-west", false},
		{"nor the county's", eastAdmin, ActionManageUsers, "", false},
		{"a county admin manages any", countyAdmin, ActionManageUsers, "t-west", true},
		{"only the county makes townships", eastAdmin, ActionManageTownships, "t-east", false},
		{"the county admin does", countyAdmin, ActionManageTownships, "", true},
		{"alert channels are the county's", eastAdmin, ActionManageAlerts, "t-east", false},
		{"the role still counts in the unit", eastViewer, ActionManageBoxes, "t-east", false},
		{"a viewer looks at its villages", eastViewer, ActionViewBoxes, "t-east", true},
		{"not at another's", eastViewer, ActionViewBoxes, "t-west", false},
	}
	for _, c := range cases {
		if got := Decide(c.u, c.a, c.township); got != c.want {
			t.Errorf("%s: Decide = %t, want %t", c.name, got, c.want)
		}
	}
	if CanIn(eastAdmin)["ManageTownships"] || !CanIn(countyAdmin)["ManageTownships"] || !CanIn(eastAdmin)["ManageUsers"] {
		t.Error("CanIn does not follow the county flag")
	}
}

// TestUsersOfTownships: a user is made in an existing township only, may
// be moved by another, and the county keeps an enabled admin of its own.
func TestUsersOfTownships(t *testing.T) {
	a, _, st := newAuthStore(t)
	ctx := t.Context()
	if err := a.AddUser(ctx, "boss", "password-boss", store.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateTownship(ctx, store.Township{ID: "t-east", Name: "东山镇"}); err != nil {
		t.Fatal(err)
	}
	if err := a.AddUserIn(ctx, "li", "password-1234", store.RoleOperator, "t-none"); !errors.Is(err, ErrInvalid) {
		t.Errorf("a user of an unknown township: %v, want ErrInvalid", err)
	}
	if err := a.AddUserIn(ctx, "li", "password-1234", store.RoleAdmin, "t-east"); err != nil {
		t.Fatal(err)
	}
	if u, err := a.User(ctx, "li"); err != nil || u.Township != "t-east" {
		t.Errorf("li = %+v, %v", u, err)
	}
	county := ""
	if _, after, err := a.Update(ctx, "boss", "li", Change{Township: &county}); err != nil || after.Township != "" {
		t.Errorf("moving li to the county: %+v, %v", after, err)
	}
	if _, _, err := a.Update(ctx, "li", "li", Change{Township: ptr("t-east")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("li moving themself: %v, want ErrInvalid", err)
	}
}
