package console

import (
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
)

// newListsWith is the lists service of an env, with its config and clock
// (nil: time.Now), and one household (h1, head 张三) and its member p1
// (李四) in village-1.
func newListsWith(t *testing.T, log *slog.Logger, st *boltstore.Store, cfg lists.Config, now func() time.Time) *lists.Service {
	t.Helper()
	ls, err := lists.New(cfg, lists.Deps{Logger: log, Store: st, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	admin := lists.Actor{Name: "admin", Role: store.RoleAdmin}
	if _, err := ls.CreateHousehold(t.Context(), admin, "village-1", "h1", "张三"); err != nil {
		t.Fatal(err)
	}
	if _, err := ls.CreatePerson(t.Context(), admin, "village-1", "p1", "李四", "h1"); err != nil {
		t.Fatal(err)
	}
	return ls
}

// thisPeriod is the current month where the lists count periods (UTC+8).
func thisPeriod() string {
	return time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01")
}

func listsPath(period string) string {
	return "/lists?" + url.Values{"village": {"village-1"}, "period": {period}}.Encode()
}

// draft writes an entry through the service, as the operator.
func (e *env) draft(t *testing.T, period string, submit bool) uint64 {
	t.Helper()
	op := lists.Actor{Name: "operator", Role: store.RoleOperator}
	v, err := e.ls.CreateEntry(t.Context(), op, "village-1", lists.EntryInput{
		Kind: store.KindRed, Subject: lists.Subject{Kind: store.SubjectPerson, ID: "p1"},
		Category: lists.DefaultCategories()[0].Name, Reason: "照顾孤寡老人", Period: period,
	})
	if err != nil {
		t.Fatal(err)
	}
	if submit {
		if _, err := e.ls.Submit(t.Context(), op, v.ID); err != nil {
			t.Fatal(err)
		}
	}
	return v.ID
}

func actionForm(csrf, period string) url.Values {
	return url.Values{"csrf": {csrf}, "village": {"village-1"}, "period": {period}}
}

func TestListsViewerSeesNoReviewButtons(t *testing.T) {
	e := newEnv(t, false)
	period := thisPeriod()
	id := e.draft(t, period, true)
	c, tok := e.signedIn(t, store.RoleViewer)
	a := e.get(t, c, listsPath(period))
	if a.code != http.StatusOK {
		t.Fatalf("lists page: %d %s", a.code, a.body)
	}
	if !strings.Contains(a.body, `data-entry="`+strconv.FormatUint(id, 10)+`"`) || !strings.Contains(a.body, "审核中") {
		t.Errorf("the entry in review is not shown:\n%s", a.body)
	}
	for _, s := range []string{"act-approve", "act-reject", "act-submit", "create-form", "publish-form"} {
		if strings.Contains(a.body, s) {
			t.Errorf("a viewer sees %s", s)
		}
	}
	if !strings.Contains(a.body, `id="nav-lists"`) {
		t.Error("no link to the lists in the navigation")
	}
	path := "/lists/entries/" + strconv.FormatUint(id, 10) + "/approve"
	if a := e.post(t, c, path, actionForm(tok, period)); a.code != http.StatusForbidden {
		t.Errorf("viewer's approve: %d, want 403", a.code)
	}
	if v, err := e.ls.Entry(t.Context(), id); err != nil || len(v.Approvals) != 0 {
		t.Errorf("after the viewer's approve: %+v %v", v.Approvals, err)
	}

	// A reviewer sees the buttons.
	rc, _ := e.signedIn(t, store.RoleReviewer)
	if a := e.get(t, rc, listsPath(period)); !strings.Contains(a.body, "act-approve") || !strings.Contains(a.body, "act-reject") {
		t.Errorf("a reviewer sees no approve or reject button:\n%s", a.body)
	}
}

func TestListsChangeNeedsCSRF(t *testing.T) {
	e := newEnv(t, false)
	period := thisPeriod()
	id := e.draft(t, period, true)
	c, _ := e.signedIn(t, store.RoleReviewer)
	path := "/lists/entries/" + strconv.FormatUint(id, 10) + "/approve"
	for _, tok := range []string{"", "forged"} {
		if a := e.post(t, c, path, actionForm(tok, period)); a.code != http.StatusForbidden {
			t.Errorf("approve with CSRF %q: %d, want 403", tok, a.code)
		}
	}
	if v, err := e.ls.Entry(t.Context(), id); err != nil || len(v.Approvals) != 0 {
		t.Errorf("approved without CSRF: %+v %v", v.Approvals, err)
	}
}

func TestListsAuthorCannotApprove(t *testing.T) {
	e := newEnv(t, false)
	period := thisPeriod()
	c, tok := e.signedIn(t, store.RoleAdmin)
	// The admin writes the entry through the form, then submits it.
	form := actionForm(tok, period)
	form.Set("kind", "black")
	form.Set("subject", "household:h1")
	form.Set("category", lists.DefaultCategories()[0].Name)
	form.Set("reason", "乱堆柴草")
	form.Set("points", "-5")
	a := e.post(t, c, "/lists/entries", form)
	if a.code != http.StatusSeeOther || a.h.Get("Location") != listsPath(period) {
		t.Fatalf("create: %d %q %s", a.code, a.h.Get("Location"), a.body)
	}
	es, err := e.ls.Entries(t.Context(), lists.Filter{Village: "village-1", Period: period})
	if err != nil || len(es) != 1 || es[0].Author != "admin" || es[0].Points != -5 || es[0].Kind != store.KindBlack {
		t.Fatalf("entries after create: %+v %v", es, err)
	}
	id := strconv.FormatUint(es[0].ID, 10)
	if page := e.get(t, c, listsPath(period)); !strings.Contains(page.body, "已保存草稿。") {
		t.Errorf("no success message after create:\n%s", page.body)
	}
	if a := e.post(t, c, "/lists/entries/"+id+"/submit", actionForm(tok, period)); a.code != http.StatusSeeOther {
		t.Fatalf("submit: %d %s", a.code, a.body)
	}
	e.get(t, c, listsPath(period)) // reads the flash

	page := e.get(t, c, listsPath(period))
	if strings.Contains(page.body, "act-approve") {
		t.Error("the author is offered an approve button")
	}
	if a := e.post(t, c, "/lists/entries/"+id+"/approve", actionForm(tok, period)); a.code != http.StatusSeeOther {
		t.Fatalf("author's approve: %d %s", a.code, a.body)
	}
	page = e.get(t, c, listsPath(period))
	// The refusal in the official's words, by its code; not the service's.
	want := `class="flash error">您不能进行这个操作（例如自己填写或修改过的条目，须由其他审核人审核）。</p>`
	if !strings.Contains(page.body, want) || strings.Contains(page.body, "lists: forbidden") {
		t.Errorf("no refusal %q in:\n%s", want, page.body)
	}
	if v, err := e.ls.Entry(t.Context(), es[0].ID); err != nil || len(v.Approvals) != 0 || v.Status != store.StatusInReview {
		t.Errorf("after the author's approve: %+v %v", v, err)
	}
	// The flash is shown once.
	if page := e.get(t, c, listsPath(period)); strings.Contains(page.body, `class="flash error"`) {
		t.Error("the flash was shown twice")
	}
}

func TestListsPoster(t *testing.T) {
	e := newEnv(t, false)
	period := thisPeriod()
	id := e.draft(t, period, true)
	for _, name := range []string{"reviewer", "admin"} {
		if _, err := e.ls.Approve(t.Context(), lists.Actor{Name: name, Role: store.Role(name)}, id, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.ls.Publish(t.Context(), lists.Actor{Name: "operator", Role: store.RoleOperator}, "village-1", period); err != nil {
		t.Fatal(err)
	}
	c, _ := e.signedIn(t, store.RoleViewer)
	page := e.get(t, c, listsPath(period))
	if !strings.Contains(page.body, `/lists/poster?period=`+period+`&amp;village=village-1`) || !strings.Contains(page.body, "已发布") {
		t.Errorf("no poster link or published status:\n%s", page.body)
	}
	// The published entry counts on the month's points board (积分榜).
	if !strings.Contains(page.body, `id="board"`) || !strings.Contains(page.body, `<li data-household="h1">`) {
		t.Errorf("no points board with household h1:\n%s", page.body)
	}
	a := e.get(t, c, "/lists/poster?period="+period+"&village=village-1")
	if a.code != http.StatusOK || !strings.Contains(a.body, "李四") || !strings.Contains(a.body, "一村") {
		t.Errorf("poster: %d\n%s", a.code, a.body)
	}
	if a := e.get(t, e.client(t), "/lists/poster?period="+period+"&village=village-1"); a.code != http.StatusSeeOther {
		t.Errorf("poster without a session: %d", a.code)
	}
}
