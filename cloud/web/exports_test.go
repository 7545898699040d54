package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/report"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// workbookOf downloads an export as user and opens it with excelize: the
// sheets' rows by name, and the file name it came with.
func (e *listsEnv) workbookOf(t *testing.T, user, path string) (map[string][][]string, string) {
	t.Helper()
	code, b, h := e.raw(t, e.user[user], "GET", path, "", nil, nil)
	if code != 200 || h.Get("Content-Type") != xlsxType {
		t.Fatalf("GET %s: %d %s %s", path, code, h.Get("Content-Type"), b)
	}
	_, params, err := mime.ParseMediaType(h.Get("Content-Disposition"))
	if err != nil {
		t.Fatalf("Content-Disposition %q: %v", h.Get("Content-Disposition"), err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("excelize cannot open %s: %v", path, err)
	}
	defer f.Close()
	out := map[string][][]string{}
	for _, sh := range f.GetSheetList() {
		rows, err := f.GetRows(sh)
		if err != nil {
			t.Fatal(err)
		}
		out[sh] = rows
	}
	return out, params["filename"]
}

// cellAt is r's cell i; excelize leaves trailing empty cells out.
func cellAt(r []string, i int) string {
	if i < len(r) {
		return r[i]
	}
	return ""
}

// col is the cell of row under header name.
func col(t *testing.T, rows [][]string, row int, name string) string {
	t.Helper()
	for i, h := range rows[0] {
		if h == name {
			if i < len(rows[row]) {
				return rows[row][i]
			}
			return ""
		}
	}
	t.Fatalf("no column %s in %q", name, rows[0])
	return ""
}

// TestExportListsAndPoints: the month's list and its trail, the
// leaderboard and the ledgers, as workbooks holding what the API holds.
func TestExportListsAndPoints(t *testing.T) {
	e := newListsEnv(t)
	e.registers(t)
	red := e.entry(t, operator1, `{"kind":"red","subject":{"kind":"person","id":"p1"},"category":"孝老爱亲","reason":"悉心照料瘫痪的奶奶十年。","period":"2026-11"}`)
	black := e.entry(t, operator1, `{"kind":"black","subject":{"kind":"household","id":"h02"},"category":"人居环境整治","reason":"门前乱堆柴草","period":"2026-11","points":-8}`)
	draft := e.entry(t, operator1, `{"kind":"red","subject":{"kind":"household","id":"h03"},"category":"移风易俗","reason":"婚事新办","period":"2026-11"}`)
	e.approve(t, operator1, red)
	e.approve(t, operator1, black)
	e.do(t, operator2, "POST", "/api/v1/villages/village-1/lists/2026-11/publish", "", 200, nil)
	e.do(t, operator1, "POST", fmt.Sprintf("/api/v1/entries/%d/submit", draft), "", 200, nil)
	e.do(t, reviewer1, "POST", fmt.Sprintf("/api/v1/entries/%d/reject", draft), `{"reason":"证据不足"}`, 200, nil)

	book, name := e.workbookOf(t, viewer1, "/api/v1/villages/village-1/export/lists.xlsx?period=2026-11")
	if name != "红黑榜-幸福村-2026-11.xlsx" {
		t.Errorf("file name %q", name)
	}
	list, trail := book["红黑榜"], book["审核记录"]
	if strings.Join(list[0], ",") != strings.Join(report.ListsHeader(), ",") || strings.Join(trail[0], ",") != strings.Join(report.TrailHeader(), ",") {
		t.Fatalf("headers %q / %q", list[0], trail[0])
	}
	var api []lists.EntryView
	e.do(t, viewer1, "GET", "/api/v1/entries?village=village-1&period=2026-11", "", 200, &api)
	if len(list) != len(api)+1 {
		t.Fatalf("%d rows for %d entries", len(list)-1, len(api))
	}
	for i, v := range api {
		row := i + 1
		if col(t, list, row, "编号") != strconv.FormatUint(v.ID, 10) || col(t, list, row, "积分") != strconv.Itoa(v.Points) ||
			col(t, list, row, "事由") != v.Reason || col(t, list, row, "类别") != v.Category {
			t.Errorf("row %d %q does not hold entry %+v", row, list[row], v)
		}
	}
	if col(t, list, 1, "对象") != "张小明" || col(t, list, 1, "状态") != "已发布" || col(t, list, 1, "审核通过") != reviewer1+"、"+reviewer2 ||
		col(t, list, 2, "对象") != "李秀英户" || col(t, list, 2, "榜单") != "黑榜" || col(t, list, 3, "状态") != "草稿" || col(t, list, 3, "驳回理由") != "证据不足" {
		t.Errorf("the list reads %q", list[1:])
	}
	var history struct{ Records []json.RawMessage }
	total := 0
	for _, id := range []uint64{red, black, draft} {
		e.do(t, operator1, "GET", fmt.Sprintf("/api/v1/entries/%d/history", id), "", 200, &history)
		total += len(history.Records)
	}
	if len(trail)-1 != total {
		t.Errorf("the trail has %d records, the entries' histories %d", len(trail)-1, total)
	}
	var acts []string
	for _, r := range trail[1:] {
		if r[0] == strconv.FormatUint(draft, 10) {
			acts = append(acts, cellAt(r, 3)+"/"+cellAt(r, 4))
		}
	}
	if got := strings.Join(acts, " "); got != "填报/ 提交审核/ 驳回/证据不足" {
		t.Errorf("the draft's trail %q", got)
	}

	book, name = e.workbookOf(t, viewer1, "/api/v1/villages/village-1/export/points.xlsx")
	if name != "积分-幸福村-全部.xlsx" {
		t.Errorf("file name %q", name)
	}
	board, ledger := book["积分榜"], book["积分明细"]
	var standings []lists.Standing
	e.do(t, viewer1, "GET", "/api/v1/villages/village-1/leaderboard", "", 200, &standings)
	if len(board)-1 != len(standings) {
		t.Fatalf("%d board rows for %d standings", len(board)-1, len(standings))
	}
	for i, s := range standings {
		if col(t, board, i+1, "户号") != s.Household || col(t, board, i+1, "积分") != strconv.Itoa(s.Points) || col(t, board, i+1, "名次") != strconv.Itoa(s.Rank) {
			t.Errorf("board row %q, standing %+v", board[i+1], s)
		}
	}
	var h02 lists.Ledger
	e.do(t, viewer1, "GET", "/api/v1/villages/village-1/households/h02/points", "", 200, &h02)
	n := 0
	for _, r := range ledger[1:] {
		if r[0] == "h02" {
			n++
			if cellAt(r, 8) != "-8" || cellAt(r, 9) != "是" {
				t.Errorf("h02's ledger line %q", r)
			}
		}
	}
	if n != len(h02.Entries) || n != 1 {
		t.Errorf("h02 has %d ledger lines in the workbook, %d in the API", n, len(h02.Entries))
	}
	if code := e.call(t, e.user[viewer1], "GET", "/api/v1/villages/village-1/export/lists.xlsx?period=2026-13", "", nil); code != 400 {
		t.Errorf("a bad period: %d", code)
	}
}

// TestExportPlayLogAndViewings: a box's playbacks and viewings of a range
// of days, as the event log has them.
func TestExportPlayLogAndViewings(t *testing.T) {
	e := newListsEnv(t)
	ctx := t.Context()
	cst := report.CST()
	day := time.Date(2026, 11, 3, 8, 0, 0, 0, cst)
	var evs []store.Event
	for i := range 30 {
		at := day.Add(time.Duration(i) * 6 * time.Hour) // 3 to 10 November
		l := protocol.PlayLog{ItemID: fmt.Sprintf("morning@%d", i), ScheduleID: "morning", Name: "早间广播", Media: []string{}, Priority: protocol.PlayScheduled,
			ScheduledAt: at, StartedAt: at, EndedAt: at.Add(time.Minute), Zones: []string{"square"}, Speakers: []string{"horn-1"}, Result: "played"}
		if i == 7 {
			l.Result, l.Speakers, l.Errors = "failed", []string{}, map[string]string{"horn-1": "no route to host"}
		}
		b, _ := json.Marshal(l)
		evs = append(evs, store.Event{Seq: uint64(2*i + 1), Time: at, Type: protocol.EventPlayed, Data: b, ReceivedAt: at})
		v, _ := json.Marshal(protocol.Viewing{Camera: "gate", Viewer: "admin", Via: "webrtc", From: at, To: at.Add(90 * time.Second), Bytes: 5_000_000})
		evs = append(evs, store.Event{Seq: uint64(2*i + 2), Time: at, Type: protocol.EventCameraViewed, Data: v, ReceivedAt: at})
	}
	if _, err := e.st.AppendEvents(ctx, "village-1", store.Batch{Floor: 1, Events: evs}); err != nil {
		t.Fatal(err)
	}
	e.do(t, operator1, "PUT", "/api/v1/boxes/village-1/cameras/gate", `{"name":"村口","url":"rtsp://10.0.0.5/live"}`, 200, nil)

	// 4 to 6 November: the playbacks of those three days.
	book, name := e.workbookOf(t, viewer1, "/api/v1/boxes/village-1/export/playlog.xlsx?from=2026-11-04&to=2026-11-06")
	if name != "播放记录-幸福村-2026-11-04至2026-11-06.xlsx" {
		t.Errorf("file name %q", name)
	}
	rows := book["播放记录"]
	var want []protocol.PlayLog
	for _, ev := range evs {
		if ev.Type == protocol.EventPlayed && !ev.Time.Before(day.Add(16*time.Hour)) && ev.Time.Before(day.Add(88*time.Hour)) {
			var l protocol.PlayLog
			_ = json.Unmarshal(ev.Data, &l) // made above
			want = append(want, l)
		}
	}
	if len(rows)-1 != len(want) || len(want) != 12 {
		t.Fatalf("%d rows for %d playbacks", len(rows)-1, len(want))
	}
	for i, l := range want {
		if col(t, rows, i+1, "开始时间") != l.StartedAt.In(cst).Format("2006-01-02 15:04:05") || col(t, rows, i+1, "名称") != "早间广播" ||
			col(t, rows, i+1, "来源") != "定时：morning" {
			t.Errorf("row %q for %+v", rows[i+1], l)
		}
	}
	failed := false
	for _, r := range rows[1:] {
		failed = failed || (strings.Contains(strings.Join(r, "|"), "失败") && strings.Contains(strings.Join(r, "|"), "no route to host"))
	}
	if !failed {
		t.Error("the failed playback is not in the log with its reason")
	}

	book, _ = e.workbookOf(t, viewer1, "/api/v1/boxes/village-1/export/viewings.xlsx?from=2026-11-01&to=2026-11-30")
	views := book["视频查看记录"]
	if len(views)-1 != 30 || col(t, views, 1, "摄像头") != "村口（gate）" || col(t, views, 1, "时长（分钟）") != "1.5" || col(t, views, 1, "流量（MB）") != "5" {
		t.Errorf("viewings: %d rows, first %q", len(views)-1, views[1])
	}
	for _, bad := range []string{"from=2026-11-06&to=2026-11-04", "from=2026-01-01&to=2027-06-01", "from=yesterday&to=today", ""} {
		if code := e.call(t, e.user[viewer1], "GET", "/api/v1/boxes/village-1/export/playlog.xlsx?"+bad, "", nil); code != 400 {
			t.Errorf("range %q: %d, want 400", bad, code)
		}
	}
	if code := e.call(t, e.user[viewer1], "GET", "/api/v1/boxes/nobox/export/playlog.xlsx?from=2026-11-01&to=2026-11-02", "", nil); code != 404 {
		t.Errorf("an unknown box: %d, want 404", code)
	}
}
