package console

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// logAt is a time of March 2025 in the console's location (time.Local, as
// newEnv leaves it), before newEnv's health report of today.
func logAt(day, hour, minute int) time.Time {
	return time.Date(2025, 3, day, hour, minute, 0, 0, time.Local)
}

func logJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seedLog gives the env's village-1 (whose seq 1 is newEnv's health
// report of today) two playbacks and a viewing, and a second box,
// village-2 (二村), a viewing and a health report.
func (e *env) seedLog(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	if err := e.st.CreateBox(ctx, store.Box{ID: "village-2", Name: "二村", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	played := protocol.PlayLog{ItemID: "item-1", Name: "早间新闻", Media: []string{}, Zones: []string{"all"},
		Speakers: []string{"horn-1", "horn-2"}, Result: "played"}
	failed := protocol.PlayLog{ItemID: "item-2", Media: []string{}, Zones: []string{"all"}, Speakers: []string{},
		Errors: map[string]string{"horn-2": "no answer", "horn-1": "muted"}, Result: "failed"}
	viewed := protocol.Viewing{Camera: "gate", Viewer: "admin", Via: "webrtc", From: logAt(1, 8, 59), To: logAt(1, 9, 0)}
	events := map[string][]store.Event{
		"village-1": {
			{Seq: 2, Time: logAt(1, 8, 0), Type: protocol.EventPlayed, Data: logJSON(t, played)},
			{Seq: 3, Time: logAt(1, 9, 0), Type: protocol.EventCameraViewed, Data: logJSON(t, viewed)},
			{Seq: 4, Time: logAt(2, 10, 0), Type: protocol.EventPlayed, Data: logJSON(t, failed)},
		},
		"village-2": {
			{Seq: 1, Time: logAt(1, 8, 30), Type: protocol.EventCameraViewed, Data: logJSON(t, viewed)},
			{Seq: 2, Time: logAt(3, 12, 0), Type: protocol.EventHealth, Data: logJSON(t, protocol.Health{ClockTrusted: true})},
		},
	}
	for box, evs := range events {
		for i := range evs {
			evs[i].BoxID, evs[i].ReceivedAt = box, time.Now()
		}
		if _, err := e.st.AppendEvents(ctx, box, store.Batch{Floor: 1, Events: evs}); err != nil {
			t.Fatal(err)
		}
	}
}

var logRowRE = regexp.MustCompile(`<tr data-box="([^"]+)" data-seq="(\d+)" data-type="([^"]+)">`)

// logRows are the rows an event log page shows, as "box#seq".
func logRows(body string) []string {
	var out []string
	for _, m := range logRowRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1]+"#"+m[2])
	}
	return out
}

func eventsPath(q url.Values) string { return "/events?" + q.Encode() }

