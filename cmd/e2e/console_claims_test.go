package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleClaimCodes: on the villages page at a phone's width, an
// admin makes a claim code for one village and codes for a sheet of two;
// each is shown once with the command to run on the box; the list shows
// them open; one is revoked; a box enrolls with another, and the list
// says it was used.
func TestConsoleClaimCodes(t *testing.T) {
	c := startCloud(t, cloudOpts{})
	b := newChrome(t, c, 390, 844, 2*time.Minute)
	b.signIn(t, "admin", adminPassword)
	b.run(t, "a code for one village",
		chromedp.Navigate(b.base+"/villages"),
		chromedp.WaitVisible(chromedp.CSS(`#cl-form`)),
		chromedp.SendKeys(chromedp.CSS(`#cl-id`), "cl-1"),
		chromedp.SendKeys(chromedp.CSS(`#cl-name`), "北山村"),
		chromedp.Click(chromedp.CSS(`#cl-create`)),
		chromedp.WaitVisible(chromedp.CSS(`#cl-issued`)),
		chromedp.WaitVisible(chromedp.CSS(`#cl-list tr[data-claim]`)),
	)
	code := eval[string](t, b, `document.querySelector('#cl-issued-rows .cl-code').textContent`)
	if !regexp.MustCompile(`^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$`).MatchString(code) {
		t.Fatalf("the page shows code %q", code)
	}
	command := eval[string](t, b, `document.querySelector('#cl-issued-rows .cl-command').textContent`)
	if !strings.Contains(command, "dalaba-edge enroll --township http://"+c.HTTP+" --code "+code) {
		t.Fatalf("the command shown: %q", command)
	}
	if w := eval[int](t, b, `(document.querySelector('#cl-issued-rows canvas.cl-qr') || {width: 0}).width`); w < 29*3 {
		t.Fatalf("the claim file's QR code is %d pixels wide", w)
	}
	b.screenshot(t, "claims")
	b.run(t, "close the codes", chromedp.Click(chromedp.CSS(`#cl-issued-close`)))
	if n := eval[int](t, b, `document.querySelectorAll('#cl-issued-rows tr').length`); n != 0 {
		t.Fatal("closed, the codes are still on the page")
	}

	sheet := filepath.Join(t.TempDir(), "villages.csv")
	os.WriteFile(sheet, []byte("编号,村名,片区\ncl-2,南山村,南片\ncl-3,西山村,西片\n"), 0o644)
	b.run(t, "codes from a sheet",
		chromedp.SetUploadFiles(chromedp.CSS(`#cl-file`), []string{sheet}),
		chromedp.Click(chromedp.CSS(`#cl-upload`)),
		chromedp.WaitVisible(chromedp.CSS(`#cl-issued`)),
	)
	b.poll(t, 10*time.Second, "three codes listed, open", `document.querySelectorAll('#cl-list tr[data-status="open"]').length === 3`)
	if n := eval[int](t, b, `document.querySelectorAll('#cl-issued-rows tr').length`); n != 2 {
		t.Fatalf("%d codes shown for a sheet of two", n)
	}
	if s := eval[string](t, b, `document.body.innerText`); strings.Contains(s, code) {
		t.Fatal("a code made earlier is shown again")
	}

	revoke := `#cl-list tr[data-claim="2"] .act-revoke`
	b.run(t, "revoke a code (press twice)",
		chromedp.Click(chromedp.CSS(revoke)),
		chromedp.Click(chromedp.CSS(revoke)),
	)
	b.poll(t, 10*time.Second, "the code revoked", `document.querySelector('#cl-list tr[data-claim="2"]').dataset.status === 'revoked'`)

	if status, out := enrollBox(t, c, "--code", code, "--config", filepath.Join(t.TempDir(), "edge.yaml")); status != 0 {
		t.Fatalf("enroll: exit %d:\n%s", status, out)
	}
	b.run(t, "reload", chromedp.Navigate(b.base+"/villages"), chromedp.WaitVisible(chromedp.CSS(`#cl-list tr[data-claim]`)))
	b.poll(t, 10*time.Second, "the code used", `document.querySelector('#cl-list tr[data-claim="1"]').dataset.status === 'used'`)
	if s := eval[string](t, b, `document.body.innerText`); strings.Contains(s, code) {
		t.Fatal("the list shows a code")
	}
}
