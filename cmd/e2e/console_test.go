package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dalaba/dalaba/internal/testenv"
)

// chrome is a headless Chromium driving the township console of one
// running service.
type chrome struct {
	ctx  context.Context
	base string // http://host:port of the console
}

// newChrome starts Chromium at a w×h window. WebRTC is set up as the
// console needs it on one machine: host candidates carry real addresses
// (Chromium hides them behind mDNS names by default, which the box
// cannot resolve), media may play without a click, and getUserMedia is
// answered by a fake device without asking; flags add to that (a WAV
// file for the fake microphone, say).
func newChrome(t *testing.T, c *cloud, w, h int, timeout time.Duration, flags ...chromedp.ExecAllocatorOption) *chrome {
	t.Helper()
	chromium := testenv.Tool(t, "chromium", "apt-get install chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // the tests run as root in CI containers
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(w, h),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
	)
	opts = append(opts, flags...)
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	ctx, cancel := context.WithTimeout(bctx, timeout)
	t.Cleanup(cancel)
	return &chrome{ctx: ctx, base: "http://" + c.HTTP}
}

// run does acts, failing the test with what on an error.
func (b *chrome) run(t *testing.T, what string, acts ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, acts...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// signIn signs in through the form and waits for the dashboard.
func (b *chrome) signIn(t *testing.T, user, password string) {
	t.Helper()
	b.run(t, "sign in as "+user,
		chromedp.Navigate(b.base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#login-form`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), user),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.Click(chromedp.CSS(`#login-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#logout`)),
	)
}

// eval evaluates a JS expression on the page.
func eval[T any](t *testing.T, b *chrome, expr string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// poll waits until the JS expression is true.
func (b *chrome) poll(t *testing.T, within time.Duration, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(within))); err != nil {
		t.Fatalf("%s: %v (waited for %s)", what, err, expr)
	}
}

// screenshot keeps the page as name.png (testenv.Screenshot says where).
func (b *chrome) screenshot(t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100)) // 100 = PNG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	testenv.Screenshot(t, name, png)
}
