package console

import (
	"net/http"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/cloud/store"
)

// TestEveryPageInBothLanguages renders each page for an admin in Chinese
// and in English: a message missing from a table fails the render
// (missingkey=error), and the page names its language.
func TestEveryPageInBothLanguages(t *testing.T) {
	e := newEnv(t, false)
	c, _ := e.signedIn(t, store.RoleAdmin)
	for _, l := range []struct{ q, htmlLang, brand string }{
		{"zh", `lang="zh-CN"`, "大喇叭 乡镇控制台"},
		{"en", `lang="en"`, "Dalaba township console"},
	} {
		for _, p := range []string{"/", "/lists", "/lists/shop", "/broadcast", "/paging", "/cameras", "/events", "/users", "/alerts", "/diag", "/diag/village-1"} {
			a := e.get(t, c, p+"?lang="+l.q)
			if a.code != http.StatusOK || !strings.Contains(a.body, l.htmlLang) || !strings.Contains(a.body, l.brand) {
				t.Errorf("%s in %s: %d\n%.300s", p, l.q, a.code, a.body)
			}
		}
	}
}
