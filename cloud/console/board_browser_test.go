package console

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/internal/testenv"
)

// TestBrowserDashboardPages: on a phone, an official filters the boxes to
// one township's boxes with problems, pages forward, and the page's live
// stream updates a box on that page.
func TestBrowserDashboardPages(t *testing.T) {
	chromium := testenv.Tool(t, "chromium", "apt-get install chromium")
	e := newEnv(t, false)
	for i := range 119 { // with village-1, 120 boxes, all offline
		town := "东山镇"
		if i%2 == 1 {
			town = "西河镇"
		}
		if err := e.st.CreateBox(t.Context(), store.Box{ID: fmt.Sprintf("v%03d", i), Name: fmt.Sprintf("村%03d", i), Place: town + "/一片", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // the tests run as root in CI containers
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(390, 844),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, time.Minute)
	defer cancel()

	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+sel+`').textContent`))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#login-form`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), "viewer"),
		chromedp.SendKeys(chromedp.CSS(`#password`), "password-viewer"),
		chromedp.Click(chromedp.CSS(`#login-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#db-filter`)),
	); err != nil {
		t.Fatalf("sign in and see the dashboard: %v", err)
	}
	if summary := text("#db-summary"); summary != "共 120 台，显示第 1–50 台。" {
		t.Errorf("first page says %q", summary)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#db-place`), "西河镇"),
		chromedp.Click(chromedp.CSS(`#db-problems`)),
		chromedp.Click(chromedp.CSS(`#db-apply`)),
	); err != nil {
		t.Fatalf("filter: %v", err)
	}
	// The form loads a new page; wait for it rather than for elements the
	// old page had too.
	// A poll may meet the page between documents; it asks again until its
	// deadline.
	says := func(want string) {
		t.Helper()
		got := ""
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState === 'complete' ?
				document.getElementById('db-summary').textContent : ''`))
			if err == nil && s == want {
				return
			}
			got = s
		}
		t.Fatalf("the page never said %q (it says %q)", want, got)
	}
	says("共 59 台，显示第 1–50 台。")
	row := `#boxes tbody tr[data-box="v115"]`
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('db-next').click(), true`)); err != nil {
		t.Fatalf("next page: %v", err)
	}
	says("共 59 台，显示第 51–59 台。")
	// The stream of this page brings a change to one of its boxes.
	if err := e.st.UpdateBox(t.Context(), "v115", func(b *store.Box) error { b.OutboxBacklog = 77; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('`+row+` [data-k=backlog]').textContent === "77" &&
		document.querySelectorAll('#boxes tbody tr').length === 9`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("the page's stream never showed the change: %v", err)
	}
}
