package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// The event log (事件): what the boxes recorded, searched by box, type and
// time, newest first, a page at a time.
//
//	GET /events?box=&type=&from=&to=&cursor=   any signed-in role
//
// It is rendered here from the store, not through the API: a search is
// one read, and the page needs no script. from and to are
// datetime-local values (2006-01-02T15:04, seconds optional) in the
// console's location, compared with the box's clock; to takes in its
// whole minute (or second), as a reader of "to 10:30" means. Bad input is
// answered 400 with the form, what is wrong and no results.
//
// The township's own alerts (cloud/alert's log) show among the boxes'
// events, by time, as type "alert": a page takes the boxes' events as the
// store pages them and the alerts down to the oldest of those events, so
// that nothing is shown out of order across pages; abefore= (the alert
// seq to go on below) and done= (events or alerts, when one of the two is
// used up) carry the alerts' place beside the store's cursor.

// eventPageSize is how many events one page shows: a phone's few screens.
const eventPageSize = 50

// eventDataMax bounds the JSON shown for one event; the rest is cut, as
// the log is for finding an event, not reading a health report whole.
const eventDataMax = 400

// eventTimeLayout shows an event's time with its year: the log reaches
// back further than the dashboard's last-seen.
const eventTimeLayout = "2006-01-02 15:04:05"

// eventType is an event type the search offers, with its message key.
type eventType struct{ typ, key string }

// eventTypes are the protocol's Event* constants, in the order the list
// shows them.
func eventTypes() []eventType {
	return []eventType{
		{alertType, "EvTypeAlert"},
		{protocol.EventPlayed, "EvTypePlayed"},
		{protocol.EventSkipped, "EvTypeSkipped"},
		{protocol.EventBroadcastError, "EvTypeBroadcastError"},
		{protocol.EventClockUntrusted, "EvTypeClockUntrusted"},
		{protocol.EventSpeakerHealth, "EvTypeSpeakerHealth"},
		{protocol.EventCameraViewed, "EvTypeCameraViewed"},
		{protocol.EventCameraOnline, "EvTypeCameraOnline"},
		{protocol.EventCameraOffline, "EvTypeCameraOffline"},
		{protocol.EventBoxStarted, "EvTypeBoxStarted"},
		{protocol.EventHealth, "EvTypeHealth"},
		{protocol.EventDesiredApplied, "EvTypeDesiredApplied"},
		{protocol.EventDesiredRejected, "EvTypeDesiredRejected"},
		{protocol.EventCmdRejected, "EvTypeCmdRejected"},
		{protocol.EventMessageRejected, "EvTypeMessageRejected"},
		{protocol.EventOutboxDropped, "EvTypeOutboxDropped"},
		{protocol.EventBoxReset, "EvTypeBoxReset"},
	}
}

// alertType is the type the event log gives the township's alerts.
const alertType = "alert"

// eventsMessages are the words of the event log page.
func eventsMessages() map[string]message {
	return map[string]message{
		"EvTitle":               {"事件记录", "Event log"},
		"EvBox":                 {"村/盒子", "Village / box"},
		"EvAllBoxes":            {"全部", "All boxes"},
		"EvType":                {"类型", "Type"},
		"EvAnyType":             {"全部类型", "Any type"},
		"EvFrom":                {"开始时间", "From"},
		"EvTo":                  {"结束时间", "To"},
		"EvSearch":              {"查询", "Search"},
		"EvClear":               {"清除条件", "Clear"},
		"EvMore":                {"更早的事件", "Older events"},
		"EvNone":                {"没有符合条件的事件。", "No events match."},
		"EvColTime":             {"时间（广播盒时钟）", "Time (box clock)"},
		"EvColBox":              {"村/盒子", "Village / box"},
		"EvColType":             {"类型", "Type"},
		"EvColDetail":           {"内容", "Details"},
		"EvColSeq":              {"序号", "Seq"},
		"EvBadBox":              {"没有这个广播盒，请重新选择。", "No such box; choose another."},
		"EvBadType":             {"没有这种事件类型，请重新选择。", "No such event type; choose another."},
		"EvBadTime":             {"时间格式不对，请用日期时间选择器填写。", "That time is not valid; use the date and time picker."},
		"EvBadRange":            {"开始时间晚于结束时间。", "The start is after the end."},
		"EvBadCursor":           {"翻页链接已失效，请重新查询。", "That page link no longer works; search again."},
		"EvSpeakers":            {"喇叭", "Speakers"},
		"EvNoSpeakers":          {"无", "none"},
		"EvResumed":             {"续播", "resumed"},
		"EvResPlayed":           {"已播放", "played"},
		"EvResPreempt":          {"被打断，稍后续播", "preempted, to be resumed"},
		"EvResSkipped":          {"已跳过", "skipped"},
		"EvResFailed":           {"播放失败", "failed"},
		"EvTypePlayed":          {"播放记录", "Playback"},
		"EvTypeSkipped":         {"未播放（跳过）", "Playback skipped"},
		"EvTypeBroadcastError":  {"广播故障", "Broadcast error"},
		"EvTypeClockUntrusted":  {"时钟不可信，定时播放暂停", "Clock untrusted, schedules held"},
		"EvTypeSpeakerHealth":   {"喇叭状态", "Speaker health"},
		"EvTypeCameraViewed":    {"监控观看", "Camera viewed"},
		"EvTypeCameraOnline":    {"摄像头上线", "Camera online"},
		"EvTypeCameraOffline":   {"摄像头离线", "Camera offline"},
		"EvTypeBoxStarted":      {"广播盒启动", "Box started"},
		"EvTypeHealth":          {"健康报告", "Health report"},
		"EvTypeDesiredApplied":  {"配置已生效", "Configuration applied"},
		"EvTypeDesiredRejected": {"配置被拒绝", "Configuration rejected"},
		"EvTypeCmdRejected":     {"命令被拒绝", "Command rejected"},
		"EvTypeMessageRejected": {"消息被拒绝", "Message rejected"},
		"EvTypeOutboxDropped":   {"待上传事件被丢弃", "Outbox events dropped"},
		"EvTypeBoxReset":        {"广播盒数据重置（之前的记录都已保留）", "Box data reset (earlier records all kept)"},
		"EvTypeAlert":           {"告警（乡镇发出）", "Alert (sent by the township)"},
	}
}

