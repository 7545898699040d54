package console

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/alert"
	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/bulk"
	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/media"
	"github.com/dalaba/dalaba/cloud/plan"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/web"
	"github.com/dalaba/dalaba/protocol"
)

// secDownlink stands in for MQTT (which needs a broker) and remembers
// every command the API sent, to see that a refused request sent none.
type secDownlink struct {
	mu   sync.Mutex
	sent []string
}

func (d *secDownlink) SendCommand(_ context.Context, box, typ string, _ any, _ time.Duration) (protocol.CommandResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sent = append(d.sent, box+" "+typ)
	res := protocol.CommandResult{V: 1, ID: "c1", BoxID: box, OK: true}
	// What a box answers the diagnostics with, for the pages' scripts.
	switch typ {
	case protocol.CmdDiagLogs:
		res.Data = json.RawMessage(`{"lines":["time=2026-12-01T08:00:00Z level=INFO msg=\"box running\" component=edge"],"lost":0}`)
	case protocol.CmdDiagCheck:
		res.Data = json.RawMessage(`{"probes":[{"target":"broker","addr":"township:1883","ok":true,"code":"ok","detail":"TCP connection made (tls)","ms":12},` +
			`{"target":"speaker","id":"horn-1","addr":"192.168.1.20:5004","ok":false,"code":"unreachable","detail":"no device answered ARP","ms":3000}],"at":"2026-12-01T08:00:00Z"}`)
	case protocol.CmdDiagConfig:
		res.Data = json.RawMessage(`{"yaml":"box_id: village-1\n","redacted":["broker.password"]}`)
	}
	return res, nil
}

func (d *secDownlink) Rejected(string) uint64 { return 0 }

func (d *secDownlink) Connected() bool { return true }

func (d *secDownlink) commands() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.sent...)
}

type secPublisher struct{}

func (secPublisher) PublishDesired(context.Context, string, []byte) error { return nil }

// apiEnv is the console of newEnv with the real JSON API (cloud/web) behind
// it, over the same store, auth and lists, so the bridge, the API's role
// checks and its audit are exercised as in the service.
type apiEnv struct {
	*env
	dl  *secDownlink
	api *web.Server
	lib *media.Library
}

func newAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	base := newEnv(t, false) // its store, users, box and lists; its server goes unused
	log := slog.New(slog.DiscardHandler)
	key, err := protocol.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	fl, err := fleet.New(fleet.Config{Validity: 720 * time.Hour, BrokerURL: "tls://township.example:8883", CloudUser: "dalaba_cloud"},
		fleet.Deps{Logger: log, Store: base.st, Key: key, Publisher: secPublisher{}})
	if err != nil {
		t.Fatal(err)
	}
	lib, err := media.New(media.Config{Dir: filepath.Join(t.TempDir(), "media")}, media.Deps{Logger: log, Index: base.st, Plans: base.st,
		BoxAuth: func(context.Context, string, string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := plan.New(plan.Deps{Logger: log, Store: base.st, Fleet: fl})
	if err != nil {
		t.Fatal(err)
	}
	dl := &secDownlink{}
	eng, err := alert.New(alert.Config{}, alert.Deps{Logger: log, Store: base.st, Presence: fl})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := bulk.New(bulk.Deps{Logger: log, Planner: pl})
	if err != nil {
		t.Fatal(err)
	}
	jobsCtx, stopJobs := context.WithCancel(context.Background())
	jobsDone := make(chan error)
	go func() { jobsDone <- jobs.Run(jobsCtx) }()
	t.Cleanup(func() {
		stopJobs()
		if err := <-jobsDone; err != nil {
			t.Errorf("jobs: %v", err)
		}
	})
	api, err := web.New(web.Deps{Logger: log, Store: base.st, Auth: base.au, Fleet: fl, Downlink: dl, Planner: pl, Media: lib, Lists: base.ls, Alerts: eng,
		Jobs: jobs})
	if err != nil {
		t.Fatal(err)
	}
	con, err := New(Config{Interval: 20 * time.Millisecond}, Deps{Logger: log, Store: base.st, Auth: base.au, Next: api.Handler(), Lists: base.ls})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(con.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(con.Shutdown)
	return &apiEnv{env: &env{srv: srv, st: base.st, con: con, ls: base.ls, au: base.au}, dl: dl, api: api, lib: lib}
}

// send makes a request with a JSON body (none when body is "") and the
// headers hdr, as a page's script would.
func (e *env) send(t *testing.T, c *http.Client, method, path, body string, hdr ...string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, c, req)
}

// trailLen is how many audit records there are.
func (e *env) trailLen(t *testing.T) int {
	t.Helper()
	rs, err := e.st.ListAudit(t.Context(), store.AuditFilter{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	return len(rs)
}

func (e *env) roleOf(t *testing.T, name string) store.User {
	t.Helper()
	u, err := e.st.GetUser(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSecurityWithoutSession(t *testing.T) {
	e := newAPIEnv(t)
	c := e.client(t)
	cases := []struct {
		name, method, path, body string
		hdr                      []string
		want                     int
	}{
		{"users page", "GET", "/users", "", []string{"Accept", "text/html"}, http.StatusSeeOther},
		{"lists page", "GET", "/lists", "", []string{"Accept", "text/html"}, http.StatusSeeOther},
		{"dashboard", "GET", "/", "", []string{"Accept", "text/html"}, http.StatusSeeOther},
		{"bridge read", "GET", "/ui/api/users", "", nil, http.StatusUnauthorized},
		{"bridge boxes", "GET", "/ui/api/boxes", "", nil, http.StatusUnauthorized},
		{"bridge add user", "POST", "/ui/api/users", `{"name":"x1","password":"password1","role":"admin"}`, []string{csrfHeader, "x"}, http.StatusUnauthorized},
		{"bridge change user", "PUT", "/ui/api/users/viewer", `{"role":"admin"}`, []string{csrfHeader, "x"}, http.StatusUnauthorized},
		{"bridge play", "POST", "/ui/api/boxes/village-1/play", `{"media":[]}`, []string{csrfHeader, "x"}, http.StatusUnauthorized},
		{"bridge with a stale cookie", "GET", "/ui/api/audit/recent", "", []string{"Cookie", sessionCookie + "=gone"}, http.StatusUnauthorized},
	}
	trail := e.trailLen(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var a answer
			if strings.HasPrefix(tc.path, "/ui/api/") {
				a = e.send(t, c, tc.method, tc.path, tc.body, tc.hdr...)
			} else {
				a = e.get(t, c, tc.path, tc.hdr...)
			}
			if a.code != tc.want {
				t.Fatalf("%d, want %d: %s", a.code, tc.want, a.body)
			}
			if a.code == http.StatusSeeOther && a.h.Get("Location") != "/login" {
				t.Errorf("redirect to %q, want /login", a.h.Get("Location"))
			}
			if a.code == http.StatusUnauthorized && !strings.Contains(a.body, `"error"`) {
				t.Errorf("401 without a JSON error: %s", a.body)
			}
		})
	}
	if u := e.roleOf(t, "viewer"); u.Role != store.RoleViewer {
		t.Errorf("the viewer became %s", u.Role)
	}
	if _, err := e.st.GetUser(t.Context(), "x1"); err == nil {
		t.Error("a user was added without a session")
	}
	if got := e.dl.commands(); len(got) != 0 {
		t.Errorf("commands sent without a session: %v", got)
	}
	if n := e.trailLen(t); n != trail {
		t.Errorf("the trail grew from %d to %d", trail, n)
	}
}

func TestSecurityCSRF(t *testing.T) {
	e := newAPIEnv(t)
	admin, adminTok := e.signedIn(t, store.RoleAdmin)
	_, viewerTok := e.signedIn(t, store.RoleViewer)
	id := e.draft(t, thisPeriod(), true)
	entry := strconv.FormatUint(id, 10)
	cases := []struct {
		name, method, path, body string
		token                    string // sent as the header; "" for none
	}{
		{"add user, no token", "POST", "/ui/api/users", `{"name":"intruder","password":"password1","role":"admin"}`, ""},
		{"add user, another session's token", "POST", "/ui/api/users", `{"name":"intruder","password":"password1","role":"admin"}`, viewerTok},
		{"add user, a forged token", "POST", "/ui/api/users", `{"name":"intruder","password":"password1","role":"admin"}`, adminTok + "x"},
		{"promote, no token", "PUT", "/ui/api/users/viewer", `{"role":"admin"}`, ""},
		{"promote, another session's token", "PUT", "/ui/api/users/viewer", `{"role":"admin"}`, viewerTok},
		{"disable, another session's token", "PUT", "/ui/api/users/operator", `{"disabled":true}`, viewerTok},
		{"stop, no token", "POST", "/ui/api/boxes/village-1/stop", `{}`, ""},
		{"stop, another session's token", "POST", "/ui/api/boxes/village-1/stop", `{}`, viewerTok},
		{"approve, another session's token", "POST", "/ui/api/entries/" + entry + "/approve", `{}`, viewerTok},
	}
	trail := e.trailLen(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.token != "" {
				hdr = []string{csrfHeader, tc.token}
			}
			// Without the CSRF header a script's request is told apart by Accept.
			if a := e.send(t, admin, tc.method, tc.path, tc.body, hdr...); a.code != http.StatusForbidden {
				t.Fatalf("%d, want 403: %s", a.code, a.body)
			}
		})
	}
	// The page forms too: another session's token in the form field.
	if a := e.post(t, admin, "/lists/entries/"+entry+"/approve", actionForm(viewerTok, thisPeriod())); a.code != http.StatusForbidden {
		t.Errorf("form approve with another session's token: %d, want 403", a.code)
	}
	if a := e.post(t, admin, "/logout", url.Values{"csrf": {viewerTok}}); a.code != http.StatusForbidden {
		t.Errorf("logout with another session's token: %d, want 403", a.code)
	}

	// Nothing changed.
	if _, err := e.st.GetUser(t.Context(), "intruder"); err == nil {
		t.Error("a user was added without a valid CSRF token")
	}
	if u := e.roleOf(t, "viewer"); u.Role != store.RoleViewer {
		t.Errorf("the viewer became %s", u.Role)
	}
	if u := e.roleOf(t, "operator"); u.Disabled {
		t.Error("the operator was disabled")
	}
	if got := e.dl.commands(); len(got) != 0 {
		t.Errorf("commands sent: %v", got)
	}
	if v, err := e.ls.Entry(t.Context(), id); err != nil || len(v.Approvals) != 0 {
		t.Errorf("the entry was approved: %+v %v", v.Approvals, err)
	}
	if n := e.trailLen(t); n != trail {
		t.Errorf("the trail grew from %d to %d", trail, n)
	}
	if a := e.get(t, admin, "/"); a.code != http.StatusOK {
		t.Errorf("the admin's session ended: %d", a.code)
	}

	// With its own token the same request goes through (the refusals were
	// about the token, not the request).
	if a := e.send(t, admin, "POST", "/ui/api/users", `{"name":"newcomer","password":"password1","role":"viewer"}`, csrfHeader, adminTok); a.code != http.StatusCreated {
		t.Fatalf("add user with the right token: %d %s", a.code, a.body)
	}
}

func TestSecurityViewerCannotChange(t *testing.T) {
	e := newAPIEnv(t)
	period := thisPeriod()
	id := e.draft(t, period, true)
	entry := strconv.FormatUint(id, 10)
	viewer, tok := e.signedIn(t, store.RoleViewer)
	cases := []struct{ name, method, path, body string }{
		{"play", "POST", "/ui/api/boxes/village-1/play", `{"media":["` + strings.Repeat("a", 64) + `"]}`},
		{"stop", "POST", "/ui/api/boxes/village-1/stop", `{}`},
		{"command", "POST", "/ui/api/boxes/village-1/commands", `{"type":"box.ping"}`},
		{"approve", "POST", "/ui/api/entries/" + entry + "/approve", `{}`},
		{"publish", "POST", "/ui/api/villages/village-1/lists/" + period + "/publish", `{}`},
		{"add user", "POST", "/ui/api/users", `{"name":"x1","password":"password1","role":"admin"}`},
		{"promote oneself", "PUT", "/ui/api/users/viewer", `{"role":"admin"}`},
		{"read users", "GET", "/ui/api/users", ``},
		{"read the whole trail", "GET", "/ui/api/audit/recent", ``},
	}
	trail := e.trailLen(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if a := e.send(t, viewer, tc.method, tc.path, tc.body, csrfHeader, tok); a.code != http.StatusForbidden {
				t.Fatalf("%d, want 403: %s", a.code, a.body)
			}
		})
	}
	if a := e.post(t, viewer, "/lists/entries/"+entry+"/approve", actionForm(tok, period)); a.code != http.StatusForbidden {
		t.Errorf("form approve: %d, want 403", a.code)
	}
	if got := e.dl.commands(); len(got) != 0 {
		t.Errorf("commands sent for a viewer: %v", got)
	}
	if v, err := e.ls.Entry(t.Context(), id); err != nil || len(v.Approvals) != 0 || v.Status != store.StatusInReview {
		t.Errorf("the entry after the viewer: %+v %v", v, err)
	}
	if u := e.roleOf(t, "viewer"); u.Role != store.RoleViewer {
		t.Errorf("the viewer became %s", u.Role)
	}
	if n := e.trailLen(t); n != trail {
		t.Errorf("the trail grew from %d to %d", trail, n)
	}

	// And sees no such buttons.
	if a := e.get(t, viewer, listsPath(period)); a.code != http.StatusOK || strings.Contains(a.body, "act-approve") || strings.Contains(a.body, "publish-form") {
		t.Errorf("the lists page offers a viewer approve or publish (%d):\n%s", a.code, a.body)
	}
	for _, p := range []string{"/", listsPath(period)} {
		if a := e.get(t, viewer, p); strings.Contains(a.body, `id="nav-users"`) {
			t.Errorf("%s shows a viewer the users link", p)
		}
	}
	if a := e.get(t, viewer, "/users"); a.code != http.StatusForbidden || strings.Contains(a.body, "add-user") {
		t.Errorf("users page for a viewer: %d", a.code)
	}
}

