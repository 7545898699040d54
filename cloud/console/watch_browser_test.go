package console

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dalaba/dalaba/cloud/notify"
	"github.com/dalaba/dalaba/cloud/notify/notifytest"
	"github.com/dalaba/dalaba/internal/testenv"
)

// TestBrowserAlertsAndDiagnostics: at a phone's size in a real headless
// Chromium, an admin adds a WeCom channel on the alerts page, sends it a
// test message and sees it in the log; on the diagnostics page reads a
// box's log and runs its check. Nothing is wider than the screen. The
// pictures are kept (-artifacts).
func TestBrowserAlertsAndDiagnostics(t *testing.T) {
	chromium := testenv.Tool(t, "chromium", "apt-get install chromium")
	e := newAPIEnv(t)
	rcv := notifytest.New(t, nil)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(390, 844))
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, time.Minute)
	defer cancel()

	narrow := func(page string) {
		t.Helper()
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`)); err != nil || !ok {
			t.Errorf("%s is wider than a phone's screen (%v)", page, err)
		}
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#login-form`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), "admin"),
		chromedp.SendKeys(chromedp.CSS(`#password`), "password-admin"),
		chromedp.Click(chromedp.CSS(`#login-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#nav-alerts`)),
		chromedp.Navigate(e.srv.URL+"/alerts"),
		chromedp.WaitVisible(chromedp.CSS(`#al-add`)),
		chromedp.SendKeys(chromedp.CSS(`#al-add input[name=id]`), "office"),
		chromedp.SendKeys(chromedp.CSS(`#al-add input[name=name]`), "镇政府群"),
		chromedp.SendKeys(chromedp.CSS(`#al-add input[name=url]`), rcv.Channel(notify.KindWeCom).URL),
		chromedp.Click(chromedp.CSS(`#al-add-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`form[data-id="office"] .al-test`)),
		chromedp.Click(chromedp.CSS(`form[data-id="office"] .al-test`)),
		chromedp.WaitVisible(chromedp.CSS(`#al-rows tr[data-state="test"]`)),
	); err != nil {
		t.Fatalf("add a channel and test it: %v", err)
	}
	if got := rcv.Received(); len(got) != 1 || !strings.Contains(got[0].Text, "镇政府群") {
		t.Errorf("the robot received %+v (refused %v)", got, rcv.Refused())
	}
	delivery, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#al-rows tr[data-state="test"] .al-delivery').textContent`))
	if err != nil || delivery != "镇政府群: 已送达" {
		t.Errorf("the test's delivery shows %q (%v)", delivery, err)
	}
	narrow("/alerts")
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		testenv.Screenshot(t, "alerts", png)
	}

	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.srv.URL+"/diag/village-1"),
		chromedp.WaitVisible(chromedp.CSS(`#dg-logs`)),
		chromedp.Click(chromedp.CSS(`#dg-logs`)),
		chromedp.WaitVisible(chromedp.CSS(`#dg-out`)),
	); err != nil {
		t.Fatalf("read the log: %v", err)
	}
	if out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('dg-out').textContent`)); err != nil || !strings.Contains(out, `msg="box running"`) {
		t.Errorf("the log shows %q (%v)", out, err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#dg-check`)),
		chromedp.WaitVisible(chromedp.CSS(`#dg-probes tr[data-code="unreachable"]`)),
	); err != nil {
		t.Fatalf("run the check: %v", err)
	}
	if res, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#dg-probes tr[data-code="unreachable"] [data-k=result]').textContent`)); err != nil || res != "不通 · 3000 ms" {
		t.Errorf("the horn's result shows %q (%v)", res, err)
	}
	narrow("/diag/village-1")
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		testenv.Screenshot(t, "diagnostics", png)
	}
}
