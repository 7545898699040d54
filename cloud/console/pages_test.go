package console

import (
	"net/http"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/cloud/store"
)

// TestEveryPageInBothLanguages renders each page for an admin in Chinese
// and in English: a message missing from a table fails the render
// (missingkey=error), the page names its language, and no text was put
// where html/template reads a URL (an attribute named …url or …src holding
// a message becomes "#ZgotmplZ" the moment it contains a colon).
func TestEveryPageInBothLanguages(t *testing.T) {
	e := newEnv(t, false)
	c, _ := e.signedIn(t, store.RoleAdmin)
	for _, l := range []struct{ q, htmlLang, brand string }{
		{"zh", `lang="zh-CN"`, "大喇叭 乡镇控制台"},
		{"en", `lang="en"`, "Dalaba township console"},
	} {
		for _, p := range []string{"/", "/lists", "/lists/shop", "/broadcast", "/paging", "/cameras", "/events", "/users", "/villages", "/villages/village-1", "/roster", "/alerts", "/diag", "/diag/village-1"} {
			a := e.get(t, c, p+"?lang="+l.q)
			if a.code != http.StatusOK || !strings.Contains(a.body, l.htmlLang) || !strings.Contains(a.body, l.brand) {
				t.Errorf("%s in %s: %d\n%.300s", p, l.q, a.code, a.body)
			}
			if i := strings.Index(a.body, "ZgotmplZ"); i >= 0 {
				t.Errorf("%s in %s: html/template refused a value as unsafe: %s", p, l.q, a.body[max(0, i-120):i+8])
			}
		}
	}
}
