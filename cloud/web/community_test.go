package web

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/store"
)

// problemCode calls as user and returns the status and the error's code.
func (e *listsEnv) problemCode(t *testing.T, user, method, path, body string) (int, Code) {
	t.Helper()
	code, b, _ := e.raw(t, e.user[user], method, path, "application/json", []byte(body), nil)
	if code < 400 {
		return code, ""
	}
	p := checkProblem(t, method+" "+path, code, b)
	return code, p.Code
}

// TestPublicNoticeOverTheAPI: approve → three days of 公示 → an objection
// holds the entry → a reviewer upholds it → the published list, the
// poster and the announced text are without it; a supervisor reads the
// objections and flags, and may not approve or edit.
func TestPublicNoticeOverTheAPI(t *testing.T) {
	e := newListsEnvConfig(t, nil, lists.Config{NoticeDays: 3}, lists.Deps{})
	e.registers(t)
	red := e.entry(t, operator1, `{"kind":"red","subject":{"kind":"person","id":"p1"},"category":"孝老爱亲","reason":"照顾瘫痪老人十年","period":"2026-11"}`)
	black := e.entry(t, operator1, `{"kind":"black","subject":{"kind":"household","id":"h02"},"category":"人居环境整治","reason":"门前乱堆柴草","period":"2026-11"}`)
	for _, id := range []uint64{red, black} {
		e.do(t, operator1, "POST", fmt.Sprintf("/api/v1/entries/%d/submit", id), "", 200, nil)
		e.do(t, reviewer1, "POST", fmt.Sprintf("/api/v1/entries/%d/approve", id), "", 200, nil)
		e.do(t, reviewer2, "POST", fmt.Sprintf("/api/v1/entries/%d/approve", id), "", 200, nil)
	}
	var pub lists.Published
	e.do(t, operator1, "POST", "/api/v1/villages/village-1/lists/2026-11/publish", "", 200, &pub)
	if pub.NoticeEnds.IsZero() || pub.Text != "" || len(e.ann.all()) != 0 {
		t.Fatalf("publish with notice = %+v, announced %v", pub, e.ann.all())
	}
	var lv lists.ListView
	e.do(t, viewer1, "GET", "/api/v1/villages/village-1/lists/2026-11", "", 200, &lv)
	if len(lv.Red) != 1 || !lv.Red[0].Notice || len(lv.Black) != 1 || lv.Text != "" {
		t.Fatalf("the list on notice = %+v", lv)
	}
	e.clk.Set(november.Add(24 * time.Hour))
	var h lists.HoldView
	e.do(t, operator1, "POST", fmt.Sprintf("/api/v1/entries/%d/objections", black), `{"name":"李秀英","contact":"13800138000","reason":"已清理"}`, 201, &h)
	// The supervisor sees it, flags the red entry, may not approve or edit.
	var holds []lists.HoldView
	e.do(t, supervisor1, "GET", "/api/v1/holds?village=village-1&status=open", "", 200, &holds)
	if len(holds) != 1 || holds[0].Contact != "13800138000" {
		t.Fatalf("the supervisor's view of the objections: %+v", holds)
	}
	var flag lists.HoldView
	e.do(t, supervisor1, "POST", fmt.Sprintf("/api/v1/entries/%d/flag", red), `{"note":"请核实是否本人照顾"}`, 201, &flag)
	if code, c := e.problemCode(t, supervisor1, "POST", fmt.Sprintf("/api/v1/entries/%d/approve", red), ""); code != 403 || c != CodeForbidden {
		t.Errorf("a supervisor approving: %d %s", code, c)
	}
	if code, _ := e.problemCode(t, supervisor1, "PUT", fmt.Sprintf("/api/v1/entries/%d", red), `{"kind":"red"}`); code != 403 {
		t.Errorf("a supervisor editing: %d", code)
	}
	if code, _ := e.problemCode(t, supervisor1, "POST", fmt.Sprintf("/api/v1/holds/%d/dismiss", flag.ID), `{"reason":"x"}`); code != 403 {
		t.Errorf("a supervisor resolving: %d", code)
	}
	if code, _ := e.problemCode(t, viewer1, "GET", "/api/v1/holds", ""); code != 403 {
		t.Errorf("a viewer reading objections: %d", code)
	}
	var entry lists.EntryView
	e.do(t, viewer1, "GET", fmt.Sprintf("/api/v1/entries/%d", red), "", 200, &entry)
	if entry.Status != store.StatusOnHold {
		t.Fatalf("the flagged entry is %s", entry.Status)
	}
	e.do(t, reviewer1, "POST", fmt.Sprintf("/api/v1/holds/%d/uphold", h.ID), `{"reason":"经核实已整改"}`, 200, nil)
	e.do(t, reviewer2, "POST", fmt.Sprintf("/api/v1/holds/%d/dismiss", flag.ID), `{"reason":"走访核实属实"}`, 200, nil)
	if code, c := e.problemCode(t, reviewer2, "POST", fmt.Sprintf("/api/v1/holds/%d/dismiss", flag.ID), `{"reason":"again"}`); code != 409 || c != CodeListsConflict {
		t.Errorf("resolving twice: %d %s", code, c)
	}
	// Three days on, the service settles the notice: the red entry alone.
	e.clk.Set(november.Add(72 * time.Hour))
	if n, err := e.api.ls.Settle(t.Context()); err != nil || n != 1 {
		t.Fatalf("Settle = %d, %v", n, err)
	}
	lv = lists.ListView{}
	e.do(t, viewer1, "GET", "/api/v1/villages/village-1/lists/2026-11", "", 200, &lv)
	if len(lv.Red) != 1 || lv.Red[0].Notice || len(lv.Black) != 0 || strings.Contains(lv.Text, "李秀英") || !strings.Contains(lv.Text, "张小明") {
		t.Fatalf("the published list = %+v", lv)
	}
	if calls := e.ann.all(); len(calls) != 1 || strings.Contains(calls[0].text, "李秀英") {
		t.Fatalf("announced %+v", calls)
	}
	_, poster, _ := e.raw(t, e.user[viewer1], "GET", "/api/v1/villages/village-1/lists/2026-11/poster", "", nil, nil)
	if strings.Contains(string(poster), "李秀英") || !strings.Contains(string(poster), "张小明") {
		t.Errorf("the poster:\n%s", poster)
	}
	// The withdrawn entry's history has every step, readable by the supervisor.
	var hist struct{ Records []auditJSON }
	e.do(t, supervisor1, "GET", fmt.Sprintf("/api/v1/entries/%d/history", black), "", 200, &hist)
	var actions []string
	for _, r := range hist.Records {
		actions = append(actions, r.Action)
	}
	if got := strings.Join(actions, " "); !strings.HasSuffix(got, "entry.notice objection.lodge hold.uphold") {
		t.Errorf("history: %s", got)
	}
}

