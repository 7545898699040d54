package console

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/internal/testenv"
)

// TestBrowserTownships: the county's admin reads each village's and each
// user's township on the villages and users pages, filters the villages
// by township, and registers a box in one; a township's admin sees only
// their own villages and users, with no choice of township.
func TestBrowserTownships(t *testing.T) {
	chromium := testenv.Tool(t, "chromium", "apt-get install chromium")
	e := newAPIEnv(t)
	ctx0 := t.Context()
	for _, tw := range []store.Township{{ID: "t-east", Name: "东山镇"}, {ID: "t-west", Name: "西山镇"}} {
		if err := e.st.CreateTownship(ctx0, tw); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.st.CreateBox(ctx0, store.Box{ID: "village-w", Name: "西岭村", Township: "t-west", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := e.au.AddUserIn(ctx0, "west", "password-west", store.RoleAdmin, "t-west"); err != nil {
		t.Fatal(err)
	}

	// Each official signs in on a browser of their own, as on their own
	// phone: one profile would carry the first one's session cookie (the
	// login page then goes straight to the dashboard) whenever the browser
	// had written it to disk before it closed.
	browser := func() (context.Context, func()) {
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(chromium),
			chromedp.NoSandbox, // the tests run as root in CI containers
			chromedp.DisableGPU,
			chromedp.UserDataDir(t.TempDir()),
			chromedp.WindowSize(1280, 900),
		)
		return chromedp.NewExecAllocator(ctx0, opts...)
	}
	text := func(ctx context.Context, js string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return s
	}
	signIn := func(user, password string) (context.Context, func()) {
		actx, cancelAlloc := browser()
		bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
		ctx, cancel := context.WithTimeout(bctx, time.Minute)
		if err := chromedp.Do(ctx,
			chromedp.Navigate(e.srv.URL+"/login"),
			chromedp.WaitVisible(chromedp.CSS(`#login-form`)),
			chromedp.SendKeys(chromedp.CSS(`#username`), user),
			chromedp.SendKeys(chromedp.CSS(`#password`), password),
			chromedp.Click(chromedp.CSS(`#login-submit`)),
			chromedp.WaitVisible(chromedp.CSS(`#boxes`)),
		); err != nil {
			t.Fatalf("%s signs in: %v", user, err)
		}
		return ctx, func() { cancel(); cancelBrowser(); cancelAlloc() }
	}

	ctx, done := signIn("admin", "password-admin")
	wRow := `#vl-list tr[data-box="village-w"]`
	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.srv.URL+"/villages"),
		chromedp.WaitVisible(chromedp.CSS(wRow)),
	); err != nil {
		t.Fatalf("the villages page: %v", err)
	}
	if got := text(ctx, `document.querySelector('`+wRow+` [data-k=township]').textContent`); got != "西山镇" {
		t.Errorf("west's village shows township %q, want 西山镇", got)
	}
	if got := text(ctx, `document.querySelector('#vl-list tr[data-box="village-1"] [data-k=township]').textContent`); got != "县直属" {
		t.Errorf("the county's own village shows township %q, want 县直属", got)
	}
	// The filter keeps west's; registering a box in east puts it there.
	text(ctx, `(() => { const f = document.getElementById('vl-filter'); f.value = 't-west'; f.dispatchEvent(new Event('change')); return ''; })()`)
	if err := chromedp.Do(ctx,
		chromedp.WaitNotPresent(chromedp.CSS(`#vl-list tr[data-box="village-1"]`)),
		chromedp.WaitVisible(chromedp.CSS(wRow)),
		chromedp.SetValue(chromedp.CSS(`#vl-filter`), "*"),
		chromedp.SendKeys(chromedp.CSS(`#vl-id`), "village-e"),
		chromedp.SendKeys(chromedp.CSS(`#vl-name`), "东村"),
		chromedp.SetValue(chromedp.CSS(`#vl-township`), "t-east"),
		chromedp.Click(chromedp.CSS(`#vl-register`)),
		chromedp.WaitVisible(chromedp.CSS(`#vl-list tr[data-box="village-e"]`)),
	); err != nil {
		t.Fatalf("filter and register: %v", err)
	}
	if b, err := e.st.GetBox(ctx0, "village-e"); err != nil || b.Township != "t-east" {
		t.Errorf("the box registered in east: %+v, %v", b, err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.srv.URL+"/users"),
		chromedp.WaitVisible(chromedp.CSS(`#user-list tr[data-user="west"]`)),
	); err != nil {
		t.Fatalf("the users page: %v", err)
	}
	if got := text(ctx, `document.querySelector('#user-list tr[data-user="west"] [data-k=township]').textContent`); got != "西山镇" {
		t.Errorf("west's admin shows township %q, want 西山镇", got)
	}
	done()

	ctx, done = signIn("west", "password-west")
	defer done()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.srv.URL+"/villages"),
		chromedp.WaitVisible(chromedp.CSS(wRow)),
	); err != nil {
		t.Fatalf("west's villages page: %v", err)
	}
	if n := text(ctx, `String(document.querySelectorAll('#vl-list tbody tr').length) + (document.getElementById('vl-township') ? ' choice' : '')`); n != "1" {
		t.Errorf("west's villages page: %s rows, want its one village and no choice of township", n)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.srv.URL+"/users"),
		chromedp.WaitVisible(chromedp.CSS(`#user-list tr[data-user="west"]`)),
	); err != nil {
		t.Fatalf("west's users page: %v", err)
	}
	if n := text(ctx, `String(document.querySelectorAll('#user-list tbody tr').length)`); n != "1" {
		t.Errorf("west's users page lists %s users, want itself only", n)
	}
}
