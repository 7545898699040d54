package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/web"
)

// TestEveryCodeHasASentence: each of the API's error codes has the
// sentence an official reads, in Chinese and in English, under a key of
// its own; no sentence is left for a code that is gone.
func TestEveryCodeHasASentence(t *testing.T) {
	e := newEnv(t, false)
	keys := map[string]web.Code{}
	for code := range web.Codes() {
		k := codeKey(code)
		if other, dup := keys[k]; dup {
			t.Errorf("codes %s and %s have the same key %s", code, other, k)
		}
		keys[k] = code
		for _, l := range []lang{langZH, langEN} {
			if s := e.con.msgs[l][k]; s == "" || s == e.con.msgs[l][codeUnknown] {
				t.Errorf("code %s has no sentence of its own in %s (key %s)", code, l, k)
			}
		}
	}
	for k := range codeMessages() {
		if _, ok := keys[k]; !ok && strings.HasPrefix(k, "Code") && k != codeUnknown {
			t.Errorf("message %s is the sentence of no code", k)
		}
	}
}

var codeItemRE = regexp.MustCompile(`<li data-code="([a-z_.]*)">([^<]+)</li>`)

// TestPagesCarryTheSentences: a signed-in official's page carries every
// code's sentence in the page's language for its scripts, and the
// script that reads them; the sign-in page carries none.
func TestPagesCarryTheSentences(t *testing.T) {
	e := newEnv(t, false)
	c, _ := e.signedIn(t, store.RoleOperator)
	for _, l := range []lang{langZH, langEN} {
		a := e.get(t, c, "/broadcast?lang="+string(l))
		got := map[string]string{}
		for _, m := range codeItemRE.FindAllStringSubmatch(a.body, -1) {
			got[m[1]] = html.UnescapeString(m[2])
		}
		for code := range web.Codes() {
			if want := e.con.msgs[l][codeKey(code)]; got[string(code)] != want {
				t.Errorf("%s: the page says %q for %s, want %q", l, got[string(code)], code, want)
			}
		}
		if got[""] != e.con.msgs[l][codeUnknown] {
			t.Errorf("%s: the page's sentence for an unknown code is %q", l, got[""])
		}
		if !strings.Contains(a.body, `<script src="/static/errors.js" defer></script>`) {
			t.Errorf("%s: the page does not load errors.js", l)
		}
	}
	if a := e.get(t, e.client(t), "/login"); strings.Contains(a.body, "error-codes") || strings.Contains(a.body, "errors.js") {
		t.Error("the sign-in page carries the code sentences")
	}
}

// TestScriptsNeverShowTheAPIsMessage: the pages' scripts leave reading an
// error answer to errors.js, which shows the code's sentence and keeps
// the API's English message for the element's title.
func TestScriptsNeverShowTheAPIsMessage(t *testing.T) {
	readsError := regexp.MustCompile(`\.error\b`)
	showsMessage := regexp.MustCompile(`textContent\s*=[^;]*\.message`)
	names, err := fs.Glob(assets, "static/*.js")
	if err != nil || len(names) < 5 {
		t.Fatalf("scripts: %v %v", names, err)
	}
	for _, n := range names {
		b, err := fs.ReadFile(assets, n)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		if showsMessage.MatchString(src) {
			t.Errorf("%s shows an error's message as text", n)
		}
		if n != "static/errors.js" && readsError.MatchString(src) {
			t.Errorf("%s reads an answer's error message itself; use errors.js (dalaba.problem, dalaba.show)", n)
		}
	}
}

func TestExplain(t *testing.T) {
	e := newEnv(t, false)
	zh := e.con.msgs[langZH]
	invalid := fmt.Errorf("lists: create entry: %w", errors.Join(
		fmt.Errorf("%w: reason: required", lists.ErrInvalid),
		fmt.Errorf("%w: points: 50 on the black list, want -100 to 0", lists.ErrInvalid),
		fmt.Errorf("%w: kind: \"blue\", want red or black", lists.ErrInvalid)))
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"fields the form has", invalid, "未保存：有填写不符合要求的地方。 请检查：事由、积分。"},
		{"no fields", fmt.Errorf("%w: entry 3 is draft; only an entry in review can be approved", lists.ErrConflict), zh[codeKey(web.CodeListsConflict)]},
		{"not found", fmt.Errorf("boltstore: entry 9: %w", store.ErrNotFound), "没有找到，可能已被删除。请刷新页面。"},
		{"what no code explains", errors.New("disk on fire"), zh[codeKey(web.CodeInternal)]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := explain(zh, c.err, map[string]string{"reason": "ColReason", "points": "ColPoints"}); got != c.want {
				t.Errorf("explain = %q, want %q", got, c.want)
			}
		})
	}
}

// TestListsRefusalNamesTheField: an entry the lists refuse is explained
// by its code, naming the form's field to check, in the official's
// language.
func TestListsRefusalNamesTheField(t *testing.T) {
	e := newEnv(t, false)
	period := thisPeriod()
	c, tok := e.signedIn(t, store.RoleOperator)
	form := actionForm(tok, period)
	form.Set("kind", "red")
	form.Set("subject", "person:p1")
	form.Set("category", lists.DefaultCategories()[0].Name)
	form.Set("reason", strings.Repeat("长", 300))
	if a := e.post(t, c, "/lists/entries", form); a.code != http.StatusSeeOther {
		t.Fatalf("create: %d %s", a.code, a.body)
	}
	page := e.get(t, c, listsPath(period))
	if want := `class="flash error">未保存：有填写不符合要求的地方。 请检查：事由。</p>`; !strings.Contains(page.body, want) {
		t.Errorf("no %q in:\n%s", want, page.body)
	}
	form.Set("lang", "en")
	if a := e.post(t, c, "/lists/entries?lang=en", form); a.code != http.StatusSeeOther {
		t.Fatalf("create: %d %s", a.code, a.body)
	}
	page = e.get(t, c, listsPath(period))
	if want := `class="flash error">Not saved: something filled in is not valid. Check: Reason.</p>`; !strings.Contains(page.body, want) {
		t.Errorf("no %q in:\n%s", want, page.body)
	}
}

// TestScriptAnswersCarryCodes: what the console itself answers a script
// is shaped as the API's answers are, with the code to explain it by.
func TestScriptAnswersCarryCodes(t *testing.T) {
	e := newEnv(t, false)
	// No session.
	a := e.get(t, e.client(t), "/ui/api/boxes", "Accept", "application/json")
	var p web.Problem
	if a.code != http.StatusUnauthorized || json.Unmarshal([]byte(a.body), &p) != nil || p.Code != web.CodeBadToken || p.Error != "登录已过期，请重新登录。" {
		t.Errorf("without a session: %d %s", a.code, a.body)
	}
	// A change without the page's CSRF token.
	c, _ := e.signedIn(t, store.RoleAdmin)
	a = e.post(t, c, "/ui/api/boxes", nil, "Accept", "application/json")
	if a.code != http.StatusForbidden || json.Unmarshal([]byte(a.body), &p) != nil || p.Code != web.CodeCSRF {
		t.Errorf("without the CSRF token: %d %s", a.code, a.body)
	}
}
