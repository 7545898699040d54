package web

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/cloud/store"
)

// login signs name in through the API and returns the status and token.
func (e *env) login(t *testing.T, name, password string) (int, string) {
	t.Helper()
	var out struct{ Token string }
	body, err := json.Marshal(map[string]string{"username": name, "password": password})
	if err != nil {
		t.Fatal(err)
	}
	code := e.call(t, "", "POST", "/api/v1/login", string(body), &out)
	return code, out.Token
}

// users lists the accounts as the admin sees them, with the raw answer.
func (e *env) users(t *testing.T) ([]userJSON, string) {
	t.Helper()
	code, b, _ := e.raw(t, e.tokens[store.RoleAdmin], "GET", "/api/v1/users", "", nil, nil)
	var us []userJSON
	if code != 200 || json.Unmarshal(b, &us) != nil {
		t.Fatalf("GET /api/v1/users: %d %s", code, b)
	}
	return us, string(b)
}

// trail is the whole audit trail, oldest first.
func (e *env) trail(t *testing.T) []store.AuditRecord {
	t.Helper()
	rs, err := e.st.ListAudit(t.Context(), store.AuditFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func userPath(name string) string { return "/api/v1/users/" + url.PathEscape(name) }

func TestUsersLifecycle(t *testing.T) {
	e := newEnv(t)
	admin := e.tokens[store.RoleAdmin]

	us, raw := e.users(t)
	var names []string
	for _, u := range us {
		names = append(names, u.Name)
		if u.CreatedAt.IsZero() || u.Disabled {
			t.Errorf("listed %+v", u)
		}
	}
	if want := []string{"admin", "operator", "reviewer", "viewer"}; !slices.Equal(names, want) {
		t.Fatalf("users %v, want %v", names, want)
	}
	for _, secret := range []string{"hash", "password", "$2a$"} {
		if strings.Contains(raw, secret) {
			t.Errorf("the user list shows %q: %s", secret, raw)
		}
	}

	// A new account signs in with its initial password.
	var added userJSON
	if code := e.call(t, admin, "POST", "/api/v1/users", `{"name":"李会计","password":"initial-pass","role":"viewer"}`, &added); code != 201 {
		t.Fatalf("add: %d", code)
	}
	if added.Name != "李会计" || added.Role != store.RoleViewer || added.Disabled {
		t.Fatalf("added %+v", added)
	}
	code, tok := e.login(t, "李会计", "initial-pass")
	if code != 200 {
		t.Fatalf("the new account's login: %d", code)
	}

	// A new role ends the session; the next one has the role.
	var changed userJSON
	if code := e.call(t, admin, "PUT", userPath("李会计"), `{"role":"operator"}`, &changed); code != 200 || changed.Role != store.RoleOperator {
		t.Fatalf("role change: %d %+v", code, changed)
	}
	if code := e.call(t, tok, "GET", "/api/v1/boxes", "", nil); code != 401 {
		t.Errorf("the session after the role change: %d, want 401", code)
	}
	_, tok = e.login(t, "李会计", "initial-pass")
	if code := e.call(t, tok, "POST", "/api/v1/boxes/village-1/stop", `{}`, nil); code == 403 {
		t.Error("the new operator may not send commands")
	}

	// A password reset ends the session; only the new password works.
	if code := e.call(t, admin, "PUT", userPath("李会计"), `{"password":"reset-by-admin"}`, nil); code != 200 {
		t.Fatalf("reset: %d", code)
	}
	if code := e.call(t, tok, "GET", "/api/v1/boxes", "", nil); code != 401 {
		t.Errorf("the session after the reset: %d, want 401", code)
	}
	if code, _ := e.login(t, "李会计", "initial-pass"); code != 401 {
		t.Errorf("the old password: %d, want 401", code)
	}
	code, tok = e.login(t, "李会计", "reset-by-admin")
	if code != 200 {
		t.Fatalf("the new password: %d", code)
	}

	// Disabling ends the session and refuses sign-in; enabling restores it.
	if code := e.call(t, admin, "PUT", userPath("李会计"), `{"disabled":true}`, &changed); code != 200 || !changed.Disabled {
		t.Fatalf("disable: %d %+v", code, changed)
	}
	if code := e.call(t, tok, "GET", "/api/v1/boxes", "", nil); code != 401 {
		t.Errorf("the session after disabling: %d, want 401", code)
	}
	if code, _ := e.login(t, "李会计", "reset-by-admin"); code != 401 {
		t.Errorf("a disabled account's login: %d, want 401", code)
	}
	if code := e.call(t, admin, "PUT", userPath("李会计"), `{"disabled":false}`, nil); code != 200 {
		t.Fatalf("enable: %d", code)
	}
	if code, _ := e.login(t, "李会计", "reset-by-admin"); code != 200 {
		t.Errorf("an enabled account's login: %d, want 200", code)
	}
	// Others' sessions never ended.
	if code := e.call(t, e.tokens[store.RoleViewer], "GET", "/api/v1/boxes", "", nil); code != 200 {
		t.Errorf("the viewer's session: %d", code)
	}
}

func TestUsersRefusals(t *testing.T) {
	e := newEnv(t)
	admin := e.tokens[store.RoleAdmin]
	long := strings.Repeat("长", 33)
	cases := []struct {
		name, token, method, path, body string
		want                            int
		says                            string // in the error
	}{
		{"no token", "", "GET", "/api/v1/users", "", 401, "token"},
		{"viewer lists", e.tokens[store.RoleViewer], "GET", "/api/v1/users", "", 403, "viewer"},
		{"reviewer adds", e.tokens[store.RoleReviewer], "POST", "/api/v1/users", `{"name":"x1","password":"password1","role":"admin"}`, 403, "reviewer"},
		{"operator promotes themself", e.tokens[store.RoleOperator], "PUT", userPath("operator"), `{"role":"admin"}`, 403, "operator"},
		{"short password", admin, "POST", "/api/v1/users", `{"name":"x1","password":"short","role":"viewer"}`, 400, "8-72 bytes"},
		{"unknown role", admin, "POST", "/api/v1/users", `{"name":"x1","password":"password1","role":"mayor"}`, 400, `unknown role "mayor"`},
		{"no name", admin, "POST", "/api/v1/users", `{"password":"password1","role":"viewer"}`, 400, "user name"},
		{"long name", admin, "POST", "/api/v1/users", fmt.Sprintf(`{"name":%q,"password":"password1","role":"viewer"}`, long), 400, "user name"},
		{"unknown field", admin, "POST", "/api/v1/users", `{"name":"x1","password":"password1","role":"viewer","admin":true}`, 400, "unknown field"},
		{"not JSON", admin, "POST", "/api/v1/users", `name=x1`, 400, "bad JSON"},
		{"taken name", admin, "POST", "/api/v1/users", `{"name":"viewer","password":"password1","role":"admin"}`, 409, "exists"},
		{"nothing to change", admin, "PUT", userPath("viewer"), `{}`, 400, "nothing to change"},
		{"bad new role", admin, "PUT", userPath("viewer"), `{"role":"king"}`, 400, "unknown role"},
		{"bad new password", admin, "PUT", userPath("viewer"), `{"role":"admin","password":"1234"}`, 400, "8-72 bytes"},
		{"disabled not a bool", admin, "PUT", userPath("viewer"), `{"disabled":"yes"}`, 400, "bad JSON"},
		{"admin demotes themself", admin, "PUT", userPath("admin"), `{"role":"viewer"}`, 400, "themself"},
		{"admin disables themself", admin, "PUT", userPath("admin"), `{"disabled":true}`, 400, "themself"},
		{"unknown user", admin, "PUT", userPath("nobody"), `{"role":"viewer"}`, 404, "not found"},
	}
	before, _ := e.users(t)
	trail := len(e.trail(t))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, b, _ := e.raw(t, c.token, c.method, c.path, "application/json", []byte(c.body), nil)
			var out struct{ Error string }
			if code != c.want || json.Unmarshal(b, &out) != nil || !strings.Contains(out.Error, c.says) {
				t.Fatalf("%d %s, want %d saying %q", code, b, c.want, c.says)
			}
		})
	}
	if after, _ := e.users(t); !slices.Equal(after, before) {
		t.Errorf("refusals changed the accounts:\n%+v\n%+v", before, after)
	}
	for _, r := range []store.Role{store.RoleAdmin, store.RoleOperator, store.RoleReviewer, store.RoleViewer} {
		if code := e.call(t, e.tokens[r], "GET", "/api/v1/boxes", "", nil); code != 200 {
			t.Errorf("%s's session after the refusals: %d", r, code)
		}
	}
	if got := e.trail(t); len(got) != trail {
		t.Errorf("refusals were recorded: %+v", got[trail:])
	}
}

