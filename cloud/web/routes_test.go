package web

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/tts"
)

// wantRoutes is every route of the API and the action it must ask for
// (open: none): the spec the walk below holds the server to. A route
// added to the server without a line here fails the walk, as does a line
// left here for a route that went.
func wantRoutes() map[string]auth.Action {
	const open = auth.Action(0)
	return map[string]auth.Action{
		"GET /healthz":        open,
		"POST /api/v1/login":  open,
		"POST /api/v1/logout": auth.ActionSignedIn,

		"GET /api/v1/boxes":                auth.ActionViewBoxes,
		"POST /api/v1/boxes":               auth.ActionManageBoxes,
		"GET /api/v1/boxes/{id}":           auth.ActionViewBoxes,
		"PUT /api/v1/boxes/{id}":           auth.ActionManageBoxes,
		"POST /api/v1/boxes/{id}/rotate":   auth.ActionManageBoxes,
		"POST /api/v1/boxes/{id}/retire":   auth.ActionManageBoxes,
		"GET /api/v1/boxes/{id}/events":    auth.ActionViewBoxes,
		"POST /api/v1/boxes/{id}/commands": auth.ActionSendCommands,

		"GET /api/v1/boxes/{id}/broadcast":            auth.ActionViewBroadcast,
		"PUT /api/v1/boxes/{id}/broadcast":            auth.ActionManageBroadcast,
		"PUT /api/v1/boxes/{id}/speakers/{sid}":       auth.ActionManageBroadcast,
		"DELETE /api/v1/boxes/{id}/speakers/{sid}":    auth.ActionManageBroadcast,
		"PUT /api/v1/boxes/{id}/zones/{zid}":          auth.ActionManageBroadcast,
		"DELETE /api/v1/boxes/{id}/zones/{zid}":       auth.ActionManageBroadcast,
		"PUT /api/v1/boxes/{id}/schedules/{schid}":    auth.ActionManageBroadcast,
		"DELETE /api/v1/boxes/{id}/schedules/{schid}": auth.ActionManageBroadcast,
		"POST /api/v1/boxes/{id}/speakers/{sid}/test": auth.ActionManageBroadcast,
		"GET /api/v1/boxes/{id}/upcoming":             auth.ActionViewBroadcast,
		"POST /api/v1/media":                          auth.ActionManageBroadcast,
		"GET /api/v1/media":                           auth.ActionViewBroadcast,
		"GET /api/v1/media/{sha}":                     auth.ActionViewBroadcast,
		"POST /api/v1/media/speech":                   auth.ActionManageBroadcast,

		"POST /api/v1/boxes/{id}/play":               auth.ActionPlayNow,
		"POST /api/v1/boxes/{id}/stop":               auth.ActionPlayNow,
		"POST /api/v1/boxes/{id}/volume":             auth.ActionPlayNow,
		"POST /api/v1/boxes/{id}/paging":             auth.ActionPage,
		"DELETE /api/v1/boxes/{id}/paging/{session}": auth.ActionPage,

		"GET /api/v1/boxes/{id}/cameras":                         auth.ActionViewCameras,
		"PUT /api/v1/boxes/{id}/cameras":                         auth.ActionManageCameras,
		"PUT /api/v1/boxes/{id}/cameras/{cid}":                   auth.ActionManageCameras,
		"DELETE /api/v1/boxes/{id}/cameras/{cid}":                auth.ActionManageCameras,
		"POST /api/v1/boxes/{id}/cameras/{cid}/probe":            auth.ActionManageCameras,
		"POST /api/v1/boxes/{id}/cameras/{cid}/whep":             auth.ActionViewCameras,
		"DELETE /api/v1/boxes/{id}/cameras/{cid}/whep/{session}": auth.ActionViewCameras,
		"POST /api/v1/boxes/{id}/cameras/discover":               auth.ActionManageCameras,
		"POST /api/v1/boxes/{id}/cameras/onvif":                  auth.ActionManageCameras,
		"POST /api/v1/boxes/{id}/cameras/{cid}/ptz":              auth.ActionSendCommands,
		"GET /api/v1/boxes/{id}/cameras/{cid}/snapshot":          auth.ActionViewCameras,

		"GET /api/v1/villages/{box}/households":               auth.ActionViewLists,
		"POST /api/v1/villages/{box}/households":              auth.ActionEditLists,
		"GET /api/v1/villages/{box}/households/{hid}":         auth.ActionViewLists,
		"PUT /api/v1/villages/{box}/households/{hid}":         auth.ActionEditLists,
		"GET /api/v1/villages/{box}/households/{hid}/points":  auth.ActionViewLists,
		"GET /api/v1/villages/{box}/persons":                  auth.ActionViewLists,
		"POST /api/v1/villages/{box}/persons":                 auth.ActionEditLists,
		"GET /api/v1/villages/{box}/persons/{pid}":            auth.ActionViewLists,
		"PUT /api/v1/villages/{box}/persons/{pid}":            auth.ActionEditLists,
		"GET /api/v1/villages/{box}/roster/template.xlsx":     auth.ActionViewLists,
		"POST /api/v1/villages/{box}/roster/preview":          auth.ActionEditLists,
		"POST /api/v1/villages/{box}/roster/import":           auth.ActionEditLists,
		"GET /api/v1/villages/{box}/categories":               auth.ActionViewLists,
		"PUT /api/v1/villages/{box}/categories":               auth.ActionEditLists,
		"POST /api/v1/villages/{box}/entries":                 auth.ActionEditLists,
		"GET /api/v1/entries":                                 auth.ActionViewLists,
		"GET /api/v1/entries/{eid}":                           auth.ActionViewLists,
		"GET /api/v1/entries/{eid}/history":                   auth.ActionViewEntryHistory,
		"PUT /api/v1/entries/{eid}":                           auth.ActionEditLists,
		"POST /api/v1/entries/{eid}/submit":                   auth.ActionEditLists,
		"POST /api/v1/entries/{eid}/approve":                  auth.ActionReviewLists,
		"POST /api/v1/entries/{eid}/reject":                   auth.ActionReviewLists,
		"POST /api/v1/entries/{eid}/revoke":                   auth.ActionReviewLists,
		"GET /api/v1/villages/{box}/lists/{period}":           auth.ActionViewLists,
		"GET /api/v1/villages/{box}/lists/{period}/poster":    auth.ActionViewLists,
		"POST /api/v1/villages/{box}/lists/{period}/publish":  auth.ActionEditLists,
		"POST /api/v1/villages/{box}/lists/{period}/announce": auth.ActionEditLists,
		"GET /api/v1/villages/{box}/leaderboard":              auth.ActionViewLists,
		"GET /api/v1/villages/{box}/export/lists.xlsx":        auth.ActionViewLists,
		"GET /api/v1/villages/{box}/export/points.xlsx":       auth.ActionViewLists,
		"GET /api/v1/boxes/{id}/export/playlog.xlsx":          auth.ActionViewBoxes,
		"GET /api/v1/boxes/{id}/export/viewings.xlsx":         auth.ActionViewCameras,

		"GET /api/v1/holds":                                     auth.ActionViewObjections,
		"GET /api/v1/holds/{oid}":                               auth.ActionViewObjections,
		"POST /api/v1/entries/{eid}/objections":                 auth.ActionLodgeObjection,
		"POST /api/v1/entries/{eid}/flag":                       auth.ActionFlagLists,
		"POST /api/v1/holds/{oid}/uphold":                       auth.ActionReviewLists,
		"POST /api/v1/holds/{oid}/dismiss":                      auth.ActionReviewLists,
		"GET /api/v1/villages/{box}/goods":                      auth.ActionViewShop,
		"POST /api/v1/villages/{box}/goods":                     auth.ActionRunShop,
		"PUT /api/v1/villages/{box}/goods/{gid}":                auth.ActionRunShop,
		"GET /api/v1/villages/{box}/redemptions":                auth.ActionViewShop,
		"POST /api/v1/villages/{box}/redemptions":               auth.ActionRunShop,
		"POST /api/v1/redemptions/{rid}/cancel":                 auth.ActionRunShop,
		"GET /api/v1/villages/{box}/households/{hid}/account":   auth.ActionViewShop,
		"GET /api/v1/villages/{box}/households/{hid}/statement": auth.ActionViewShop,
		"GET /api/v1/villages/{box}/households/{hid}/links":     auth.ActionManageLinks,
		"POST /api/v1/villages/{box}/households/{hid}/links":    auth.ActionManageLinks,
		"DELETE /api/v1/villages/{box}/households/{hid}/links":  auth.ActionManageLinks,
		"GET /api/v1/villages/{box}/households/{hid}/export":    auth.ActionExportHousehold,
		"GET /api/v1/villages/{box}/chats":                      auth.ActionManageChats,
		"PUT /api/v1/villages/{box}/chats":                      auth.ActionManageChats,
		"GET /api/v1/villages/{box}/deliveries":                 auth.ActionViewLists,
		"GET /api/v1/villages/{box}/lists/{period}/poster.png":  auth.ActionViewLists,
		"GET /p/{img}": open,

		"GET /api/v1/claims":               auth.ActionManageBoxes,
		"POST /api/v1/claims":              auth.ActionManageBoxes,
		"POST /api/v1/claims/sheet":        auth.ActionManageBoxes,
		"POST /api/v1/claims/{cid}/revoke": auth.ActionManageBoxes,
		"POST /api/v1/enroll":              open,

		"GET /api/v1/users":        auth.ActionManageUsers,
		"POST /api/v1/users":       auth.ActionManageUsers,
		"PUT /api/v1/users/{name}": auth.ActionManageUsers,
		"GET /api/v1/audit/recent": auth.ActionViewAudit,
		"GET /api/v1/audit":        auth.ActionViewAudit,

		"GET /api/v1/alerts":                      auth.ActionViewAlerts,
		"GET /api/v1/alerts/incidents":            auth.ActionViewAlerts,
		"GET /api/v1/alerts/settings":             auth.ActionViewAlerts,
		"PUT /api/v1/alerts/channels/{cid}":       auth.ActionManageAlerts,
		"DELETE /api/v1/alerts/channels/{cid}":    auth.ActionManageAlerts,
		"POST /api/v1/alerts/channels/{cid}/test": auth.ActionManageAlerts,
		"PUT /api/v1/alerts/rules/{kind}":         auth.ActionManageAlerts,
		"PUT /api/v1/alerts/quiet":                auth.ActionManageAlerts,
		"DELETE /api/v1/alerts/quiet":             auth.ActionManageAlerts,
		"POST /api/v1/boxes/{id}/diag/logs":       auth.ActionDiagnose,
		"POST /api/v1/boxes/{id}/diag/config":     auth.ActionDiagnose,
		"POST /api/v1/boxes/{id}/diag/check":      auth.ActionDiagnose,
		"POST /api/v1/boxes/{id}/restart":         auth.ActionRestartBox,
		"POST /api/v1/releases":                   auth.ActionManageUpdates,
		"GET /api/v1/releases":                    auth.ActionViewUpdates,
		"POST /api/v1/rollouts":                   auth.ActionManageUpdates,
		"GET /api/v1/rollouts":                    auth.ActionViewUpdates,
		"GET /api/v1/rollouts/{id}":               auth.ActionViewUpdates,
		"POST /api/v1/rollouts/{id}/pause":        auth.ActionManageUpdates,
		"POST /api/v1/rollouts/{id}/resume":       auth.ActionManageUpdates,
		"POST /api/v1/rollouts/{id}/cancel":       auth.ActionManageUpdates,
		"POST /api/v1/plan-jobs":                  auth.ActionManageBroadcast,
		"GET /api/v1/plan-jobs":                   auth.ActionViewBroadcast,
		"GET /api/v1/plan-jobs/{job}":             auth.ActionViewBroadcast,

		"GET /api/v1/townships":           auth.ActionSignedIn,
		"POST /api/v1/townships":          auth.ActionManageTownships,
		"GET /api/v1/townships/{tid}":     auth.ActionSignedIn,
		"PUT /api/v1/townships/{tid}":     auth.ActionManageTownships,
		"PUT /api/v1/boxes/{id}/township": auth.ActionManageTownships,
	}
}

