package auth

import (
	"slices"
	"testing"

	"github.com/dalaba/dalaba/cloud/store"
)

// TestTable states who may do what, row by row: a change to the table
// must change this too.
func TestTable(t *testing.T) {
	const (
		A = store.RoleAdmin
		R = store.RoleReviewer
		O = store.RoleOperator
		V = store.RoleViewer
		S = store.RoleSupervisor
	)
	want := map[Action][]store.Role{
		ActionSignedIn:         {A, R, O, S, V},
		ActionViewBoxes:        {A, R, O, S, V},
		ActionManageBoxes:      {A},
		ActionSendCommands:     {A, O},
		ActionViewBroadcast:    {A, R, O, S, V},
		ActionManageBroadcast:  {A, O},
		ActionPlayNow:          {A, O},
		ActionPage:             {A, O},
		ActionViewCameras:      {A, R, O, S, V},
		ActionManageCameras:    {A, O},
		ActionViewLists:        {A, R, O, S, V},
		ActionEditLists:        {A, O},
		ActionReviewLists:      {A, R},
		ActionViewEntryHistory: {A, R, O, S},
		ActionViewAudit:        {A, R, S},
		ActionManageUsers:      {A},
		ActionViewObjections:   {A, R, O, S},
		ActionLodgeObjection:   {A, O},
		ActionFlagLists:        {A, S},
		ActionViewShop:         {A, R, O, S, V},
		ActionRunShop:          {A, O},
		ActionManageLinks:      {A, O},
		ActionManageChats:      {A, O},
		ActionExportHousehold:  {A, O},
		ActionViewPersonalData: {A, O},
		ActionViewAlerts:       {A, R, O, S, V},
		ActionManageAlerts:     {A},
		ActionDiagnose:         {A, O},
		ActionRestartBox:       {A},
		ActionViewUpdates:      {A, O},
		ActionManageUpdates:    {A},
		ActionManageTownships:  {A},
	}
	county := []Action{ActionManageAlerts, ActionManageTownships}
	for _, a := range Actions() {
		if CountyOnly(a) != slices.Contains(county, a) {
			t.Errorf("%s: county only %t, want %t", a, CountyOnly(a), !CountyOnly(a))
		}
	}
	if len(want) != len(Actions()) {
		t.Errorf("%d actions stated here, %d in the table", len(want), len(Actions()))
	}
	for _, a := range Actions() {
		if got := RolesAllowed(a); !slices.Equal(got, want[a]) {
			t.Errorf("%s: %v may, want %v", a, got, want[a])
		}
	}
}

func TestEveryActionHasANameAndARole(t *testing.T) {
	seen := map[string]bool{}
	for _, a := range Actions() {
		name := a.String()
		if name == "" || name == "NoAction" || seen[name] {
			t.Errorf("action %d is named %q", a, name)
		}
		seen[name] = true
		if len(RolesAllowed(a)) == 0 {
			t.Errorf("%s: no role may do it", a)
		}
		if !Allowed(store.RoleAdmin, a) {
			t.Errorf("%s: an admin may not", a)
		}
	}
}

func TestNothingForNoActionOrNoRole(t *testing.T) {
	for _, r := range Roles() {
		if Allowed(r, 0) || Allowed(r, actionEnd) {
			t.Errorf("%s may do an action that does not exist", r)
		}
	}
	for _, a := range Actions() {
		if Allowed("", a) || Allowed("king", a) {
			t.Errorf("a role that does not exist may %s", a)
		}
	}
}

func TestCan(t *testing.T) {
	can := Can(store.RoleReviewer)
	if len(can) != len(Actions()) {
		t.Fatalf("%d capabilities, want one per action", len(can))
	}
	if !can["ReviewLists"] || !can["ViewAudit"] || can["ManageUsers"] || can["PlayNow"] {
		t.Errorf("a reviewer's capabilities: %v", can)
	}
	for _, r := range Roles() {
		for name, ok := range Can(r) {
			if a := actionNamed(t, name); Allowed(r, a) != ok {
				t.Errorf("Can(%s)[%s] = %t, the table says %t", r, name, ok, Allowed(r, a))
			}
		}
	}
}

func actionNamed(t *testing.T, name string) Action {
	t.Helper()
	for _, a := range Actions() {
		if a.String() == name {
			return a
		}
	}
	t.Fatalf("no action %q", name)
	return 0
}