func TestEventLogSearch(t *testing.T) {
	e := newEnv(t, false)
	e.seedLog(t)
	c, _ := e.signedIn(t, store.RoleViewer)
	cases := []struct {
		name    string
		q       url.Values
		want    []string
		problem string // a text of the page's problem; "" = none
	}{
		// Each box's events in its seq order, the boxes interleaved by time:
		// village-1's seq 1, today's report, comes after its March events.
		{"everything, newest first", nil,
			[]string{"village-2#2", "village-1#4", "village-1#3", "village-2#1", "village-1#2", "village-1#1"}, ""},
		{"one box", url.Values{"box": {"village-2"}}, []string{"village-2#2", "village-2#1"}, ""},
		{"one type", url.Values{"type": {protocol.EventCameraViewed}}, []string{"village-1#3", "village-2#1"}, ""},
		{"box and type", url.Values{"box": {"village-1"}, "type": {protocol.EventPlayed}}, []string{"village-1#4", "village-1#2"}, ""},
		// to 09:00 takes in its whole minute, so the viewing at 09:00 is in.
		{"a time range", url.Values{"from": {"2025-03-01T08:15"}, "to": {"2025-03-01T09:00"}}, []string{"village-1#3", "village-2#1"}, ""},
		{"a range with seconds", url.Values{"from": {"2025-03-01T08:00:00"}, "to": {"2025-03-01T08:00:00"}}, []string{"village-1#2"}, ""},
		{"from only", url.Values{"from": {"2025-03-02T00:00"}}, []string{"village-2#2", "village-1#4", "village-1#1"}, ""},
		{"to only", url.Values{"to": {"2025-03-01T08:29"}}, []string{"village-1#2"}, ""},
		{"a box and a range with nothing in it", url.Values{"box": {"village-2"}, "to": {"2025-02-28T23:59"}}, nil, ""},
		{"an unknown box", url.Values{"box": {"village-9"}}, nil, "没有这个广播盒"},
		{"an unknown type", url.Values{"type": {"no.such"}}, nil, "没有这种事件类型"},
		{"a malformed time", url.Values{"from": {"yesterday"}}, nil, "时间格式不对"},
		{"a malformed end", url.Values{"to": {"2025-13-01T00:00"}}, nil, "时间格式不对"},
		{"from after to", url.Values{"from": {"2025-03-02T00:00"}, "to": {"2025-03-01T00:00"}}, nil, "开始时间晚于结束时间"},
		{"a forged cursor", url.Values{"cursor": {"not-a-cursor"}}, nil, "翻页链接已失效"},
		{"in English", url.Values{"from": {"soon"}, "lang": {"en"}}, nil, "That time is not valid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := e.get(t, c, eventsPath(tc.q))
			wantCode := http.StatusOK
			if tc.problem != "" {
				wantCode = http.StatusBadRequest
			}
			if a.code != wantCode {
				t.Fatalf("status %d, want %d:\n%s", a.code, wantCode, a.body)
			}
			if got := logRows(a.body); !slices.Equal(got, tc.want) {
				t.Errorf("rows %v, want %v", got, tc.want)
			}
			switch {
			case tc.problem != "":
				if !strings.Contains(a.body, `id="ev-problem"`) || !strings.Contains(a.body, tc.problem) {
					t.Errorf("the page does not say %q:\n%s", tc.problem, a.body)
				}
			case strings.Contains(a.body, `id="ev-problem"`):
				t.Errorf("a problem shown for a good search:\n%s", a.body)
			case len(tc.want) == 0 && !strings.Contains(a.body, `id="ev-none"`):
				t.Errorf("no rows and no word of it:\n%s", a.body)
			}
			// The form keeps what was asked.
			for _, k := range []string{"from", "to"} {
				if v := tc.q.Get(k); v != "" && !strings.Contains(a.body, `value="`+html.EscapeString(v)+`"`) {
					t.Errorf("the form lost %s=%q", k, v)
				}
			}
			if b := tc.q.Get("box"); b != "" && tc.problem == "" && !strings.Contains(a.body, `value="`+b+`" selected`) {
				t.Errorf("box %s is not selected in the form", b)
			}
		})
	}
}

func TestEventLogShowsPlaybacks(t *testing.T) {
	e := newEnv(t, false)
	e.seedLog(t)
	c, _ := e.signedIn(t, store.RoleViewer)
	a := e.get(t, c, eventsPath(url.Values{"box": {"village-1"}}))
	if a.code != http.StatusOK {
		t.Fatalf("%d %s", a.code, a.body)
	}
	row := func(seq int) string {
		start := strings.Index(a.body, fmt.Sprintf(`data-seq="%d"`, seq))
		if start < 0 {
			t.Fatalf("no row of seq %d", seq)
		}
		end := strings.Index(a.body[start:], "</tr>")
		return html.UnescapeString(a.body[start : start+end])
	}
	for seq, wants := range map[int][]string{
		2: {"播放记录", "早间新闻", "result-played", "已播放", `喇叭: <span data-k="speakers">horn-1, horn-2</span>`},
		// No name: the item's id; no speaker played: each one's error, in order.
		4: {"item-2", "result-failed", "播放失败", `喇叭: <span data-k="speakers">无</span>`, "horn-1: muted</span><span class=\"error ev-error\">horn-2: no answer"},
		// Other events: their JSON on one line.
		3: {"监控观看", `<code class="ev-data">{"camera":"gate","viewer":"admin","via":"webrtc","from":"2025-03-01T08:59:00`},
	} {
		r := row(seq)
		for _, w := range wants {
			if !strings.Contains(r, w) {
				t.Errorf("row %d lacks %q:\n%s", seq, w, r)
			}
		}
	}
	if !strings.Contains(a.body, "2025-03-02 10:00:00") {
		t.Error("the playback's time is not shown in the console's location")
	}
	en := e.get(t, c, eventsPath(url.Values{"box": {"village-1"}, "lang": {"en"}}))
	for _, w := range []string{"Playback", "played", "failed", `Speakers: <span data-k="speakers">none</span>`, "Camera viewed"} {
		if !strings.Contains(en.body, w) {
			t.Errorf("the English log lacks %q", w)
		}
	}
}

