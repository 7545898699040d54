package console

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/internal/testenv"
)

// TestBrowserPublicNotice runs a round's public notice (公示) through the
// pages in headless Chromium at a phone's size, one browser throughout:
// the operator publishes two approved entries, which go on notice for
// three days; a day later the black entry's household objects on its own
// villager page; a reviewer upholds that objection and dismisses one
// taken at the office against the red entry; a supervisor flags an entry
// in review and is offered nothing else. When the three simulated days
// are over the red entry is published, and the list, the poster and the
// loudspeaker's text are without the black one.
func TestBrowserPublicNotice(t *testing.T) {
	chromium := testenv.Tool(t, "chromium", "apt-get install chromium")
	cst := time.FixedZone("CST", 8*3600)
	y, m, _ := time.Now().In(cst).Date()
	var mu sync.Mutex
	now := time.Date(y, m, 10, 9, 0, 0, 0, cst)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	step := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	period := now.Format("2006-01")
	e := newEnvWith(t, false, lists.Config{NoticeDays: 3, Approvals: 1}, clock)
	ctx := t.Context()
	op, rv := lists.Actor{Name: "operator", Role: store.RoleOperator}, lists.Actor{Name: "reviewer", Role: store.RoleReviewer}
	if _, err := e.ls.CreateHousehold(ctx, op, "village-1", "h2", "王秀英"); err != nil {
		t.Fatal(err)
	}
	entry := func(kind store.ListKind, subject lists.Subject, cat, reason string, approve bool) uint64 {
		t.Helper()
		v, err := e.ls.CreateEntry(ctx, op, "village-1", lists.EntryInput{Kind: kind, Subject: subject, Category: cat, Reason: reason, Period: period})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.ls.Submit(ctx, op, v.ID); err != nil {
			t.Fatal(err)
		}
		if approve {
			if _, err := e.ls.Approve(ctx, rv, v.ID, ""); err != nil {
				t.Fatal(err)
			}
		}
		return v.ID
	}
	red := entry(store.KindRed, lists.Subject{Kind: store.SubjectPerson, ID: "p1"}, "孝老爱亲", "常年照顾孤寡老人", true)
	black := entry(store.KindBlack, lists.Subject{Kind: store.SubjectHousehold, ID: "h2"}, "人居环境整治", "房前屋后乱堆乱放", true)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(390, 844))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	bctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()
	run := func(what string, acts ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, acts...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	page := e.srv.URL + listsPath(period)
	row := func(id uint64) string { return `#entries tr[data-entry="` + itoa(id) + `"]` }
	signIn := func(user string) {
		t.Helper()
		run("sign in as "+user,
			chromedp.Navigate(e.srv.URL+"/login"),
			chromedp.WaitVisible(chromedp.CSS(`#login-form`)),
			chromedp.SendKeys(chromedp.CSS(`#username`), user),
			chromedp.SendKeys(chromedp.CSS(`#password`), "password-"+user),
			chromedp.Click(chromedp.CSS(`#login-submit`)),
			chromedp.WaitVisible(chromedp.CSS(`#nav-lists`)),
			chromedp.Navigate(page),
			chromedp.WaitVisible(chromedp.CSS(`#entries`)),
		)
	}
	signOut := func() {
		t.Helper()
		run("sign out", chromedp.Click(chromedp.CSS(`#logout`)), chromedp.WaitVisible(chromedp.CSS(`#login-form`)))
	}

	signIn("operator")
	run("publish: the entries go on notice",
		chromedp.Click(chromedp.CSS(`#publish`)),
		chromedp.WaitVisible(chromedp.CSS(row(red)+`[data-status="notice"]`)),
		chromedp.WaitVisible(chromedp.CSS(row(black)+`[data-status="notice"]`)),
	)
	if s := text(row(red) + ` [data-k=status]`); s != "公示中" {
		t.Errorf("an entry on notice shows %q, want 公示中", s)
	}
	signOut()
	if txt := mustList(t, e.ls, period).Text; txt != "" {
		t.Fatalf("announced during the notice: %q", txt)
	}

	// Day 1: 王秀英户 objects on its own page, reached by its printed link.
	step(24 * time.Hour)
	link, err := e.ls.IssueLink(ctx, op, "village-1", "h2")
	if err != nil {
		t.Fatal(err)
	}
	vrow := `#v-lists .vrow[data-entry="` + itoa(black) + `"]`
	run("the villager page shows the list on notice",
		chromedp.Navigate(e.srv.URL+link.Path),
		chromedp.WaitVisible(chromedp.CSS(`#v-balance`)),
		chromedp.WaitVisible(chromedp.CSS(vrow+` .tag`)),
		chromedp.Click(chromedp.CSS(vrow+` summary`)),
		chromedp.SendKeys(chromedp.CSS(vrow+` input[name=name]`), "王秀英"),
		chromedp.SendKeys(chromedp.CSS(vrow+` input[name=contact]`), "13800138000"),
		chromedp.SendKeys(chromedp.CSS(vrow+` input[name=reason]`), "柴草上周已清理干净"),
		chromedp.Click(chromedp.CSS(vrow+` .act-object`)),
		chromedp.WaitVisible(chromedp.CSS(`#flash.ok`)),
	)
	if s := text(`#flash`); s != "已收到您的异议，村委会将核实处理。" {
		t.Errorf("after the objection the page says %q", s)
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Screenshot(t, "villager", png)
	if got := e.get(t, e.client(t), "/v/not-a-link"); got.code != http.StatusNotFound || !strings.Contains(got.body, "链接无效") {
		t.Errorf("a wrong link: %d", got.code)
	}
	// At the office an objection against the red entry, which will not hold.
	if _, err := e.ls.Object(ctx, op, red, lists.Objection{Name: "赵六", Contact: "村西头", Reason: "不是他照顾的"}); err != nil {
		t.Fatal(err)
	}

	// A supervisor flags an entry in review, and can do nothing else with it.
	review := entry(store.KindRed, lists.Subject{Kind: store.SubjectPerson, ID: "p1"}, "移风易俗", "婚事新办", false)
	signIn("supervisor")
	run("the supervisor flags the entry in review",
		chromedp.SendKeys(chromedp.CSS(row(review)+` input[name=note]`), "评审材料不全，请复核"),
		chromedp.Click(chromedp.CSS(row(review)+` .act-flag`)),
		chromedp.WaitVisible(chromedp.CSS(row(review)+`[data-status="on_hold"]`)),
	)
	for _, sel := range []string{".act-approve", ".act-reject", ".act-submit", "#create-form", "#publish", ".act-uphold"} {
		if n, _ := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('`+sel+`').length`)); n != 0 {
			t.Errorf("the supervisor is offered %s", sel)
		}
	}
	signOut()
	c, tok := e.signedIn(t, store.RoleSupervisor)
	if a := e.post(t, c, "/lists/entries/"+itoa(review)+"/approve", url.Values{"csrf": {tok}}); a.code != http.StatusForbidden {
		t.Errorf("a supervisor approving: %d, want 403", a.code)
	}
	if _, err := e.ls.UpdateEntry(ctx, lists.Actor{Name: "supervisor", Role: store.RoleSupervisor}, review, lists.EntryInput{}, 0); err == nil {
		t.Error("a supervisor edited an entry")
	}

	// The reviewer upholds the villager's objection and dismisses the other.
	signIn("reviewer")
	hold := func(entry uint64) string { return `#holds .hold[data-entry="` + itoa(entry) + `"]` }
	run("uphold the objection to the black entry",
		chromedp.WaitVisible(chromedp.CSS(hold(black))),
		chromedp.SendKeys(chromedp.CSS(hold(black)+` form[action$="/uphold"] input[name=reason]`), "经核实已整改，不再上榜"),
		chromedp.Click(chromedp.CSS(hold(black)+` .act-uphold`)),
		chromedp.WaitVisible(chromedp.CSS(row(black)+`[data-status="withdrawn"]`)),
	)
	run("dismiss the objection to the red entry",
		chromedp.SendKeys(chromedp.CSS(hold(red)+` form[action$="/dismiss"] input[name=reason]`), "经走访核实属实"),
		chromedp.Click(chromedp.CSS(hold(red)+` .act-dismiss`)),
		chromedp.WaitVisible(chromedp.CSS(row(red)+`[data-status="notice"]`)),
	)
	signOut()

	// Three days after publication the notice ends: the red entry alone.
	step(48 * time.Hour)
	if n, err := e.ls.Settle(ctx); err != nil || n != 1 {
		t.Fatalf("the notice's end published %d, %v; want the red entry", n, err)
	}
	signIn("operator")
	run("the list after the notice",
		chromedp.WaitVisible(chromedp.CSS(row(red)+`[data-status="published"]`)),
		chromedp.WaitVisible(chromedp.CSS(row(black)+`[data-status="withdrawn"]`)),
	)
	lv := mustList(t, e.ls, period)
	if len(lv.Black) != 0 || len(lv.Red) != 1 || strings.Contains(lv.Text, "王秀英") || !strings.Contains(lv.Text, "李四") {
		t.Errorf("the published list: %+v, text %q", lv, lv.Text)
	}
	run("open the poster", chromedp.Navigate(e.srv.URL+"/lists/poster?village=village-1&period="+period), chromedp.WaitReady(chromedp.CSS(`body`)))
	if body := text(`body`); strings.Contains(body, "王秀英") || strings.Contains(body, "乱堆") || !strings.Contains(body, "李四") {
		t.Errorf("the poster:\n%s", body)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func mustList(t *testing.T, ls *lists.Service, period string) lists.ListView {
	t.Helper()
	lv, err := ls.List(t.Context(), "village-1", period)
	if err != nil {
		t.Fatal(err)
	}
	return lv
}
