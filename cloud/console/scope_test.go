package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// TestATownshipSeesItsOwnVillages: the console shows a township's user
// their township's villages only (the dashboard, a village's page, the
// event log, the lists) and does for them no change the console makes
// itself to another's; the county's admin sees all, picks a township on
// the dashboard, and reads a village's township on its page.
func TestATownshipSeesItsOwnVillages(t *testing.T) {
	e := newEnv(t, false)
	ctx := t.Context()
	for _, tw := range []store.Township{{ID: "t-east", Name: "东山镇"}, {ID: "t-west", Name: "西山镇"}} {
		if err := e.st.CreateTownship(ctx, tw); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.st.UpdateBox(ctx, "village-1", func(b *store.Box) error { b.Township = "t-east"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateBox(ctx, store.Box{ID: "village-w", Name: "西岭村", Township: "t-west", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.AppendEvents(ctx, "village-w", store.Batch{Floor: 1, Events: []store.Event{{Seq: 1, Time: time.Now(), Type: protocol.EventBoxStarted, Data: []byte(`{}`)}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.au.AddUserIn(ctx, "east", "password-east", store.RoleAdmin, "t-east"); err != nil {
		t.Fatal(err)
	}
	east := e.client(t)
	if a := e.login(t, east, "east", "password-east"); a.code != http.StatusSeeOther {
		t.Fatalf("login east: %d %s", a.code, a.body)
	}
	home := e.get(t, east, "/")
	if home.code != 200 || !strings.Contains(home.body, "一村") || strings.Contains(home.body, "西岭村") || strings.Contains(home.body, "db-township") {
		t.Errorf("east's dashboard: %d; want 一村, not 西岭村, no township picker:\n%s", home.code, home.body)
	}
	if a := e.get(t, east, "/?township=t-west"); strings.Contains(a.body, "西岭村") {
		t.Error("east's dashboard asked for west shows west")
	}
	if a := e.get(t, east, "/villages/village-w"); a.code != http.StatusNotFound {
		t.Errorf("east on west's village page: %d, want 404", a.code)
	}
	if a := e.get(t, east, "/villages/village-1"); a.code != 200 || !strings.Contains(a.body, "东山镇") {
		t.Errorf("east's own village page: %d, want 200 naming 东山镇", a.code)
	}
	if a := e.get(t, east, eventsPath(url.Values{})); strings.Contains(a.body, "village-w") {
		t.Error("east's event log shows west's events")
	}
	if a := e.get(t, east, eventsPath(url.Values{"box": {"village-w"}})); a.code == 200 && len(logRows(a.body)) > 0 {
		t.Errorf("east reads west's events: %v", logRows(a.body))
	}
	if a := e.get(t, east, "/lists?village=village-w"); strings.Contains(a.body, "西岭村") {
		t.Error("east's lists page offers west's village")
	}
	if a := e.get(t, east, "/lists/poster?village=village-w&period=2026-11"); a.code != http.StatusNotFound {
		t.Errorf("east on west's poster: %d, want 404", a.code)
	}
	// A change the console makes itself, aimed at west's village, is
	// refused as for an unknown village: nothing is made.
	token := formToken(t, home.body)
	e.post(t, east, "/lists/entries", url.Values{"csrf": {token}, "village": {"village-w"}, "kind": {"red"}, "subject": {"person:p1"},
		"category": {"孝老爱亲"}, "reason": {"照料老人"}, "period": {"2026-11"}})
	if es, err := e.ls.Entries(ctx, lists.Filter{Village: "village-w"}); err != nil || len(es) != 0 {
		t.Errorf("west's entries after east's form: %v, %v", es, err)
	}

	county, _ := e.signedIn(t, store.RoleAdmin)
	all := e.get(t, county, "/")
	if !strings.Contains(all.body, "一村") || !strings.Contains(all.body, "西岭村") || !strings.Contains(all.body, `id="db-township"`) {
		t.Errorf("the county's dashboard: want both villages and the township picker:\n%s", all.body)
	}
	west := e.get(t, county, "/?township=t-west")
	if !strings.Contains(west.body, "西岭村") || strings.Contains(west.body, ">一村<") {
		t.Errorf("the county's dashboard of west:\n%s", west.body)
	}
	if a := e.get(t, county, "/villages/village-w"); a.code != 200 || !strings.Contains(a.body, "西山镇") {
		t.Errorf("the county on west's village page: %d, want 200 naming 西山镇", a.code)
	}
}