func (c *Console) eventRoutes() {
	c.handle("GET /events", auth.ActionViewBoxes, c.eventLog)
}

// eventLogData is what events.html gets.
type eventLogData struct {
	Boxes    []villageOption
	Types    []typeOption
	From, To string // as typed, so the form keeps them
	Problem  string // what is wrong with the search, in the reader's words
	Rows     []eventRow
	More     string // the next page's URL; "" on the last
}

type typeOption struct {
	Value, Label string
	Selected     bool
}

// eventRow is one event as the log shows it.
type eventRow struct {
	BoxID, BoxName string
	Seq            uint64
	Time           string
	Type, TypeText string
	Play           *playRow  // set for a broadcast.played that decodes
	Alert          *alertRow // set for an alert of the township's
	Data           string    // compact JSON otherwise
	at             time.Time // for merging the alerts in
}

// playRow is a protocol.PlayLog as the log shows it.
type playRow struct {
	Title      string // the item's name, or its id
	Result     string // played, preempted, skipped, failed (a CSS class)
	ResultText string
	Resumed    bool
	Speakers   string // played through, comma-separated
	Errors     []string
}

func (c *Console) eventLog(w http.ResponseWriter, r *http.Request, v *visit) {
	t := c.msgs[v.lang]
	q := r.URL.Query()
	box, typ := q.Get("box"), q.Get("type")
	d := eventLogData{From: q.Get("from"), To: q.Get("to")}
	boxes, err := c.st.ListBoxes(r.Context())
	if err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	names := map[string]string{}
	for _, b := range boxes {
		names[b.ID] = displayName(b)
		d.Boxes = append(d.Boxes, villageOption{ID: b.ID, Name: displayName(b), Selected: b.ID == box})
	}
	knownType := typ == ""
	for _, et := range eventTypes() {
		d.Types = append(d.Types, typeOption{Value: et.typ, Label: t[et.key], Selected: et.typ == typ})
		knownType = knownType || et.typ == typ
	}
	f := store.EventFilter{BoxID: box, Type: typ, Cursor: q.Get("cursor"), Limit: eventPageSize}
	problem := ""
	var fromErr, toErr error
	f.From, _, fromErr = c.parseLocal(d.From)
	to, step, toErr := c.parseLocal(d.To)
	if !to.IsZero() {
		f.To = to.Add(step)
	}
	switch {
	case box != "" && names[box] == "":
		problem = "EvBadBox"
	case !knownType:
		problem = "EvBadType"
	case fromErr != nil || toErr != nil:
		problem = "EvBadTime"
	case !f.From.IsZero() && !to.IsZero() && f.From.After(to):
		problem = "EvBadRange"
	}
	done := q.Get("done")
	abefore, aerr := uintOf(q.Get("abefore"))
	if problem == "" && (aerr != nil || (done != "" && done != "events" && done != "alerts")) {
		problem = "EvBadCursor"
	}
	if problem == "" {
		wantEvents, wantAlerts := typ != alertType, typ == "" || typ == alertType
		var evs []store.Event
		next := ""
		if wantEvents && done != "events" {
			var err error
			evs, next, err = c.st.SearchEvents(r.Context(), f)
			switch {
			case errors.Is(err, store.ErrNotFound):
				problem = "EvBadBox" // registered nowhere, though listed a moment ago
			case errors.Is(err, store.ErrBadFilter):
				problem = "EvBadCursor"
			case err != nil:
				c.fail(w, r, v.lang, err)
				return
			}
		}
		eventsLeft := next != ""
		var alerts []store.Alert
		if problem == "" && wantAlerts && done != "alerts" && !(eventsLeft && len(evs) == 0) {
			af := store.AlertFilter{BoxID: box, Before: abefore, From: f.From, To: f.To, Limit: eventPageSize}
			if eventsLeft && evs[len(evs)-1].Time.After(af.From) {
				af.From = evs[len(evs)-1].Time // the rest come with the older events
			}
			var err error
			if alerts, err = c.st.ListAlerts(r.Context(), af); err != nil {
				c.fail(w, r, v.lang, err)
				return
			}
		}
		alertsLeft := wantAlerts && done != "alerts" && (eventsLeft || len(alerts) == eventPageSize)
		for _, e := range evs {
			d.Rows = append(d.Rows, c.eventRow(e, names, t))
		}
		d.Rows = c.mergeAlerts(d.Rows, alerts, names, t)
		if eventsLeft || alertsLeft {
			more := url.Values{}
			for k, val := range map[string]string{"box": box, "type": typ, "from": d.From, "to": d.To, "cursor": next} {
				if val != "" {
					more.Set(k, val)
				}
			}
			switch {
			case wantEvents && !eventsLeft:
				more.Set("done", "events")
			case wantAlerts && !alertsLeft:
				more.Set("done", "alerts")
			}
			if n := len(alerts); n > 0 {
				abefore = alerts[n-1].Seq
			}
			if abefore > 0 && alertsLeft {
				more.Set("abefore", strconv.FormatUint(abefore, 10))
			}
			d.More = "/events?" + more.Encode()
		}
	}
	status := http.StatusOK
	if problem != "" {
		d.Problem, status = t[problem], http.StatusBadRequest
	}
	c.render(w, r, status, "events.html", c.pageData(v.lang, v, c.csrf.token(purposeSession, v.token), d))
}