func TestUsersChangesAreAudited(t *testing.T) {
	e := newEnv(t)
	admin := e.tokens[store.RoleAdmin]
	start := len(e.trail(t))
	if code := e.call(t, admin, "POST", "/api/v1/users", `{"name":"王五","password":"first-secret","role":"operator"}`, nil); code != 201 {
		t.Fatalf("add: %d", code)
	}
	if code := e.call(t, admin, "PUT", userPath("王五"), `{"role":"reviewer","password":"second-secret"}`, nil); code != 200 {
		t.Fatalf("change: %d", code)
	}
	if code := e.call(t, admin, "PUT", userPath("王五"), `{"disabled":true}`, nil); code != 200 {
		t.Fatalf("disable: %d", code)
	}
	recs := e.trail(t)[start:]
	type want struct{ action, target, before, after string }
	wants := []want{
		{"POST /api/v1/users", "/api/v1/users", "", `{"name":"王五","role":"operator","disabled":false}`},
		{"PUT /api/v1/users/{name}", "/api/v1/users/王五", `{"name":"王五","role":"operator","disabled":false}`,
			`{"name":"王五","role":"reviewer","disabled":false,"password_changed":true}`},
		{"PUT /api/v1/users/{name}", "/api/v1/users/王五", `{"name":"王五","role":"reviewer","disabled":false}`,
			`{"name":"王五","role":"reviewer","disabled":true}`},
	}
	if len(recs) != len(wants) {
		t.Fatalf("%d records, want %d: %+v", len(recs), len(wants), recs)
	}
	for i, w := range wants {
		r := recs[i]
		if r.Actor != "admin" || r.Action != w.action || r.Target != w.target || string(r.Before) != w.before || string(r.After) != w.after {
			t.Errorf("record %d = %s %s %s before=%s after=%s; want %+v", i, r.Actor, r.Action, r.Target, r.Before, r.After, w)
		}
		if s := string(r.Before) + string(r.After) + r.Note; strings.Contains(s, "secret") || strings.Contains(s, "$2a$") {
			t.Errorf("record %d holds a secret: %s", i, s)
		}
	}
}

