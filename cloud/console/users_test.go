package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
)

func TestUsersPageIsForAdmins(t *testing.T) {
	e := newAPIEnv(t)
	admin, _ := e.signedIn(t, store.RoleAdmin)
	a := e.get(t, admin, "/users")
	if a.code != http.StatusOK {
		t.Fatalf("users page: %d %s", a.code, a.body)
	}
	for _, want := range []string{
		"用户管理", `id="add-user"`, `id="add-name"`, `id="add-role"`, `id="add-password"`, `minlength="8"`,
		`id="user-list"`, `id="user-row"`, `id="audit"`, "最近的操作记录", `data-me="admin"`,
		`<option value="reviewer">审核员</option>`, `data-done-added="已添加用户 {x}。"`,
		`href="/static/users.css"`, `src="/static/users.js"`, `id="nav-users"`,
	} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the users page lacks %q", want)
		}
	}
	if csp := a.h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	if en := e.get(t, admin, "/users?lang=en"); !strings.Contains(en.body, "Add a user") || strings.Contains(en.body, "添加用户") {
		t.Errorf("the English users page:\n%s", en.body)
	}
	for _, asset := range []string{"/static/users.js", "/static/users.css"} {
		if a := e.get(t, admin, asset); a.code != http.StatusOK || len(a.body) < 200 {
			t.Errorf("%s: %d, %d bytes", asset, a.code, len(a.body))
		}
	}
	for _, r := range []store.Role{store.RoleReviewer, store.RoleOperator, store.RoleViewer} {
		c, _ := e.signedIn(t, r)
		if a := e.get(t, c, "/users"); a.code != http.StatusForbidden || strings.Contains(a.body, `id="add-user"`) {
			t.Errorf("%s: users page %d", r, a.code)
		}
		if a := e.get(t, c, "/"); strings.Contains(a.body, `id="nav-users"`) {
			t.Errorf("%s sees the users link", r)
		}
	}
}

// TestUsersThroughTheBridge does what the page's script does, with the
// real API behind the console.
func TestUsersThroughTheBridge(t *testing.T) {
	e := newAPIEnv(t)
	admin, tok := e.signedIn(t, store.RoleAdmin)
	csrf := []string{csrfHeader, tok}

	if a := e.send(t, admin, "POST", "/ui/api/users", `{"name":"周书记","password":"first-password","role":"reviewer"}`, csrf...); a.code != http.StatusCreated {
		t.Fatalf("add: %d %s", a.code, a.body)
	}
	a := e.send(t, admin, "GET", "/ui/api/users", "")
	var users []struct {
		Name     string
		Role     string
		Disabled bool
	}
	if a.code != http.StatusOK || json.Unmarshal([]byte(a.body), &users) != nil || len(users) != len(auth.Roles())+1 {
		t.Fatalf("list: %d %s", a.code, a.body)
	}
	if strings.Contains(a.body, "hash") || strings.Contains(a.body, "$2a$") {
		t.Errorf("the list shows hashes: %s", a.body)
	}

	// The new official signs in on the console.
	zhou := e.client(t)
	if a := e.login(t, zhou, "周书记", "first-password"); a.code != http.StatusSeeOther || a.h.Get("Location") != "/" {
		t.Fatalf("the new user's sign-in: %d %s", a.code, a.body)
	}
	if a := e.get(t, zhou, "/"); a.code != http.StatusOK {
		t.Fatalf("the new user's dashboard: %d", a.code)
	}

	// A password reset signs them out; the old password no longer works.
	if a := e.send(t, admin, "PUT", "/ui/api/users/"+url.PathEscape("周书记"), `{"password":"second-password"}`, csrf...); a.code != http.StatusOK {
		t.Fatalf("reset: %d %s", a.code, a.body)
	}
	if a := e.get(t, zhou, "/"); a.code != http.StatusSeeOther || a.h.Get("Location") != "/login" {
		t.Errorf("the new user's page after the reset: %d %q", a.code, a.h.Get("Location"))
	}
	if a := e.login(t, e.client(t), "周书记", "first-password"); a.code != http.StatusUnauthorized {
		t.Errorf("the old password: %d", a.code)
	}

	// Disabled, they cannot sign in even with the right password.
	if a := e.send(t, admin, "PUT", "/ui/api/users/"+url.PathEscape("周书记"), `{"disabled":true}`, csrf...); a.code != http.StatusOK {
		t.Fatalf("disable: %d %s", a.code, a.body)
	}
	if a := e.login(t, e.client(t), "周书记", "second-password"); a.code != http.StatusUnauthorized || !strings.Contains(a.body, "用户名或密码错误") {
		t.Errorf("a disabled user's sign-in: %d", a.code)
	}

	// The admin cannot lock themself out.
	for _, body := range []string{`{"role":"viewer"}`, `{"disabled":true}`} {
		if a := e.send(t, admin, "PUT", "/ui/api/users/admin", body, csrf...); a.code != http.StatusBadRequest || !strings.Contains(a.body, "themself") {
			t.Errorf("admin's own %s: %d %s", body, a.code, a.body)
		}
	}
	if u := e.roleOf(t, "admin"); u.Role != store.RoleAdmin || u.Disabled {
		t.Errorf("the admin is now %+v", u)
	}

	// The page's trail view shows it all, newest first, without secrets.
	a = e.send(t, admin, "GET", "/ui/api/audit/recent?limit=100", "")
	var trail struct {
		Records []struct{ Actor, Action, Target string }
	}
	if a.code != http.StatusOK || json.Unmarshal([]byte(a.body), &trail) != nil {
		t.Fatalf("trail: %d %s", a.code, a.body)
	}
	var got []string
	for _, r := range trail.Records {
		got = append(got, r.Actor+" "+r.Action+" "+r.Target)
	}
	want := []string{
		"admin PUT /api/v1/users/{name} /api/v1/users/周书记",
		"admin PUT /api/v1/users/{name} /api/v1/users/周书记",
		"周书记 login user/周书记",
		"admin POST /api/v1/users /api/v1/users",
		"admin login user/admin",
	}
	if len(got) < len(want) || strings.Join(got[:len(want)], "\n") != strings.Join(want, "\n") {
		t.Errorf("the latest records:\n%s\nwant first:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(a.body, "password\"") || strings.Contains(a.body, "first-password") || strings.Contains(a.body, "second-password") {
		t.Errorf("the trail holds a password: %s", a.body)
	}
}
