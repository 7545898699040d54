package console

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
)

// TestVillagePages: the dashboard links each box to its page; a retired
// box leaves the dashboard and its page shows it retired, with no form;
// a page of no box is 404; the villages page is the admin's.
func TestVillagePages(t *testing.T) {
	e := newEnv(t, false)
	ctx := t.Context()
	if err := e.st.CreateBox(ctx, store.Box{ID: "old-1", Name: "旧村", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.UpdateBoxCredentials(ctx, "old-1", func(b *store.Box) error { b.RetiredAt, b.SecretHash = time.Now(), nil; return nil }); err != nil {
		t.Fatal(err)
	}
	admin, _ := e.signedIn(t, store.RoleAdmin)
	dash := e.get(t, admin, "/")
	if !strings.Contains(dash.body, `href="/villages/village-1"`) || strings.Contains(dash.body, "旧村") {
		t.Errorf("the dashboard does not link village-1, or shows the retired box:\n%.2000s", dash.body)
	}
	page := e.get(t, admin, "/villages/village-1")
	if page.code != http.StatusOK || !strings.Contains(page.body, "一村") || !strings.Contains(page.body, `id="vg-horn-form"`) || !strings.Contains(page.body, `class="cam-box" data-box="village-1"`) {
		t.Errorf("village-1's page: %d\n%.1500s", page.code, page.body)
	}
	old := e.get(t, admin, "/villages/old-1")
	if old.code != http.StatusOK || !strings.Contains(old.body, `id="vg-retired"`) || strings.Contains(old.body, `id="vg-horn-form"`) || !strings.Contains(old.body, `data-manage-broadcast="false"`) {
		t.Errorf("the retired box's page: %d\n%.1500s", old.code, old.body)
	}
	for _, p := range []string{"/villages/nowhere", "/villages/Bad%20Id"} {
		if a := e.get(t, admin, p); a.code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, a.code)
		}
	}
	viewer, _ := e.signedIn(t, store.RoleViewer)
	if a := e.get(t, viewer, "/villages"); a.code != http.StatusForbidden {
		t.Errorf("a viewer's villages page: %d, want 403", a.code)
	}
	if a := e.get(t, viewer, "/roster"); a.code != http.StatusForbidden {
		t.Errorf("a viewer's roster page: %d, want 403", a.code)
	}
	v := e.get(t, viewer, "/villages/village-1")
	if v.code != http.StatusOK || !strings.Contains(v.body, `id="vg-read-only"`) || strings.Contains(v.body, "vg-camera-form") {
		t.Errorf("a viewer's village page: %d", v.code)
	}
	op, _ := e.signedIn(t, store.RoleOperator)
	ro := e.get(t, op, "/roster")
	if ro.code != http.StatusOK || !strings.Contains(ro.body, `data-box="village-1"`) || !strings.Contains(ro.body, `data-reason="head_conflict"`) || strings.Contains(ro.body, "旧村") {
		t.Errorf("the operator's roster page: %d\n%.1500s", ro.code, ro.body)
	}
}
