package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/auth/forwarded"
)

// TestLoginBehindTheProxy: with the proxy trusted, the sign-in form counts
// each official by the address the proxy names; the lock-out says how many
// minutes to wait, in the header and in words.
func TestLoginBehindTheProxy(t *testing.T) {
	e := newEnv(t, false)
	p, err := forwarded.New([]string{"127.0.0.1/32", "::1/128"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.con.proxies = p
	signIn := func(password, from string) answer {
		t.Helper()
		c := e.client(t)
		page := e.get(t, c, "/login")
		return e.post(t, c, "/login", url.Values{"csrf": {formToken(t, page.body)}, "username": {"viewer"}, "password": {password}},
			"X-Forwarded-For", from)
	}
	for range auth.MaxFailures {
		if a := signIn("wrong-password", "203.0.113.5"); a.code != http.StatusUnauthorized {
			t.Fatalf("a wrong password: %d", a.code)
		}
	}
	a := signIn("password-viewer", "203.0.113.5")
	if want := strconv.Itoa(int(auth.FirstLockout / time.Second)); a.code != http.StatusTooManyRequests || a.h.Get("Retry-After") != want {
		t.Fatalf("from the address that failed: %d, Retry-After %q; want 429 and %s", a.code, a.h.Get("Retry-After"), want)
	}
	if !strings.Contains(a.body, "请 1 分钟后再试") {
		t.Errorf("the page does not say how long to wait:\n%s", a.body)
	}
	if a := signIn("password-viewer", "203.0.113.6"); a.code != http.StatusSeeOther {
		t.Fatalf("the same official from another address behind the proxy: %d, want 303", a.code)
	}
}
