package console

import (
	"net/http"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/cloud/store"
)

// The controls only admin and operator may use, by element id.
var broadcastControls = []string{
	`id="bc-speak-form"`, `id="bc-preview"`, `id="bc-upload-form"`, `id="bc-sched-form"`,
	`id="bc-play-form"`, `id="bc-play"`, `id="bc-stop"`, `id="bc-em-form"`, `id="bc-em-send"`,
}

// What every role sees of a village.
var broadcastViews = []string{
	`id="bc-library"`, `id="bc-audio"`, `id="bc-zone-list"`, `id="bc-schedules"`, `id="bc-calendar"`,
	`data-box="village-1"`, `src="/static/broadcast.js"`, `href="/static/broadcast.css"`,
}

func TestBroadcastPageByRole(t *testing.T) {
	e := newEnv(t, false)
	for _, tc := range []struct {
		role   store.Role
		change bool
	}{
		{store.RoleAdmin, true}, {store.RoleOperator, true},
		{store.RoleReviewer, false}, {store.RoleViewer, false},
	} {
		t.Run(string(tc.role), func(t *testing.T) {
			c, _ := e.signedIn(t, tc.role)
			a := e.get(t, c, "/broadcast")
			if a.code != http.StatusOK {
				t.Fatalf("GET /broadcast: %d %s", a.code, a.body)
			}
			for _, s := range broadcastViews {
				if !strings.Contains(a.body, s) {
					t.Errorf("the page lacks %s", s)
				}
			}
			if !strings.Contains(a.body, `<option value="village-1" selected>一村</option>`) {
				t.Error("the only village is not chosen in the picker")
			}
			for _, s := range broadcastControls {
				if strings.Contains(a.body, s) != tc.change {
					t.Errorf("%s on the page: %v, want %v", s, !tc.change, tc.change)
				}
			}
			if strings.Contains(a.body, `id="bc-read-only"`) == tc.change {
				t.Errorf("read-only note shown: %v, want %v", tc.change, !tc.change)
			}
			if want := `data-manage="` + map[bool]string{true: "true", false: "false"}[tc.change] + `"`; !strings.Contains(a.body, want) {
				t.Errorf("the script is not told %s", want)
			}
		})
	}
}

func TestBroadcastPageUnknownVillage(t *testing.T) {
	e := newEnv(t, false)
	c, _ := e.signedIn(t, store.RoleOperator)
	a := e.get(t, c, "/broadcast?village=no-such-box")
	if a.code != http.StatusNotFound {
		t.Fatalf("unknown village: %d, want 404", a.code)
	}
	if !strings.Contains(a.body, `id="bc-unknown"`) || !strings.Contains(a.body, `id="bc-village"`) {
		t.Error("no notice and picker for an unknown village")
	}
	if strings.Contains(a.body, `id="bc-sched-form"`) || strings.Contains(a.body, `data-box="no-such-box"`) {
		t.Error("the page offers to plan an unknown village")
	}
	// The emergency form is not tied to one village.
	if !strings.Contains(a.body, `id="bc-em-form"`) {
		t.Error("no emergency form")
	}
}

func TestBroadcastPageNeedsSession(t *testing.T) {
	e := newEnv(t, false)
	a := e.get(t, e.client(t), "/broadcast")
	if a.code != http.StatusSeeOther || a.h.Get("Location") != "/login" {
		t.Fatalf("without a session: %d %s, want a redirect to /login", a.code, a.h.Get("Location"))
	}
}

func TestBroadcastPageEnglish(t *testing.T) {
	e := newEnv(t, false)
	c, _ := e.signedIn(t, store.RoleOperator)
	a := e.get(t, c, "/broadcast?lang=en")
	if a.code != http.StatusOK {
		t.Fatalf("GET /broadcast?lang=en: %d", a.code)
	}
	for _, s := range []string{"Playbacks in the coming week", `data-t-quiet="quiet hours: will not play"`, ">Preview<"} {
		if !strings.Contains(a.body, s) {
			t.Errorf("the English page lacks %q", s)
		}
	}
	if strings.Contains(a.body, "试听") {
		t.Error("Chinese on the English page")
	}
}

func TestBroadcastAssets(t *testing.T) {
	e := newEnv(t, false)
	for _, p := range []string{"/static/broadcast.js", "/static/broadcast.css"} {
		if a := e.get(t, e.client(t), p); a.code != http.StatusOK || len(a.body) == 0 {
			t.Errorf("%s: %d, %d bytes", p, a.code, len(a.body))
		}
	}
}