// TestUserNamesAreCanonical: a name is stored folded, a look-alike is
// refused, and any spelling of a name reaches the one account, in the
// answer and in the trail as stored.
func TestUserNamesAreCanonical(t *testing.T) {
	e := newEnv(t)
	admin := e.tokens[store.RoleAdmin]
	var u userJSON
	if code := e.call(t, admin, "POST", "/api/v1/users", `{"name":"Wang.Wei","password":"password-wang","role":"viewer"}`, &u); code != 201 || u.Name != "wang.wei" {
		t.Fatalf("add Wang.Wei: %d %+v, want 201 as wang.wei", code, u)
	}
	for _, c := range []struct{ name, why string }{{"WANG.WEI", "taken"}, {"ｗａｎｇ.ｗｅｉ", "taken"}, {"wаng.wei", "Cyrillic а"}, {"wang wei", "space"}} {
		want := 409
		if c.why != "taken" {
			want = 400
		}
		body, _ := json.Marshal(map[string]string{"name": c.name, "password": "password1", "role": "admin"})
		if code := e.call(t, admin, "POST", "/api/v1/users", string(body), nil); code != want {
			t.Errorf("add %q (%s): %d, want %d", c.name, c.why, code, want)
		}
	}
	if code := e.call(t, admin, "PUT", userPath("WANG.WEI"), `{"role":"operator"}`, &u); code != 200 || u.Name != "wang.wei" || u.Role != store.RoleOperator {
		t.Fatalf("change WANG.WEI: %d %+v", code, u)
	}
	last := e.trail(t)[len(e.trail(t))-1]
	if !strings.Contains(string(last.After), `"name":"wang.wei"`) || !strings.Contains(string(last.Before), `"name":"wang.wei"`) {
		t.Errorf("the trail names %s → %s, want the stored name", last.Before, last.After)
	}
	if code, _ := e.login(t, "Wang.Wei", "password-wang"); code != 200 {
		t.Errorf("sign-in as written when added: %d", code)
	}
	if us, _ := e.users(t); len(us) != 5 {
		t.Errorf("%d accounts, want the four roles and wang.wei", len(us))
	}
}