// pathValues fill a route's wildcards with values that name nothing the
// request could change (unknown entries, sessions, accounts), or the one
// village: the walk is about who is refused, not what is done.
var pathValues = map[string]string{
	"id": "village-1", "box": "village-1", "period": "2026-11",
	"sid": "s-none", "zid": "z-none", "schid": "sch-none", "cid": "cam-none", "session": "sess-none",
	"eid": "999", "hid": "h99", "pid": "p99", "name": "nobody", "sha": strings.Repeat("0", 64),
	"oid": "999", "gid": "g-none", "rid": "999", "img": strings.Repeat("0", 32) + ".png", "kind": "rule-none",
	"job": "job-none", "tid": "t-none",
}

// requestOf is a request a route's pattern matches: its method and a path
// with the wildcards filled.
func requestOf(t *testing.T, pattern string) (method, path string) {
	t.Helper()
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		t.Fatalf("route %q has no method", pattern)
	}
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") {
			name := strings.Trim(seg, "{}.")
			v, ok := pathValues[name]
			if !ok {
				t.Fatalf("route %q: no test value for {%s}", pattern, name)
			}
			seg = v
		}
		out = append(out, seg)
	}
	return method, strings.Join(out, "/")
}

// TestEveryRouteFollowsTheTable walks every route the API registers with
// a fresh token of each role: a role auth's table allows is never refused
// with 403 (nor 401), any other always is; without a token every route
// but the open ones answers 401.
func TestEveryRouteFollowsTheTable(t *testing.T) {
	speech, err := tts.NewEspeak(tts.EspeakConfig{}) // never run: every body here is refused before it speaks
	if err != nil {
		t.Fatal(err)
	}
	e := newListsEnvWith(t, speech)
	users := map[store.Role]string{store.RoleAdmin: admin1, store.RoleReviewer: reviewer1, store.RoleOperator: operator1, store.RoleViewer: viewer1,
		store.RoleSupervisor: supervisor1}
	if len(users) != len(auth.Roles()) {
		t.Fatalf("users for %d roles, there are %d", len(users), len(auth.Roles()))
	}
	// One token per role, made afresh after a route that may end it.
	tokens := map[store.Role]string{}
	token := func(t *testing.T, role store.Role) string {
		t.Helper()
		if tok, ok := tokens[role]; ok {
			return tok
		}
		var out struct{ Token string }
		if code := e.call(t, "", "POST", "/api/v1/login", fmt.Sprintf(`{"username":%q,"password":"password-1234"}`, users[role]), &out); code != 200 {
			t.Fatalf("login %s: %d", users[role], code)
		}
		tokens[role] = out.Token
		return out.Token
	}
	want := wantRoutes()
	routes := e.api.Routes()
	seen := map[string]bool{}
	for _, rt := range routes {
		if seen[rt.Pattern] {
			t.Errorf("%s is registered twice", rt.Pattern)
		}
		seen[rt.Pattern] = true
		wa, ok := want[rt.Pattern]
		switch {
		case !ok:
			t.Errorf("%s is served but not in wantRoutes: say which action it needs", rt.Pattern)
			continue
		case rt.Open != (wa == 0):
			t.Errorf("%s: open %t, want %t", rt.Pattern, rt.Open, wa == 0)
		case rt.Action != wa:
			t.Errorf("%s asks for %s, want %s", rt.Pattern, rt.Action, wa)
		}
		method, path := requestOf(t, rt.Pattern)
		send := func(tok string) (int, string) {
			code, b, _ := e.raw(t, tok, method, path, "application/json", []byte("{}"), nil)
			return code, string(b)
		}
		t.Run(rt.Pattern, func(t *testing.T) {
			if rt.Open {
				// Sign-in refuses "{}" as a wrong password, not for want
				// of a token.
				code, b, h := e.raw(t, "", method, path, "application/json", []byte("{}"), nil)
				if code == http.StatusForbidden || h.Get("WWW-Authenticate") != "" {
					t.Errorf("open route without a token: %d %s", code, b)
				}
				return
			}
			if rt.Action == 0 || len(auth.RolesAllowed(rt.Action)) == 0 {
				t.Fatalf("registered with %s, which no role may do", rt.Action)
			}
			if code, b := send(""); code != http.StatusUnauthorized {
				t.Errorf("without a token: %d %s, want 401", code, b)
			}
			if strings.HasSuffix(rt.Pattern, "/logout") {
				defer clear(tokens) // signed out: the next route signs in again
			}
			for _, role := range auth.Roles() {
				code, b := send(token(t, role))
				allowed := auth.Allowed(role, rt.Action)
				switch {
				case allowed && (code == http.StatusForbidden || code == http.StatusUnauthorized):
					t.Errorf("%s may %s, but got %d %s", role, rt.Action, code, b)
				case !allowed && code != http.StatusForbidden:
					t.Errorf("%s may not %s, but got %d %s", role, rt.Action, code, b)
				}
			}
		})
	}
	for p := range want {
		if !seen[p] {
			t.Errorf("%s is in wantRoutes but not served", p)
		}
	}
}

