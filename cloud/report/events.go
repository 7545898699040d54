package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dalaba/dalaba/cloud/sheet"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Events is what the event reports read (the store).
type Events interface {
	SearchEvents(ctx context.Context, f store.EventFilter) ([]store.Event, string, error)
}

// ErrRange marks a range of days a report refuses.
var ErrRange = errors.New("report: bad range")

// MaxDays bounds a report's range: a year is what a township files.
const MaxDays = 366

// Range is the days from From to To, both included, in a zone.
type Range struct{ From, To time.Time }

// ParseRange reads "YYYY-MM-DD" days in loc; to is included.
func ParseRange(from, to string, loc *time.Location) (Range, error) {
	f, err1 := time.ParseInLocation(time.DateOnly, from, loc)
	t, err2 := time.ParseInLocation(time.DateOnly, to, loc)
	switch {
	case err1 != nil || err2 != nil:
		return Range{}, fmt.Errorf("%w: from and to: days as YYYY-MM-DD", ErrRange)
	case t.Before(f):
		return Range{}, fmt.Errorf("%w: to %s is before from %s", ErrRange, to, from)
	case t.Sub(f) >= MaxDays*24*time.Hour:
		return Range{}, fmt.Errorf("%w: at most %d days", ErrRange, MaxDays)
	}
	return Range{From: f, To: t}, nil
}

// Span names the range in a file name.
func (r Range) Span() string {
	return r.From.Format(time.DateOnly) + "至" + r.To.Format(time.DateOnly)
}

// searchPage is how many events one search call asks for.
const searchPage = 1000

// events returns box's events of typ in r, oldest first.
func events(ctx context.Context, ev Events, box, typ string, r Range) ([]store.Event, error) {
	f := store.EventFilter{BoxID: box, Type: typ, From: r.From, To: r.To.AddDate(0, 0, 1), Limit: searchPage}
	var out []store.Event
	for {
		page, next, err := ev.SearchEvents(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("report: %s events of %s: %w", typ, box, err)
		}
		out = append(out, page...)
		if next == "" {
			break
		}
		f.Cursor = next
	}
	slices.Reverse(out) // the search gives newest first
	return out, nil
}

// PlayLogHeader is the play log's columns.
func PlayLogHeader() []string {
	return []string{"开始时间", "结束时间", "计划时间", "名称", "来源", "优先级", "分区", "播放的喇叭", "结果", "说明"}
}

func priorityText(p protocol.PlayPriority) string {
	switch p {
	case protocol.PlayBackground:
		return "背景"
	case protocol.PlayPaging:
		return "喊话"
	case protocol.PlayEmergency:
		return "紧急"
	}
	return "定时"
}

func resultText(r string) string {
	switch r {
	case "played":
		return "已播放"
	case "preempted":
		return "被打断（稍后续播）"
	case "skipped":
		return "未播完（停止或被打断）"
	case "failed":
		return "失败"
	}
	return r
}

// PlayLog is box's play log over r: every playback with its result.
func PlayLog(ctx context.Context, ev Events, box string, r Range, loc *time.Location) ([]sheet.Table, error) {
	evs, err := events(ctx, ev, box, protocol.EventPlayed, r)
	if err != nil {
		return nil, err
	}
	t := sheet.Table{Name: "播放记录", Header: PlayLogHeader(), Rows: make([][]any, 0, len(evs))}
	for _, e := range evs {
		var l protocol.PlayLog
		if err := json.Unmarshal(e.Data, &l); err != nil {
			continue // a box's malformed event was stored as sent; the log keeps the rest
		}
		source := "立即播放"
		switch {
		case l.ScheduleID != "":
			source = "定时：" + l.ScheduleID
		case strings.HasPrefix(l.ItemID, "test-"):
			source = "测试音"
		}
		var errs []string
		for k, v := range l.Errors {
			errs = append(errs, k+": "+v)
		}
		slices.Sort(errs)
		t.Rows = append(t.Rows, []any{
			when(l.StartedAt, loc), when(l.EndedAt, loc), when(l.ScheduledAt, loc), l.Name, source, priorityText(l.Priority),
			strings.Join(l.Zones, "、"), strings.Join(l.Speakers, "、"), resultText(l.Result), strings.Join(errs, "；"),
		})
	}
	return []sheet.Table{t}, nil
}

// ViewingsHeader is the viewing log's columns.
func ViewingsHeader() []string {
	return []string{"摄像头", "查看人", "方式", "开始时间", "结束时间", "时长（分钟）", "流量（MB）"}
}

// Viewings is box's camera viewing log over r: who watched which camera,
// from when to when; names are the cameras' names by id.
func Viewings(ctx context.Context, ev Events, box string, r Range, names map[string]string, loc *time.Location) ([]sheet.Table, error) {
	evs, err := events(ctx, ev, box, protocol.EventCameraViewed, r)
	if err != nil {
		return nil, err
	}
	t := sheet.Table{Name: "视频查看记录", Header: ViewingsHeader(), Rows: make([][]any, 0, len(evs))}
	for _, e := range evs {
		var v protocol.Viewing
		if err := json.Unmarshal(e.Data, &v); err != nil {
			continue // a box's malformed event was stored as sent; the log keeps the rest
		}
		camera := v.Camera
		if n := names[v.Camera]; n != "" {
			camera = n + "（" + v.Camera + "）"
		}
		via := "网页（WebRTC）"
		if v.Via == "rtsp" {
			via = "RTSP"
		}
		minutes := float64(v.To.Sub(v.From).Round(6*time.Second)) / float64(time.Minute)
		t.Rows = append(t.Rows, []any{camera, v.Viewer, via, when(v.From, loc), when(v.To, loc), minutes, float64(v.Bytes/10_000) / 100})
	}
	return []sheet.Table{t}, nil
}