func TestEventLogPages(t *testing.T) {
	e := newEnv(t, false)
	e.seedLog(t)
	// 2 × eventPageSize + 3 speaker reports on village-2, after its seq 2.
	const n = 2*eventPageSize + 3
	var evs []store.Event
	for i := range n {
		evs = append(evs, store.Event{BoxID: "village-2", Seq: uint64(3 + i), Time: logAt(4, 0, 0).Add(time.Duration(i) * time.Minute),
			Type: protocol.EventSpeakerHealth, Data: []byte(`{"speaker":"horn-1"}`), ReceivedAt: time.Now()})
	}
	if _, err := e.st.AppendEvents(t.Context(), "village-2", store.Batch{Floor: 1, Events: evs}); err != nil {
		t.Fatal(err)
	}
	c, _ := e.signedIn(t, store.RoleViewer)
	next := eventsPath(url.Values{"box": {"village-2"}, "type": {protocol.EventSpeakerHealth}, "from": {"2025-03-01T00:00"}})
	var seen []string
	for page := 0; next != ""; page++ {
		if page > 5 {
			t.Fatal("the pages never end")
		}
		a := e.get(t, c, next)
		if a.code != http.StatusOK {
			t.Fatalf("page %d: %d %s", page, a.code, a.body)
		}
		rows := logRows(a.body)
		if len(rows) > eventPageSize {
			t.Fatalf("page %d has %d rows", page, len(rows))
		}
		seen = append(seen, rows...)
		next = ""
		if m := regexp.MustCompile(`href="([^"]+)" id="ev-more"`).FindStringSubmatch(a.body); m != nil {
			next = html.UnescapeString(m[1])
			u, err := url.Parse(next)
			if err != nil {
				t.Fatal(err)
			}
			// The next page searches the same way.
			if q := u.Query(); q.Get("box") != "village-2" || q.Get("type") != protocol.EventSpeakerHealth || q.Get("from") != "2025-03-01T00:00" || q.Get("cursor") == "" {
				t.Fatalf("the more link %q lost the search", next)
			}
		}
	}
	var want []string
	for i := n - 1; i >= 0; i-- {
		want = append(want, fmt.Sprintf("village-2#%d", 3+i))
	}
	if !slices.Equal(seen, want) {
		t.Errorf("paged through %d rows, want the %d reports newest first:\n%v", len(seen), n, seen)
	}
}

func TestEventLogNeedsSession(t *testing.T) {
	e := newEnv(t, false)
	if a := e.get(t, e.client(t), "/events"); a.code != http.StatusSeeOther || a.h.Get("Location") != "/login" {
		t.Fatalf("without a session: %d %q", a.code, a.h.Get("Location"))
	}
}

var anyRowRE = regexp.MustCompile(`<tr data-box="([^"]*)" data-seq="(\d*)" data-type="([^"]+)">`)

// allRows are the rows of a page, events as "box#seq" and alerts as
// "alert:box".
func allRows(body string) []string {
	var out []string
	for _, m := range anyRowRE.FindAllStringSubmatch(body, -1) {
		if m[3] == alertType {
			out = append(out, "alert:"+m[1])
			continue
		}
		out = append(out, m[1]+"#"+m[2])
	}
	return out
}

