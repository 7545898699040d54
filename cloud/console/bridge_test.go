package console

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/cloud/store"
)

// TestBridge: the pages' scripts reach the API with their session as the
// bearer token; a change needs the CSRF header, and bodies of any size
// pass to the API, which bounds them itself.
func TestBridge(t *testing.T) {
	e := newEnv(t, false)
	e.con.next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%s %s?%s auth=%t cookie=%t bytes=%d", r.Method, r.URL.Path, r.URL.RawQuery,
			strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "), r.Header.Get("Cookie") != "", n)
	})
	c, token := e.signedIn(t, store.RoleOperator)
	_, otherToken := e.signedIn(t, store.RoleViewer)

	send := func(method, path, csrf string, body string) answer {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/sdp")
		if csrf != "" {
			req.Header.Set(csrfHeader, csrf)
		}
		return do(t, c, req)
	}
	big := strings.Repeat("a", 100<<10)
	for _, tc := range []struct {
		name, method, path, csrf, body string
		code                           int
		want                           string
	}{
		{"a read needs no token", "GET", "/ui/api/boxes/village-1/broadcast?x=1", "", "", 200, "GET /api/v1/boxes/village-1/broadcast?x=1 auth=true cookie=false bytes=0"},
		{"a change with the token", "POST", "/ui/api/boxes/village-1/paging?zones=a", token, big, 200, "POST /api/v1/boxes/village-1/paging?zones=a auth=true cookie=false bytes=102400"},
		{"a change without the token", "POST", "/ui/api/boxes/village-1/play", "", "{}", 403, ""},
		{"a change with another session's token", "DELETE", "/ui/api/boxes/village-1/paging/p1", otherToken, "", 403, ""},
	} {
		a := send(tc.method, tc.path, tc.csrf, tc.body)
		if a.code != tc.code || (tc.want != "" && a.body != tc.want) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, a.code, a.body, tc.code, tc.want)
		}
	}
	// Without a session a script gets 401, not the API.
	req, _ := http.NewRequestWithContext(t.Context(), "GET", e.srv.URL+"/ui/api/boxes", nil)
	req.Header.Set("Accept", "application/json")
	if a := do(t, e.client(t), req); a.code != http.StatusUnauthorized || strings.Contains(a.body, "auth=") {
		t.Errorf("no session: %d %q", a.code, a.body)
	}
}

// TestPagingPage: every role sees the page; only those who may broadcast
// get the controls.
func TestPagingPage(t *testing.T) {
	e := newEnv(t, false)
	for _, tc := range []struct {
		role     store.Role
		controls bool
	}{
		{store.RoleAdmin, true}, {store.RoleOperator, true}, {store.RoleReviewer, false}, {store.RoleViewer, false},
	} {
		c, _ := e.signedIn(t, tc.role)
		a := e.get(t, c, "/paging")
		if a.code != http.StatusOK || !strings.Contains(a.body, `value="village-1"`) {
			t.Fatalf("%s: %d %s", tc.role, a.code, a.body)
		}
		if got := strings.Contains(a.body, `id="paging-start"`); got != tc.controls {
			t.Errorf("%s sees the paging controls: %t, want %t", tc.role, got, tc.controls)
		}
		if got := strings.Contains(a.body, `id="paging-no-right"`); got == tc.controls {
			t.Errorf("%s is told paging is not theirs: %t", tc.role, got)
		}
	}
}
