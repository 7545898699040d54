package console

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/internal/testenv"
)

// TestBrowserLists runs a month's 红黑榜 through the pages in headless
// Chromium: the operator writes two entries with the form and submits
// them, two reviewers in turn approve both, the operator publishes, and
// the page shows them published. The screenshot is kept (-artifacts).
func TestBrowserLists(t *testing.T) {
	chromium := testenv.Tool(t, "chromium", "apt-get install chromium")
	e := newEnv(t, false)
	if err := e.au.AddUser(t.Context(), "reviewer2", "password-reviewer2", store.RoleReviewer); err != nil {
		t.Fatal(err)
	}
	period := thisPeriod()

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // the tests run as root in CI containers
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()

	page := e.srv.URL + listsPath(period)
	run := func(what string, acts ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, acts...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	signIn := func(user string) {
		t.Helper()
		run("sign in as "+user,
			chromedp.Navigate(e.srv.URL+"/login"),
			chromedp.WaitVisible(chromedp.CSS(`#login-form`)),
			chromedp.SendKeys(chromedp.CSS(`#username`), user),
			chromedp.SendKeys(chromedp.CSS(`#password`), "password-"+user),
			chromedp.Click(chromedp.CSS(`#login-submit`)),
			chromedp.WaitVisible(chromedp.CSS(`#nav-lists`)),
			chromedp.Click(chromedp.CSS(`#nav-lists`)),
			chromedp.WaitVisible(chromedp.CSS(`#pick-form`)),
			chromedp.Navigate(page),
			chromedp.WaitVisible(chromedp.CSS(`#entries`)),
		)
	}
	signOut := func() {
		t.Helper()
		run("sign out", chromedp.Click(chromedp.CSS(`#logout`)), chromedp.WaitVisible(chromedp.CSS(`#login-form`)))
	}
	row := func(id string) string { return `#entries tr[data-entry="` + id + `"]` }

	signIn("operator")
	run("create the red entry",
		chromedp.SetValue(chromedp.CSS(`#new-kind`), "red"),
		chromedp.SetValue(chromedp.CSS(`#new-subject`), "person:p1"),
		chromedp.SetValue(chromedp.CSS(`#new-category`), "孝老爱亲"),
		chromedp.SendKeys(chromedp.CSS(`#new-reason`), "常年照顾孤寡老人"),
		chromedp.Click(chromedp.CSS(`#create-submit`)),
		chromedp.WaitVisible(chromedp.CSS(row("1")+`[data-status="draft"]`)),
	)
	run("create the black entry",
		chromedp.SetValue(chromedp.CSS(`#new-kind`), "black"),
		chromedp.SetValue(chromedp.CSS(`#new-subject`), "household:h1"),
		chromedp.SetValue(chromedp.CSS(`#new-category`), "人居环境整治"),
		chromedp.SendKeys(chromedp.CSS(`#new-reason`), "房前屋后乱堆乱放"),
		chromedp.SendKeys(chromedp.CSS(`#new-points`), "-3"),
		chromedp.Click(chromedp.CSS(`#create-submit`)),
		chromedp.WaitVisible(chromedp.CSS(row("2")+`[data-status="draft"]`)),
	)
	for _, id := range []string{"1", "2"} {
		run("submit "+id,
			chromedp.Click(chromedp.CSS(row(id)+` .act-submit`)),
			chromedp.WaitVisible(chromedp.CSS(row(id)+`[data-status="in_review"]`)),
		)
	}
	signOut()

	for i, reviewer := range []string{"reviewer", "reviewer2"} {
		signIn(reviewer)
		for _, id := range []string{"1", "2"} {
			want := `[data-approvals="1"]`
			if i == 1 {
				want = `[data-status="approved"]`
			}
			run(reviewer+" approves "+id,
				chromedp.Click(chromedp.CSS(row(id)+` .act-approve`)),
				chromedp.WaitVisible(chromedp.CSS(row(id)+want)),
			)
		}
		signOut()
	}

	signIn("operator")
	run("publish",
		chromedp.Click(chromedp.CSS(`#publish`)),
		chromedp.WaitVisible(chromedp.CSS(row("1")+`[data-status="published"]`)),
		chromedp.WaitVisible(chromedp.CSS(row("2")+`[data-status="published"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#board li[data-household="h1"]`)),
	)
	for _, id := range []string{"1", "2"} {
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(row(id)+` [data-k=status]`)))
		if err != nil {
			t.Fatalf("read the status of %s: %v", id, err)
		}
		if s != "已发布" {
			t.Errorf("entry %s shows %q, want 已发布", id, s)
		}
	}
	flash, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#flash`)))
	if err != nil {
		t.Fatalf("read the flash: %v", err)
	}
	if flash != "已发布。" {
		t.Errorf("flash %q, want 已发布。", flash)
	}

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100 = PNG; less is JPEG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	testenv.Screenshot(t, "lists", png)

	// The poster link works with the console's session.
	run("open the poster",
		chromedp.Navigate(e.srv.URL+"/lists/poster?village=village-1&period="+period),
		chromedp.WaitReady(chromedp.CSS(`body`)),
	)
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`body`)))
	if err != nil {
		t.Fatalf("read the poster: %v", err)
	}
	if !strings.Contains(body, "李四") || !strings.Contains(body, "一村") {
		t.Errorf("the poster lacks the entry or the village:\n%s", body)
	}
}
