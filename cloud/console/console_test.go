package console

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/protocol"
)

// env is a console on a real bbolt store and real auth, with one box
// (village-1, 一村) online and a trusted clock, and one user per role
// whose password is "password-<role>".
type env struct {
	srv *httptest.Server
	st  *boltstore.Store
	con *Console
	ls  *lists.Service
	au  *auth.Auth
}

// apiMarker is what the stand-in API answers, to see requests fall through.
const apiMarker = "api-was-here"

func newEnv(t *testing.T, tlsServer bool) *env {
	t.Helper()
	return newEnvWith(t, tlsServer, lists.Config{}, nil)
}

// newEnvWith is newEnv with the lists' config and clock (nil: time.Now).
func newEnvWith(t *testing.T, tlsServer bool, cfg lists.Config, now func() time.Time) *env {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.DiscardHandler)
	a, err := auth.New(auth.Deps{Logger: log, Store: st, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []store.Role{store.RoleAdmin, store.RoleOperator, store.RoleReviewer, store.RoleSupervisor, store.RoleViewer} {
		if err := a.AddUser(t.Context(), string(r), "password-"+string(r), r); err != nil {
			t.Fatal(err)
		}
	}
	ctx := t.Context()
	if err := st.CreateBox(ctx, store.Box{ID: "village-1", Name: "一村", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateBox(ctx, "village-1", func(b *store.Box) error {
		b.Online, b.LastSeen, b.AppliedRev, b.OutboxBacklog = true, time.Now(), 3, 2
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	health, err := json.Marshal(protocol.Health{ClockTrusted: true, Clock: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AppendEvents(ctx, "village-1", store.Batch{Floor: 1, Events: []store.Event{{BoxID: "village-1", Seq: 1, Time: time.Now(), Type: protocol.EventHealth, Data: health, ReceivedAt: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, apiMarker) })
	ls := newListsWith(t, log, st, cfg, now)
	con, err := New(Config{Interval: 20 * time.Millisecond}, Deps{Logger: log, Store: st, Auth: a, Next: api, Lists: ls})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(con.Handler())
	if tlsServer {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	t.Cleanup(con.Shutdown) // before srv.Close, so open streams end
	return &env{srv: srv, st: st, con: con, ls: ls, au: a}
}

// client is a browser: it keeps cookies and does not follow redirects,
// so tests see them.
func (e *env) client(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := *e.srv.Client() // a copy: the server's client is shared
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

type answer struct {
	code int
	h    http.Header
	body string
}

func do(t *testing.T, c *http.Client, req *http.Request) answer {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func (e *env) get(t *testing.T, c *http.Client, path string, hdr ...string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, c, req)
}

func (e *env) post(t *testing.T, c *http.Client, path string, form url.Values, hdr ...string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, c, req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// formToken is the CSRF token of the first form on a page.
func formToken(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF field in:\n%s", body)
	}
	return m[1]
}

// login signs c in through the form and returns the dashboard's CSRF token.
func (e *env) login(t *testing.T, c *http.Client, user, password string) answer {
	t.Helper()
	page := e.get(t, c, "/login")
	return e.post(t, c, "/login", url.Values{"csrf": {formToken(t, page.body)}, "username": {user}, "password": {password}})
}

func (e *env) signedIn(t *testing.T, role store.Role) (*http.Client, string) {
	t.Helper()
	c := e.client(t)
	if a := e.login(t, c, string(role), "password-"+string(role)); a.code != http.StatusSeeOther || a.h.Get("Location") != "/" {
		t.Fatalf("login %s: %d %s", role, a.code, a.body)
	}
	d := e.get(t, c, "/")
	if d.code != http.StatusOK {
		t.Fatalf("dashboard: %d %s", d.code, d.body)
	}
	return c, formToken(t, d.body)
}

func sessionCookieOf(t *testing.T, h http.Header) *http.Cookie {
	t.Helper()
	for _, raw := range h.Values("Set-Cookie") {
		ck, err := http.ParseSetCookie(raw)
		if err == nil && ck.Name == sessionCookie && ck.Value != "" {
			return ck
		}
	}
	t.Fatalf("no session cookie in %q", h.Values("Set-Cookie"))
	return nil
}

func TestLoginOK(t *testing.T) {
	e := newEnv(t, false)
	c := e.client(t)
	a := e.login(t, c, "viewer", "password-viewer")
	if a.code != http.StatusSeeOther || a.h.Get("Location") != "/" {
		t.Fatalf("login: %d %q %s", a.code, a.h.Get("Location"), a.body)
	}
	ck := sessionCookieOf(t, a.h)
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure || ck.Path != "/" {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Lax, not Secure over HTTP, Path=/", ck)
	}
	// The cookie is an ordinary auth session: the API's bearer check accepts it.
	if _, err := e.con.auth.Verify(t.Context(), ck.Value); err != nil {
		t.Errorf("session not known to auth: %v", err)
	}
	// Signed in, /login goes to the dashboard.
	if a := e.get(t, c, "/login"); a.code != http.StatusSeeOther || a.h.Get("Location") != "/" {
		t.Errorf("GET /login when signed in: %d %q", a.code, a.h.Get("Location"))
	}
}

func TestSessionCookieSecureOverTLS(t *testing.T) {
	e := newEnv(t, true)
	a := e.login(t, e.client(t), "viewer", "password-viewer")
	if a.code != http.StatusSeeOther {
		t.Fatalf("login: %d %s", a.code, a.body)
	}
	if ck := sessionCookieOf(t, a.h); !ck.Secure || !ck.HttpOnly {
		t.Errorf("session cookie over HTTPS %+v: want Secure and HttpOnly", ck)
	}
}

func TestLoginWrong(t *testing.T) {
	e := newEnv(t, false)
	wrongPassword := e.login(t, e.client(t), "viewer", "not-the-password")
	unknownUser := e.login(t, e.client(t), "nobody", "not-the-password")
	for name, a := range map[string]answer{"wrong password": wrongPassword, "unknown user": unknownUser} {
		if a.code != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, a.code)
		}
		if !strings.Contains(a.body, "用户名或密码错误") || !strings.Contains(a.body, `id="login-form"`) {
			t.Errorf("%s: want the form again with the zh-CN error:\n%s", name, a.body)
		}
		if strings.Contains(a.h.Get("Set-Cookie"), sessionCookie+"=") {
			t.Errorf("%s: a session cookie was set", name)
		}
	}
	// Nothing tells whether the name exists: the same page bar the name
	// echoed back and the fresh CSRF token.
	norm := func(s, user string) string {
		return strings.NewReplacer(`value="`+user+`"`, "", formToken(t, s), "").Replace(s)
	}
	if norm(wrongPassword.body, "viewer") != norm(unknownUser.body, "nobody") {
		t.Error("wrong password and unknown user answer differently")
	}
}

func TestLoginRateLimited(t *testing.T) {
	e := newEnv(t, false)
	c := e.client(t)
	for i := range auth.MaxFailures {
		if a := e.login(t, c, "viewer", "wrong-password"); a.code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, a.code)
		}
	}
	// Now even the right password is refused, from this address.
	a := e.login(t, c, "viewer", "password-viewer")
	if a.code != http.StatusTooManyRequests || a.h.Get("Retry-After") == "" {
		t.Fatalf("after %d failures: %d Retry-After=%q", auth.MaxFailures, a.code, a.h.Get("Retry-After"))
	}
	if !strings.Contains(a.body, "登录失败次数过多") {
		t.Errorf("want the zh-CN rate limit message:\n%s", a.body)
	}
}

func TestLoginNeedsCSRF(t *testing.T) {
	e := newEnv(t, false)
	c := e.client(t)
	// A form posted from elsewhere has neither the nonce cookie nor the token.
	a := e.post(t, c, "/login", url.Values{"username": {"viewer"}, "password": {"password-viewer"}})
	if a.code != http.StatusForbidden {
		t.Fatalf("login without CSRF token: %d, want 403", a.code)
	}
	// A token from another browser's form does not fit this one's nonce.
	other := formToken(t, e.get(t, e.client(t), "/login").body)
	e.get(t, c, "/login")
	a = e.post(t, c, "/login", url.Values{"csrf": {other}, "username": {"viewer"}, "password": {"password-viewer"}})
	if a.code != http.StatusForbidden {
		t.Fatalf("login with another form's token: %d, want 403", a.code)
	}
}

func TestLogoutNeedsCSRF(t *testing.T) {
	e := newEnv(t, false)
	c, tok := e.signedIn(t, store.RoleViewer)
	for name, a := range map[string]answer{
		"no token":    e.post(t, c, "/logout", nil),
		"wrong token": e.post(t, c, "/logout", url.Values{"csrf": {tok + "x"}}),
		"login token": e.post(t, c, "/logout", url.Values{"csrf": {formToken(t, e.get(t, e.client(t), "/login").body)}}),
	} {
		if a.code != http.StatusForbidden {
			t.Errorf("logout with %s: %d, want 403", name, a.code)
		}
	}
	if a := e.get(t, c, "/"); a.code != http.StatusOK {
		t.Fatalf("refused logouts ended the session: %d", a.code)
	}
	// From a script, in the header.
	if a := e.post(t, c, "/logout", nil, csrfHeader, tok); a.code != http.StatusSeeOther || a.h.Get("Location") != "/login" {
		t.Fatalf("logout with the header token: %d %q", a.code, a.h.Get("Location"))
	}
	if a := e.get(t, c, "/"); a.code != http.StatusSeeOther {
		t.Errorf("dashboard after logout: %d, want a redirect", a.code)
	}
}

func TestNoSession(t *testing.T) {
	e := newEnv(t, false)
	c := e.client(t)
	cases := []struct {
		name, method, path string
		hdr                []string
		want               int
	}{
		{"page", "GET", "/", nil, http.StatusSeeOther},
		{"stream", "GET", "/events/boxes", []string{"Accept", "text/event-stream"}, http.StatusUnauthorized},
		{"fetch", "GET", "/", []string{"Accept", "application/json"}, http.StatusUnauthorized},
		{"form post", "POST", "/logout", nil, http.StatusSeeOther},
		{"script post", "POST", "/logout", []string{csrfHeader, "x"}, http.StatusUnauthorized},
		{"stale cookie", "GET", "/", []string{"Cookie", sessionCookie + "=gone"}, http.StatusSeeOther},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var a answer
			if tc.method == "GET" {
				a = e.get(t, c, tc.path, tc.hdr...)
			} else {
				a = e.post(t, c, tc.path, nil, tc.hdr...)
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
}

func TestViewerSeesDashboard(t *testing.T) {
	e := newEnv(t, false)
	c, _ := e.signedIn(t, store.RoleViewer)
	a := e.get(t, c, "/")
	for _, want := range []string{`lang="zh-CN"`, "各村广播盒", `data-box="village-1"`, "一村", "在线", "可信", "3 / 0", "待同步", "当前用户: viewer", `name="viewport"`} {
		if !strings.Contains(a.body, want) {
			t.Errorf("dashboard lacks %q:\n%s", want, a.body)
		}
	}
	if csp := a.h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	for _, asset := range []string{"/static/console.css", "/static/dashboard.js"} {
		if a := e.get(t, c, asset); a.code != http.StatusOK || len(a.body) < 100 {
			t.Errorf("%s: %d, %d bytes", asset, a.code, len(a.body))
		}
	}
}

func TestLangSwitch(t *testing.T) {
	e := newEnv(t, false)
	c := e.client(t)
	if a := e.get(t, c, "/login"); !strings.Contains(a.body, "登录") || strings.Contains(a.body, "Sign in") {
		t.Fatalf("default login page is not zh-CN:\n%s", a.body)
	}
	a := e.get(t, c, "/login?lang=en")
	if !strings.Contains(a.body, `lang="en"`) || !strings.Contains(a.body, "Sign in") || strings.Contains(a.body, "用户名") {
		t.Fatalf("?lang=en login page is not English:\n%s", a.body)
	}
	// The choice sticks: the cookie carries it to the next pages.
	if a := e.login(t, c, "viewer", "password-viewer"); a.code != http.StatusSeeOther {
		t.Fatalf("login: %d", a.code)
	}
	a = e.get(t, c, "/")
	for _, want := range []string{"Village boxes", "online", "trusted", "Signed in as: viewer", "中文"} {
		if !strings.Contains(a.body, want) {
			t.Errorf("English dashboard lacks %q", want)
		}
	}
	if a := e.login(t, e.client(t), "viewer", "nope-nope"); strings.Contains(a.body, "Wrong user name") {
		t.Error("a fresh browser got English")
	}
	if a := e.get(t, c, "/?lang=zh"); !strings.Contains(a.body, "各村广播盒") {
		t.Error("?lang=zh did not switch back")
	}
}

func TestBoxStream(t *testing.T) {
	e := newEnv(t, false)
	c, _ := e.signedIn(t, store.RoleViewer)
	req, err := http.NewRequestWithContext(t.Context(), "GET", e.srv.URL+"/events/boxes", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("stream: %d %q", resp.StatusCode, ct)
	}
	events := sseEvents(t, resp.Body)
	ev := <-events
	var rows []boxRow
	if ev.name != "boxes" || json.Unmarshal([]byte(ev.data), &rows) != nil || len(rows) != 1 || rows[0].Backlog != 2 || rows[0].Clock != clockTrusted {
		t.Fatalf("first event %+v", ev)
	}
	if err := e.st.UpdateBox(t.Context(), "village-1", func(b *store.Box) error { b.OutboxBacklog = 42; return nil }); err != nil {
		t.Fatal(err)
	}
	// Each page's rows come with its counts.
	if ev = <-events; ev.name != "summary" || !strings.Contains(ev.data, `"total":1`) {
		t.Fatalf("event after the rows %+v, want the summary", ev)
	}
	// Unchanged rows are not resent, so the next boxes event is the change.
	ev = <-events
	if ev.name != "boxes" || json.Unmarshal([]byte(ev.data), &rows) != nil || rows[0].Backlog != 42 {
		t.Fatalf("event after the change %+v", ev)
	}
	// Signing out elsewhere ends the stream with "end".
	tok := ""
	for _, ck := range c.Jar.Cookies(req.URL) {
		if ck.Name == sessionCookie {
			tok = ck.Value
		}
	}
	if err := e.con.auth.Logout(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	for ev := range events {
		if ev.name == "end" {
			return
		}
	}
	t.Fatal("stream closed without an end event")
}

type sse struct{ name, data string }

// sseEvents parses a stream until it ends or the test's deadline.
func sseEvents(t *testing.T, r io.Reader) <-chan sse {
	out := make(chan sse)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(r)
		var ev sse
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[len("data: "):]
			case line == "" && ev.name != "":
				select {
				case out <- ev:
				case <-t.Context().Done():
					return
				}
				ev = sse{}
			}
		}
	}()
	return out
}

func TestFallsThroughToAPI(t *testing.T) {
	e := newEnv(t, false)
	for _, p := range []string{"/api/v1/boxes", "/healthz", "/no-such-page"} {
		if a := e.get(t, e.client(t), p); a.body != apiMarker {
			t.Errorf("%s: %d %q, want the API's answer", p, a.code, a.body)
		}
	}
}

func TestMessagesComplete(t *testing.T) {
	all, err := mergeMessages(messages(), broadcastMessages(), pagingMessages(), camerasMessages(), eventsMessages(), usersMessages())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newCatalog(all); err != nil {
		t.Fatal(err)
	}
	if _, err := mergeMessages(map[string]message{"X": {"一", "one"}}, map[string]message{"X": {"二", "two"}}); err == nil {
		t.Error("a key defined by two pages was accepted")
	}
	if _, err := newCatalog(map[string]message{"X": {zh: "只有中文"}}); err == nil {
		t.Error("a message without English was accepted")
	}
}

// TestNoTextInTemplates keeps user-visible words in the message table:
// outside template actions, tags and comments, templates hold only
// punctuation and space.
func TestNoTextInTemplates(t *testing.T) {
	names, err := assetNames("templates")
	if err != nil {
		t.Fatal(err)
	}
	// Attributes outside a tag are a shared part's (parts/), spliced
	// into a tag by the page that uses it.
	strip := regexp.MustCompile(`(?s)\{\{.*?\}\}|<[^>]*>|<!--.*?-->|[\w-]+="[^"]*"`)
	letters := regexp.MustCompile(`[\p{L}\p{N}]+`)
	for _, n := range names {
		b, err := assets.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		if words := letters.FindAllString(strip.ReplaceAllString(string(b), " "), -1); len(words) > 0 {
			t.Errorf("%s has text outside the message table: %q", n, words)
		}
	}
}

func assetNames(dir string) ([]string, error) {
	ents, err := assets.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			sub, err := assetNames(dir + "/" + e.Name())
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		}
		out = append(out, dir+"/"+e.Name())
	}
	return out, nil
}