// TestRoundsAndPeriodsOverTheAPI: quarters and months side by side; a bad
// period answers lists.bad_period.
func TestRoundsAndPeriodsOverTheAPI(t *testing.T) {
	e := newListsEnvConfig(t, nil, lists.Config{Approvals: 1, Rounds: lists.Rounds{Categories: map[string]lists.Round{"孝老爱亲": lists.RoundQuarterly}}}, lists.Deps{})
	e.registers(t)
	q := e.entry(t, operator1, `{"kind":"red","subject":{"kind":"person","id":"p1"},"category":"孝老爱亲","reason":"照顾老人","period":"2026-Q4"}`)
	m := e.entry(t, operator1, `{"kind":"red","subject":{"kind":"person","id":"p1"},"category":"厕所革命","reason":"改厕","period":"2026-11"}`)
	for _, c := range []struct{ body string }{
		{`{"kind":"red","subject":{"kind":"person","id":"p1"},"category":"孝老爱亲","reason":"x","period":"2026-11"}`},
		{`{"kind":"red","subject":{"kind":"person","id":"p1"},"category":"厕所革命","reason":"x","period":"2026-Q4"}`},
		{`{"kind":"red","subject":{"kind":"person","id":"p1"},"category":"厕所革命","reason":"x","period":"2026-Q5"}`},
	} {
		if code, got := e.problemCode(t, operator1, "POST", "/api/v1/villages/village-1/entries", c.body); code != 400 || got != CodeBadPeriod {
			t.Errorf("%s: %d %s, want 400 lists.bad_period", c.body, code, got)
		}
	}
	for _, p := range []string{"2026-13", "2026-Q0", "26-Q1"} {
		if code, got := e.problemCode(t, viewer1, "GET", "/api/v1/villages/village-1/leaderboard?period="+p, ""); code != 400 || got != CodeBadPeriod {
			t.Errorf("leaderboard of %s: %d %s", p, code, got)
		}
	}
	for _, id := range []uint64{q, m} {
		e.do(t, operator1, "POST", fmt.Sprintf("/api/v1/entries/%d/submit", id), "", 200, nil)
		e.do(t, reviewer1, "POST", fmt.Sprintf("/api/v1/entries/%d/approve", id), "", 200, nil)
	}
	e.do(t, operator1, "POST", "/api/v1/villages/village-1/lists/2026-Q4/publish", "", 200, nil)
	e.do(t, operator1, "POST", "/api/v1/villages/village-1/lists/2026-11/publish", "", 200, nil)
	var board []lists.Standing
	e.do(t, viewer1, "GET", "/api/v1/villages/village-1/leaderboard?period=2026-Q4", "", 200, &board)
	if board[0].Household != "h01" || board[0].Points != 15 {
		t.Fatalf("the quarter's board: %+v", board)
	}
	calls := e.ann.all()
	if len(calls) != 2 || calls[0].period != "2026-Q4" || !strings.Contains(calls[0].text, "第四季度") {
		t.Fatalf("announced %+v", calls)
	}
}