// The township's alerts show among the boxes' events by time, on their
// own under their type, and page with them: none is lost or shown twice.
func TestEventLogShowsTheAlerts(t *testing.T) {
	e := newEnv(t, false)
	e.seedLog(t)
	for _, a := range []store.Alert{
		{Time: logAt(1, 8, 45), BoxID: "village-2", State: store.AlertOpened, Title: "【大喇叭告警】二村广播盒离线", Text: "二村广播盒已离线 10 分钟。",
			Deliveries: []store.AlertDelivery{{Channel: "office", Status: store.AlertDeliverySent}}},
		{Time: logAt(3, 13, 0), BoxID: "village-1", State: store.AlertNotice, Title: "【大喇叭提醒】一村广播未播出", Text: "x"},
	} {
		if _, err := e.st.RecordAlert(t.Context(), a, nil, ""); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := e.signedIn(t, store.RoleViewer)
	a := e.get(t, c, "/events")
	want := []string{"alert:village-1", "village-2#2", "village-1#4", "village-1#3", "alert:village-2", "village-2#1", "village-1#2", "village-1#1"}
	if got := allRows(a.body); !slices.Equal(got, want) {
		t.Errorf("rows %v\nwant %v", got, want)
	}
	if !strings.Contains(a.body, "二村广播盒已离线 10 分钟。") || !strings.Contains(a.body, "office: 已送达") {
		t.Errorf("the alert's text or delivery is not shown")
	}
	if got := allRows(e.get(t, c, eventsPath(url.Values{"type": {alertType}, "box": {"village-2"}})).body); !slices.Equal(got, []string{"alert:village-2"}) {
		t.Errorf("village-2's alerts: %v", got)
	}

	// Across pages: alerts among many events come each once, in order.
	var evs []store.Event
	for i := range 2 * eventPageSize {
		evs = append(evs, store.Event{BoxID: "village-2", Seq: uint64(3 + i), Time: logAt(4, 0, 0).Add(time.Duration(i) * time.Minute),
			Type: protocol.EventSpeakerHealth, Data: []byte(`{}`), ReceivedAt: time.Now()})
	}
	if _, err := e.st.AppendEvents(t.Context(), "village-2", store.Batch{Floor: 1, Events: evs}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []int{5, 70, 99} {
		if _, err := e.st.RecordAlert(t.Context(), store.Alert{Time: logAt(4, 0, 0).Add(time.Duration(m)*time.Minute + 30*time.Second),
			BoxID: "village-2", State: store.AlertNotice, Title: fmt.Sprintf("m%d", m)}, nil, ""); err != nil {
			t.Fatal(err)
		}
	}
	next := eventsPath(url.Values{"box": {"village-2"}})
	var seen []string
	for page := 0; next != ""; page++ {
		if page > 5 {
			t.Fatal("the pages never end")
		}
		a := e.get(t, c, next)
		if a.code != http.StatusOK {
			t.Fatalf("page %d: %d %s", page, a.code, a.body)
		}
		seen = append(seen, allRows(a.body)...)
		next = ""
		if m := regexp.MustCompile(`href="([^"]+)" id="ev-more"`).FindStringSubmatch(a.body); m != nil {
			next = html.UnescapeString(m[1])
		}
	}
	var wantAll []string
	for i := 2*eventPageSize - 1; i >= 0; i-- {
		wantAll = append(wantAll, fmt.Sprintf("village-2#%d", 3+i))
		if i == 99 || i == 70 || i == 5 {
			wantAll = append(wantAll[:len(wantAll)-1], "alert:village-2", wantAll[len(wantAll)-1])
		}
	}
	wantAll = append(wantAll, "village-2#2", "alert:village-2", "village-2#1")
	if !slices.Equal(seen, wantAll) {
		t.Errorf("paged %d rows:\n%v\nwant %d:\n%v", len(seen), seen, len(wantAll), wantAll)
	}
}
