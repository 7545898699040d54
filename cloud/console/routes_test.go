package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
)

// wantRoutes is every console route and the action it must ask for (open:
// none). A route added without a line here fails the walk below.
func wantRoutes() map[string]auth.Action {
	const open = auth.Action(0)
	return map[string]auth.Action{
		"GET /static/":                             open,
		"GET /login":                               open,
		"POST /login":                              open,
		"POST /logout":                             auth.ActionSignedIn,
		"GET /{$}":                                 auth.ActionViewBoxes,
		"GET /events/boxes":                        auth.ActionViewBoxes,
		"GET /lists":                               auth.ActionViewLists,
		"GET /lists/poster":                        auth.ActionViewLists,
		"POST /lists/entries":                      auth.ActionEditLists,
		"POST /lists/entries/{id}/submit":          auth.ActionEditLists,
		"POST /lists/entries/{id}/approve":         auth.ActionReviewLists,
		"POST /lists/entries/{id}/reject":          auth.ActionReviewLists,
		"POST /lists/entries/{id}/revoke":          auth.ActionReviewLists,
		"POST /lists/publish":                      auth.ActionEditLists,
		"POST /lists/entries/{id}/flag":            auth.ActionFlagLists,
		"POST /lists/entries/{id}/object":          auth.ActionLodgeObjection,
		"POST /lists/holds/{id}/uphold":            auth.ActionReviewLists,
		"POST /lists/holds/{id}/dismiss":           auth.ActionReviewLists,
		"GET /lists/shop":                          auth.ActionViewShop,
		"POST /lists/shop/goods":                   auth.ActionRunShop,
		"POST /lists/shop/redeem":                  auth.ActionRunShop,
		"POST /lists/shop/redemptions/{id}/cancel": auth.ActionRunShop,
		"POST /lists/shop/households/{id}/link":    auth.ActionManageLinks,
		// The villager page: no session, the link is the key.
		"GET /v/{id}":         open,
		"POST /v/{id}/object": open,
		bridgePrefix:          auth.ActionSignedIn,
		"GET /villages":       auth.ActionManageBoxes,
		"GET /villages/{id}":  auth.ActionViewBoxes,
		"GET /roster":         auth.ActionEditLists,
		"GET /broadcast":      auth.ActionViewBroadcast,
		"GET /paging":         auth.ActionViewBoxes,
		"GET /cameras":        auth.ActionViewCameras,
		"GET /events":         auth.ActionViewBoxes,
		"GET /users":          auth.ActionManageUsers,
		"GET /alerts":         auth.ActionViewAlerts,
		"GET /diag":           auth.ActionDiagnose,
		"GET /diag/{id}":      auth.ActionDiagnose,
		"GET /updates":        auth.ActionViewUpdates,
		"GET /plan-jobs":      auth.ActionViewBroadcast,
	}
}

// sessions keeps one signed-in browser per role, signing in afresh after
// a request that may have signed it out.
type sessions struct {
	e  *apiEnv
	by map[store.Role]session
}

type session struct {
	c   *http.Client
	tok string
}

func (s *sessions) of(t *testing.T, role store.Role) (*http.Client, string) {
	t.Helper()
	if s.by == nil {
		s.by = map[store.Role]session{}
	}
	if v, ok := s.by[role]; ok {
		return v.c, v.tok
	}
	c, tok := s.e.signedIn(t, role)
	s.by[role] = session{c, tok}
	return c, tok
}

// after forgets the sessions when path signed them out.
func (s *sessions) after(path string) {
	if strings.HasSuffix(path, "/logout") {
		clear(s.by)
	}
}

// consoleRequest is a request a console route's pattern matches.
func consoleRequest(t *testing.T, pattern string) (method, path string) {
	t.Helper()
	method, path, ok := strings.Cut(pattern, " ")
	if !ok { // the bridge: any method under the prefix
		return "GET", pattern + "boxes"
	}
	path = strings.ReplaceAll(path, "{$}", "")
	if strings.HasPrefix(path, "/villages/") {
		path = strings.ReplaceAll(path, "{id}", "village-1")
	}
	path = strings.ReplaceAll(path, "{id}", "999")
	if strings.HasSuffix(path, "/") && path != "/" {
		path += "console.css"
	}
	if strings.Contains(path, "{") {
		t.Fatalf("route %q: no test value for a wildcard", pattern)
	}
	return method, path
}

