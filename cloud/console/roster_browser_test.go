package console

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/xuri/excelize/v2"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/internal/testenv"
)

// rosterWorkbook writes a village's roster as its office keeps it: 40
// households of three, and two rows broken on purpose (another head for
// household 007; no name).
func rosterWorkbook(t *testing.T) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	sh := f.GetSheetName(0)
	rows := [][]any{{"户主", "户号", "姓名", "身份证后四位", "所属村民小组", "联系电话"}}
	for h := 1; h <= 40; h++ {
		hid := fmt.Sprintf("%03d", h)
		rows = append(rows,
			[]any{"王" + hid, hid, "王" + hid, fmt.Sprintf("%04d", h), "一组", fmt.Sprintf("139%08d", h)},
			[]any{"王" + hid, hid, "李" + hid},
			[]any{nil, hid, "王小" + hid},
		)
		if h == 10 {
			rows = append(rows, []any{"赵冒名", "007", "赵冒名"}, []any{"王010", "010", nil, nil, "一组"})
		}
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow(sh, cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "村民名册.xlsx")
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBrowserRoster: an operator imports the village's roster on a
// phone: the preview lists the two broken rows with their reasons and
// writes nothing; the confirmation imports the rest; a search finds a
// person, whose phone shows masked until asked; a person is marked
// deceased. The screenshot is kept (-artifacts).
func TestBrowserRoster(t *testing.T) {
	chromium := testenv.Tool(t, "chromium", "apt-get install chromium")
	e := newAPIEnv(t)
	book := rosterWorkbook(t)
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
	run := func(what string, acts ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, acts...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(expr string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return s
	}
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	run("sign in and open the roster",
		chromedp.Navigate(e.srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#login-form`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), "operator"),
		chromedp.SendKeys(chromedp.CSS(`#password`), "password-operator"),
		chromedp.Click(chromedp.CSS(`#login-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#nav-roster`)),
		chromedp.Click(chromedp.CSS(`#nav-roster`)),
		chromedp.WaitVisible(chromedp.CSS(`#ro-import-form`)),
	)
	// The village has one household already (newEnv's).
	poll("the roster is listed", `document.querySelectorAll('#ro-households .ro-household').length === 1`)
	run("preview the workbook",
		chromedp.SetUploadFiles(chromedp.CSS(`#ro-file`), []string{book}),
		chromedp.Click(chromedp.CSS(`#ro-preview`)),
		chromedp.WaitVisible(chromedp.CSS(`#ro-plan`)),
	)
	refused := text(`Array.from(document.querySelectorAll('#ro-refused li')).map(function (li) { return li.dataset.row + ':' + li.dataset.reason + ':' + li.textContent; }).join('\n')`)
	lines := strings.Split(refused, "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "32:head_conflict:第 32 行") || !strings.Contains(lines[0], "户主") || !strings.HasPrefix(lines[1], "33:name_empty:第 33 行") {
		t.Errorf("the refused rows read:\n%s", refused)
	}
	if s := text(`document.getElementById('ro-plan-summary').textContent`); !strings.Contains(s, "新增 40 户、120 人") || !strings.Contains(s, "2 行被拒绝") {
		t.Errorf("the plan reads %q", s)
	}
	if hs, _ := e.st.ListHouseholds(t.Context(), "village-1"); len(hs) != 1 {
		t.Fatalf("the preview wrote %d households", len(hs))
	}
	run("confirm", chromedp.Click(chromedp.CSS(`#ro-confirm`)))
	poll("the import is done", `document.getElementById('ro-import-status').className.indexOf('ok') >= 0`)
	poll("the roster lists the households", `document.querySelectorAll('#ro-households .ro-household').length === 41`)
	if ps, _ := e.st.ListPersons(t.Context(), "village-1"); len(ps) != 121 {
		t.Fatalf("%d persons after the import, want 121", len(ps))
	}

	run("search", chromedp.SendKeys(chromedp.CSS(`#ro-q`), "王012"), chromedp.Click(chromedp.CSS(`#ro-search-button`)))
	poll("the search finds the household", `document.querySelectorAll('#ro-households .ro-household').length === 1`)
	if s := text(`document.querySelector('#ro-households li[data-person="012-1"] .phone').textContent`); s != "139****0012" {
		t.Errorf("the phone shows %q, want it masked", s)
	}
	run("reveal", chromedp.Click(chromedp.CSS(`#ro-reveal`)))
	poll("the phone is revealed", `document.querySelector('#ro-households li[data-person="012-1"] .phone').textContent === '13900000012'`)
	run("mark a person deceased",
		chromedp.Click(chromedp.CSS(`#ro-households li[data-person="012-3"] .act-edit-person`)),
		chromedp.WaitVisible(chromedp.CSS(`#ro-person-edit`)),
		chromedp.SetValue(chromedp.CSS(`#ro-edit-status`), "deceased"),
		chromedp.Click(chromedp.CSS(`#ro-edit-save`)),
	)
	poll("the person shows deceased", `document.querySelector('#ro-households li[data-person="012-3"]').dataset.status === 'deceased'`)
	if p, err := e.st.GetPerson(t.Context(), "village-1", "012-3"); err != nil || p.Status != store.PersonDeceased {
		t.Errorf("stored %+v, %v", p, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100 = PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	testenv.Screenshot(t, "roster", png)
	_ = os.Remove(book) // the workbook is the test's own
}