// parseLocal reads a datetime-local value in the console's location, with
// its precision: a minute, or a second when seconds are given. "" is the
// zero time.
func (c *Console) parseLocal(s string) (time.Time, time.Duration, error) {
	if s == "" {
		return time.Time{}, 0, nil
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04", s, c.cfg.Location); err == nil {
		return t, time.Minute, nil
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05", s, c.cfg.Location)
	if err != nil {
		return time.Time{}, 0, err
	}
	return t, time.Second, nil
}

// uintOf reads a whole number; "" is 0.
func uintOf(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// mergeAlerts puts the alerts (newest first) among the rows (newest
// first), by time.
func (c *Console) mergeAlerts(rows []eventRow, alerts []store.Alert, names map[string]string, t map[string]string) []eventRow {
	if len(alerts) == 0 {
		return rows
	}
	out := make([]eventRow, 0, len(rows)+len(alerts))
	i := 0
	for _, a := range alerts {
		for i < len(rows) && rows[i].at.After(a.Time) {
			out = append(out, rows[i])
			i++
		}
		ar := c.alertRowOf(a, names, nil, t)
		out = append(out, eventRow{BoxID: a.BoxID, BoxName: ar.Village, Type: alertType, TypeText: t["EvTypeAlert"], Time: ar.Time,
			Alert: &ar, at: a.Time})
	}
	return append(out, rows[i:]...)
}

func (c *Console) eventRow(e store.Event, names map[string]string, t map[string]string) eventRow {
	row := eventRow{BoxID: e.BoxID, BoxName: names[e.BoxID], Seq: e.Seq, Type: e.Type, TypeText: e.Type,
		Time: e.Time.In(c.cfg.Location).Format(eventTimeLayout), at: e.Time}
	if row.BoxName == "" {
		row.BoxName = e.BoxID
	}
	for _, et := range eventTypes() {
		if et.typ == e.Type {
			row.TypeText = t[et.key]
		}
	}
	if e.Type == protocol.EventPlayed {
		var pl protocol.PlayLog
		if json.Unmarshal(e.Data, &pl) == nil {
			row.Play = playOf(pl, t)
			return row
		}
	}
	row.Data = compactJSON(e.Data)
	return row
}

func playOf(pl protocol.PlayLog, t map[string]string) *playRow {
	p := &playRow{Title: pl.Name, Result: pl.Result, ResultText: pl.Result, Resumed: pl.Resumed,
		Speakers: strings.Join(pl.Speakers, ", ")}
	if p.Title == "" {
		p.Title = pl.ItemID
	}
	if k, ok := map[string]string{"played": "EvResPlayed", "preempted": "EvResPreempt", "skipped": "EvResSkipped", "failed": "EvResFailed"}[pl.Result]; ok {
		p.ResultText = t[k]
	}
	if p.Speakers == "" {
		p.Speakers = t["EvNoSpeakers"]
	}
	for _, sp := range slices.Sorted(maps.Keys(pl.Errors)) {
		p.Errors = append(p.Errors, sp+": "+pl.Errors[sp])
	}
	return p
}

// compactJSON is data on one line, cut to eventDataMax bytes on a rune
// boundary; data that is not JSON is shown as it is.
func compactJSON(data []byte) string {
	var b bytes.Buffer
	s := string(data)
	if json.Compact(&b, data) == nil {
		s = b.String()
	}
	if len(s) <= eventDataMax {
		return s
	}
	cut := eventDataMax
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
