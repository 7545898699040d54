package console

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// TestBrowser signs in through the form in a real headless Chromium at a
// phone's size, lands on the dashboard, sees the box, sees a change
// arrive over the event stream, and keeps a screenshot of a box at work
// (the README's). Run with -artifacts to keep it (the path is logged).
func TestBrowser(t *testing.T) {
	chromium := testenv.Tool(t, "chromium", "apt-get install chromium")
	e := newEnv(t, false)
	// The box's latest health report, with its disk.
	health, err := json.Marshal(protocol.Health{ClockTrusted: true, Clock: time.Now(), DiskFreeBytes: 11 << 30, DiskTotalBytes: 16 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.AppendEvents(t.Context(), "village-1", store.Batch{Floor: 2, Events: []store.Event{
		{BoxID: "village-1", Seq: 2, Time: time.Now(), Type: protocol.EventHealth, Data: health, ReceivedAt: time.Now()},
	}}); err != nil {
		t.Fatal(err)
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

	row := `#boxes tbody tr[data-box="village-1"]`
	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#login-form`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), "viewer"),
		chromedp.SendKeys(chromedp.CSS(`#password`), "password-viewer"),
		chromedp.Click(chromedp.CSS(`#login-submit`)),
		chromedp.WaitVisible(chromedp.CSS(row)),
	); err != nil {
		t.Fatalf("sign in and see the dashboard: %v", err)
	}
	// One evaluation per cell: the stream may replace the row at any time,
	// so a node found by one call can be gone by the next.
	cell := func(k string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+row+` [data-k=`+k+`]').textContent`))
		if err != nil {
			t.Fatalf("read %s: %v", k, err)
		}
		return s
	}
	if name, online, clock := cell("name"), cell("online_text"), cell("clock_text"); name != "一村" || online != "在线" || clock != "可信" {
		t.Errorf("row shows name %q, online %q, clock %q", name, online, clock)
	}

	// A change in the store reaches the page through the event stream:
	// the box has applied its desired state and uploaded its backlog.
	if err := e.st.UpdateBox(t.Context(), "village-1", func(b *store.Box) error {
		b.OutboxBacklog, b.DesiredRev = 0, b.AppliedRev
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('`+row+` [data-k=backlog]').textContent === "0" &&
		document.querySelector('`+row+` [data-k=sync_text]').textContent === "已同步"`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("the stream's change never showed: %v", err)
	}
	if disk := cell("disk"); disk != "剩余 11.0 GiB / 共 16.0 GiB" {
		t.Errorf("disk shows %q", disk)
	}

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100 = PNG; less is JPEG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	testenv.Screenshot(t, "dashboard", png)
}