func TestSecurityLoginLimitWithTheAPI(t *testing.T) {
	e := newAPIEnv(t)
	// A session opened before the spray keeps working throughout.
	admin, _ := e.signedIn(t, store.RoleAdmin)
	c := e.client(t)
	for i := range auth.MaxFailures {
		if a := e.login(t, c, "viewer", "wrong-password"); a.code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, a.code)
		}
	}
	if a := e.login(t, c, "viewer", "password-viewer"); a.code != http.StatusTooManyRequests || a.h.Get("Retry-After") == "" {
		t.Fatalf("the console form after %d failures: %d", auth.MaxFailures, a.code)
	}
	// The API counts the same failures: one limiter, wherever the guess comes from.
	a := e.send(t, c, "POST", "/api/v1/login", `{"username":"viewer","password":"password-viewer"}`)
	if a.code != http.StatusTooManyRequests {
		t.Fatalf("the API login after the console's failures: %d %s", a.code, a.body)
	}
	if a := e.send(t, admin, "GET", "/ui/api/users", ""); a.code != http.StatusOK {
		t.Errorf("the admin's session during the limit: %d", a.code)
	}
	// Refused sign-ins are not in the trail; the admin's is.
	rs, err := e.st.ListAudit(t.Context(), store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var logins []string
	for _, r := range rs {
		if r.Action == "login" {
			logins = append(logins, r.Actor)
		}
	}
	if len(logins) != 1 || logins[0] != "admin" {
		t.Errorf("login records %v, want only the admin's", logins)
	}
}

// The bridge turns a session into the API's bearer token and nothing
// more: an Authorization header a page sends is replaced, not trusted.
func TestSecurityBridgeIgnoresForeignBearer(t *testing.T) {
	e := newAPIEnv(t)
	adminTok, _, err := e.au.Login(t.Context(), "admin", "password-admin", "10.9.9.9")
	if err != nil {
		t.Fatal(err)
	}
	viewer, tok := e.signedIn(t, store.RoleViewer)
	a := e.send(t, viewer, "POST", "/ui/api/users", `{"name":"x1","password":"password1","role":"admin"}`,
		csrfHeader, tok, "Authorization", "Bearer "+adminTok)
	if a.code != http.StatusForbidden {
		t.Fatalf("viewer with the admin's bearer through the bridge: %d %s", a.code, a.body)
	}
	var out struct{ Error string }
	if json.Unmarshal([]byte(a.body), &out) != nil || !strings.Contains(out.Error, "viewer") {
		t.Errorf("refusal %s, want the API's for a viewer", a.body)
	}
}