// TestShopOverTheAPI: two clerks at once for the last item, a replay,
// never below zero, a cancellation, each refusal by its code.
func TestShopOverTheAPI(t *testing.T) {
	e := newListsEnvConfig(t, nil, lists.Config{Approvals: 1}, lists.Deps{})
	e.registers(t)
	id := e.entry(t, operator1, `{"kind":"red","subject":{"kind":"household","id":"h01"},"category":"厕所革命","reason":"改厕","period":"2026-11"}`)
	e.do(t, operator1, "POST", fmt.Sprintf("/api/v1/entries/%d/submit", id), "", 200, nil)
	e.do(t, reviewer1, "POST", fmt.Sprintf("/api/v1/entries/%d/approve", id), "", 200, nil)
	e.do(t, operator1, "POST", "/api/v1/villages/village-1/lists/2026-11/publish", "", 200, nil)
	e.do(t, operator1, "POST", "/api/v1/villages/village-1/goods", `{"id":"towel","name":"毛巾","price":3,"stock":1,"on_sale":true}`, 201, nil)
	if code, _ := e.problemCode(t, reviewer1, "POST", "/api/v1/villages/village-1/goods", `{"id":"soap","name":"肥皂","price":1,"stock":1,"on_sale":true}`); code != 403 {
		t.Errorf("a reviewer keeping the shop: %d", code)
	}
	var wg sync.WaitGroup
	codes := make([]int, 2)
	bodies := make([][]byte, 2)
	for i, user := range []string{operator1, operator2} {
		wg.Go(func() {
			codes[i], bodies[i], _ = e.raw(t, e.user[user], "POST", "/api/v1/villages/village-1/redemptions", "application/json",
				fmt.Appendf(nil, `{"household":"h01","goods":"towel","quantity":1,"key":"desk-%d-0001"}`, i), nil)
		})
	}
	wg.Wait()
	win := 0
	if codes[0] != 201 {
		win = 1
	}
	var p Problem
	if codes[win] != 201 || codes[1-win] != 409 || json.Unmarshal(bodies[1-win], &p) != nil || p.Code != CodeOutOfStock {
		t.Fatalf("two clerks, last towel: %d %s / %d %s", codes[0], bodies[0], codes[1], bodies[1])
	}
	var r lists.RedemptionView
	if err := json.Unmarshal(bodies[win], &r); err != nil || r.Balance == nil || *r.Balance != 2 || r.Receipt == "" {
		t.Fatalf("the redemption: %s", bodies[win])
	}
	var again lists.RedemptionView
	e.do(t, []string{operator1, operator2}[win], "POST", "/api/v1/villages/village-1/redemptions", fmt.Sprintf(`{"household":"h01","goods":"towel","quantity":1,"key":"desk-%d-0001"}`, win), 200, &again)
	if !again.Replayed || again.ID != r.ID {
		t.Fatalf("the replay: %+v", again)
	}
	e.do(t, operator1, "PUT", "/api/v1/villages/village-1/goods/towel", `{"name":"毛巾","price":3,"stock":5,"on_sale":true}`, 200, nil)
	if code, c := e.problemCode(t, operator1, "POST", "/api/v1/villages/village-1/redemptions", `{"household":"h01","goods":"towel","quantity":1,"key":"desk-x-0002"}`); code != 409 || c != CodeNotEnoughPoints {
		t.Errorf("below zero: %d %s", code, c)
	}
	e.do(t, operator1, "POST", fmt.Sprintf("/api/v1/redemptions/%d/cancel", r.ID), `{"reason":"退货"}`, 200, nil)
	var acct lists.Account
	e.do(t, viewer1, "GET", "/api/v1/villages/village-1/households/h01/account", "", 200, &acct)
	var goods []lists.GoodsView
	e.do(t, viewer1, "GET", "/api/v1/villages/village-1/goods", "", 200, &goods)
	if acct.Balance != 5 || goods[0].Stock != 6 { // restocked to 5, and the towel back
		t.Fatalf("after the cancellation: balance %d, stock %d", acct.Balance, goods[0].Stock)
	}
	var st lists.Statement
	e.do(t, viewer1, "GET", "/api/v1/villages/village-1/households/h01/statement?month=2026-11", "", 200, &st)
	if st.Closing != 5 || len(st.Lines) != 3 {
		t.Fatalf("the statement: %+v", st)
	}
	// The household's export holds all of it.
	var x lists.Export
	e.do(t, operator1, "GET", "/api/v1/villages/village-1/households/h01/export", "", 200, &x)
	if len(x.Entries) != 1 || len(x.Redemptions) != 1 || x.Account.Balance != 5 {
		t.Fatalf("the export: %d entries, %d redemptions, balance %d", len(x.Entries), len(x.Redemptions), x.Account.Balance)
	}
}