// TestTheAuditTrailIsNotForEveryone: the measured defect. A viewer and an
// operator read neither the whole trail nor its newest records; an
// operator reads one entry's history, a viewer not even that.
func TestTheAuditTrailIsNotForEveryone(t *testing.T) {
	e := newListsEnv(t)
	e.registers(t)
	id := e.entry(t, operator1, `{"kind":"red","subject":{"kind":"person","id":"p1"},"category":"孝老爱亲","reason":"照顾老人","period":"2026-11"}`)
	history := fmt.Sprintf("/api/v1/entries/%d/history", id)
	cases := []struct {
		user, path string
		want       int
	}{
		{viewer1, "/api/v1/audit", 403},
		{viewer1, "/api/v1/audit?entry=" + strconv.FormatUint(id, 10), 403},
		{viewer1, "/api/v1/audit/recent", 403},
		{viewer1, history, 403},
		{operator1, "/api/v1/audit", 403},
		{operator1, "/api/v1/audit/recent", 403},
		{operator1, history, 200},
		{reviewer1, "/api/v1/audit", 200},
		{admin1, "/api/v1/audit/recent", 200},
	}
	for _, c := range cases {
		e.do(t, c.user, "GET", c.path, "", c.want, nil)
	}
	// The history holds the entry's records and nothing else: no sign-ins.
	var page struct{ Records []auditJSON }
	e.do(t, operator1, "GET", history, "", 200, &page)
	if len(page.Records) != 1 || page.Records[0].Action != "entry.create" || page.Records[0].Entry != id {
		b, _ := json.Marshal(page.Records)
		t.Errorf("history of entry %d: %s", id, b)
	}
}

// TestRoutesAreRegisteredOnlyWithAnAction reads this package's source: a
// route handed to the mux anywhere but route and open would escape both
// the table and the walk above. The catch-all answering 404 is the one
// exception.
func TestRoutesAreRegisteredOnlyWithAnAction(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || !slices.Contains([]string{"Handle", "HandleFunc"}, sel.Sel.Name) {
					return true
				}
				if x, ok := sel.X.(*ast.SelectorExpr); !ok || x.Sel.Name != "mux" {
					return true
				}
				checked++
				if fn.Name.Name == "route" || fn.Name.Name == "open" {
					return true
				}
				if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Value == `"/"` && fn.Name.Name == "New" {
					return true
				}
				t.Errorf("%s: %s registers a route on the mux directly; use s.route with its action", fset.Position(call.Pos()), fn.Name.Name)
				return true
			})
		}
	}
	if checked < 3 {
		t.Fatalf("found %d registrations: the check looks at nothing", checked)
	}
}
