package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/store"
)

type configAnswer struct {
	Box        boxJSON `json:"box"`
	EdgeConfig string  `json:"edge_config"`
}

// passwordOf is the broker password an edge config holds.
func passwordOf(t *testing.T, cfg string) string {
	t.Helper()
	for _, l := range strings.Split(cfg, "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(l), "password: "); ok {
			return p
		}
	}
	t.Fatalf("no password in the edge config:\n%s", cfg)
	return ""
}

// TestVillageBoxLifecycle: an admin registers a village with its place
// and gets its config once; renames it; rotates its secret (the new
// config signs in, the old one does not); retires it (nothing signs in,
// it leaves the day-to-day list, its commands and plans are refused, its
// events stay readable).
func TestVillageBoxLifecycle(t *testing.T) {
	e := newEnv(t)
	admin, operator := e.tokens[store.RoleAdmin], e.tokens[store.RoleOperator]
	authn, err := fleet.NewAuthenticator(e.st, "dalaba_cloud")
	if err != nil {
		t.Fatal(err)
	}
	signsIn := func(pass string) bool {
		_, ok := authn.Authenticate(t.Context(), "village-1", []byte(pass))
		return ok
	}

	var made configAnswer
	if code := e.call(t, admin, "POST", "/api/v1/boxes", `{"id":"village-1","name":"一村","place":"东山片区"}`, &made); code != http.StatusCreated {
		t.Fatalf("register: %d", code)
	}
	if made.Box.Place != "东山片区" || made.Box.Retired {
		t.Errorf("registered %+v", made.Box)
	}
	first := passwordOf(t, made.EdgeConfig)
	if !signsIn(first) {
		t.Fatal("the first config does not sign in")
	}
	var got boxJSON
	if code := e.call(t, operator, "GET", "/api/v1/boxes/village-1", "", &got); code != 200 || strings.Contains(strings.ToLower(got.Name+got.Place), "password") {
		t.Fatalf("get: %d %+v", code, got)
	}
	if code := e.call(t, admin, "POST", "/api/v1/boxes", `{"id":"village-2","name":"二村","place":"`+strings.Repeat("片", 65)+`"}`, nil); code != 400 {
		t.Errorf("a place too long: %d, want 400", code)
	}

	if code := e.call(t, admin, "PUT", "/api/v1/boxes/village-1", `{"name":"第一村"}`, &got); code != 200 || got.Name != "第一村" || got.Place != "东山片区" {
		t.Errorf("rename: %d %+v", code, got)
	}
	if code := e.call(t, operator, "PUT", "/api/v1/boxes/village-1", `{"name":"x"}`, nil); code != 403 {
		t.Errorf("an operator renames: %d, want 403", code)
	}

	var rotated configAnswer
	if code := e.call(t, admin, "POST", "/api/v1/boxes/village-1/rotate", "", &rotated); code != 200 {
		t.Fatalf("rotate: %d", code)
	}
	second := passwordOf(t, rotated.EdgeConfig)
	if second == first || signsIn(first) || !signsIn(second) {
		t.Errorf("after rotation: the old secret signs in %t, the new %t (same: %t)", signsIn(first), signsIn(second), second == first)
	}

	if code := e.call(t, admin, "POST", "/api/v1/boxes/village-1/retire", "", &got); code != 200 || !got.Retired || got.RetiredAt.IsZero() {
		t.Fatalf("retire: %d %+v", code, got)
	}
	if signsIn(second) {
		t.Error("a retired box signs in")
	}
	var list []boxJSON
	if e.call(t, operator, "GET", "/api/v1/boxes", "", &list); len(list) != 0 {
		t.Errorf("the day-to-day list shows %+v", list)
	}
	if e.call(t, operator, "GET", "/api/v1/boxes?all=true", "", &list); len(list) != 1 || !list[0].Retired {
		t.Errorf("?all=true shows %+v, want the retired box", list)
	}
	if code := e.call(t, operator, "GET", "/api/v1/boxes?all=maybe", "", nil); code != 400 {
		t.Errorf("?all=maybe: %d, want 400", code)
	}
	sent := len(e.dl.sent)
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/v1/boxes/village-1/commands", `{"type":"ping"}`},
		{"POST", "/api/v1/boxes/village-1/stop", `{}`},
		{"PUT", "/api/v1/boxes/village-1/speakers/horn", `{"driver":"rtp","addr":"127.0.0.1:5004"}`},
		{"POST", "/api/v1/boxes/village-1/rotate", ``},
	} {
		tok := operator
		if strings.HasSuffix(c.path, "/rotate") {
			tok = admin
		}
		var p Problem
		if code := e.call(t, tok, c.method, c.path, c.body, &p); code != http.StatusConflict {
			t.Errorf("%s %s on a retired box: %d, want 409", c.method, c.path, code)
		}
	}
	if len(e.dl.sent) != sent {
		t.Errorf("commands reached the downlink for a retired box: %q", e.dl.sent[sent:])
	}
	if code := e.call(t, operator, "GET", "/api/v1/boxes/village-1/events", "", nil); code != 200 {
		t.Errorf("a retired box's events: %d, want them readable", code)
	}
}