// status is the status of a request, read as soon as its headers come, so
// an event stream need not end.
func status(t *testing.T, c *http.Client, method, target string, form url.Values) int {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestEveryConsoleRouteFollowsTheTable walks every page and form of the
// console, signed in afresh as each role with a valid CSRF token: a role
// auth's table allows is never refused with 403, any other always is.
func TestEveryConsoleRouteFollowsTheTable(t *testing.T) {
	e := newAPIEnv(t)
	ss := &sessions{e: e}
	want := wantRoutes()
	seen := map[string]bool{}
	for _, rt := range e.con.Routes() {
		seen[rt.Pattern] = true
		wa, ok := want[rt.Pattern]
		switch {
		case !ok:
			t.Errorf("%s is served but not in wantRoutes: say which action it needs", rt.Pattern)
			continue
		case rt.Open != (wa == 0) || rt.Action != wa:
			t.Errorf("%s asks for %s (open %t), want %s", rt.Pattern, rt.Action, rt.Open, wa)
		}
		method, path := consoleRequest(t, rt.Pattern)
		t.Run(rt.Pattern, func(t *testing.T) {
			if rt.Open {
				if strings.HasPrefix(path, "/v/") {
					// A link that was never issued: a plain refusal.
					if code := status(t, e.client(t), method, e.srv.URL+path, url.Values{"entry": {"1"}}); code != http.StatusNotFound {
						t.Errorf("a link never issued: %d, want 404", code)
					}
					return
				}
				if method == "GET" {
					if code := status(t, e.client(t), method, e.srv.URL+path, nil); code != http.StatusOK {
						t.Errorf("without a session: %d, want 200", code)
					}
				} else if a := e.login(t, e.client(t), "viewer", "password-viewer"); a.code != http.StatusSeeOther {
					t.Errorf("signing in: %d", a.code)
				}
				return
			}
			if code := status(t, e.client(t), method, e.srv.URL+path, nil); code != http.StatusSeeOther && code != http.StatusUnauthorized {
				t.Errorf("without a session: %d, want a way to sign in", code)
			}
			defer ss.after(path)
			for _, role := range auth.Roles() {
				c, tok := ss.of(t, role)
				form := url.Values{"csrf": {tok}, "village": {"village-1"}, "period": {thisPeriod()}}
				code := status(t, c, method, e.srv.URL+path, form)
				if allowed := auth.Allowed(role, rt.Action); allowed == (code == http.StatusForbidden) {
					t.Errorf("%s (may %s: %t): %d", role, rt.Action, allowed, code)
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

// TestTheBridgeFollowsTheTable walks every API route through the console's
// bridge, as a page's script would, signed in as each role: the bridge
// neither widens nor narrows what the API's table allows.
func TestTheBridgeFollowsTheTable(t *testing.T) {
	e := newAPIEnv(t)
	ss := &sessions{e: e}
	walked := 0
	for _, rt := range e.api.Routes() {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		if rt.Open || !strings.HasPrefix(path, "/api/v1/") {
			continue
		}
		path = bridgePrefix + strings.TrimPrefix(path, "/api/v1/")
		for name, v := range map[string]string{
			"{id}": "village-1", "{box}": "village-1", "{period}": "2026-11", "{sid}": "s-none", "{zid}": "z-none",
			"{schid}": "sch-none", "{cid}": "cam-none", "{session}": "sess-none", "{eid}": "999", "{hid}": "h99",
			"{pid}": "p99", "{name}": "nobody", "{sha}": strings.Repeat("0", 64),
			"{oid}": "999", "{gid}": "g-none", "{rid}": "999", "{img}": strings.Repeat("0", 32) + ".png", "{kind}": "rule-none",
			"{job}": "job-none", "{tid}": "t-none",
		} {
			path = strings.ReplaceAll(path, name, v)
		}
		if strings.Contains(path, "{") {
			t.Fatalf("%s: no test value for a wildcard", rt.Pattern)
		}
		walked++
		t.Run(rt.Pattern, func(t *testing.T) {
			defer ss.after(path)
			for _, role := range auth.Roles() {
				c, tok := ss.of(t, role)
				a := e.send(t, c, method, path, "{}", csrfHeader, tok)
				if allowed := auth.Allowed(role, rt.Action); allowed == (a.code == http.StatusForbidden) || a.code == http.StatusUnauthorized {
					t.Errorf("%s (may %s: %t): %d %s", role, rt.Action, allowed, a.code, a.body)
				}
			}
		})
	}
	if walked < 50 {
		t.Fatalf("walked %d API routes through the bridge; the API has more", walked)
	}
}

// TestPagesShowWhatTheRoleCan: the forms and links a page offers follow
// the table, never a role's name.
func TestPagesShowWhatTheRoleCan(t *testing.T) {
	e := newEnv(t, false)
	cases := []struct {
		path, marker string
		action       auth.Action
	}{
		{"/", `id="nav-users"`, auth.ActionManageUsers},
		{"/paging", `id="paging-start"`, auth.ActionPage},
		{"/broadcast", `id="bc-speak-form"`, auth.ActionManageBroadcast},
		{"/broadcast", `data-send="true"`, auth.ActionPlayNow},
		{"/plan-jobs", `id="jb-form"`, auth.ActionManageBroadcast},
		{"/", `id="nav-jobs"`, auth.ActionManageBroadcast},
		{listsPath(thisPeriod()), `id="create-form"`, auth.ActionEditLists},
		{"/", `id="nav-villages"`, auth.ActionManageBoxes},
		{"/", `id="nav-roster"`, auth.ActionEditLists},
		{"/villages/village-1", `id="vg-horn-form"`, auth.ActionManageBroadcast},
		{"/villages/village-1", `id="vg-zone-form"`, auth.ActionManageBroadcast},
		{"/villages/village-1", `id="vg-camera-form"`, auth.ActionManageCameras},
		{"/villages/village-1", `data-manage-broadcast="true"`, auth.ActionManageBroadcast},
		{"/villages/village-1", `data-manage-cameras="true"`, auth.ActionManageCameras},
		{"/", `id="nav-diag"`, auth.ActionDiagnose},
		{"/alerts", `id="al-add"`, auth.ActionManageAlerts},
		{"/", `id="nav-updates"`, auth.ActionViewUpdates},
	}
	for _, role := range auth.Roles() {
		c, _ := e.signedIn(t, role)
		for _, tc := range cases {
			a := e.get(t, c, tc.path)
			if a.code != http.StatusOK {
				t.Fatalf("%s %s: %d", role, tc.path, a.code)
			}
			if got, want := strings.Contains(a.body, tc.marker), auth.Allowed(role, tc.action); got != want {
				t.Errorf("%s sees %s on %s: %t, the table says %t", role, tc.marker, tc.path, got, want)
			}
		}
	}
}
