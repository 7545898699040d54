package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"strconv"

	"github.com/dalaba/dalaba/cloud/board"
)

// dashboardData is one page of the dashboard: the boxes the query keeps,
// a page of them, and the links to the pages beside it.
type dashboardData struct {
	Boxes []boxRow
	Query board.Query
	// Online is the online filter as the form's select shows it: "",
	// "true" or "false".
	Online  string
	Sort    string // with "-" for descending, as the form's select shows it
	Summary string // how many boxes the query keeps and which are shown
	Prev    string // the previous page's URL; "" on the first
	Next    string // the next page's URL; "" on the last
	// Stream is the URL of this page's live updates.
	Stream string
	// Townships are the picker's choices: a county user's only (a
	// township's user has theirs alone and no picker).
	Townships []townshipOption
}

// boardPage is a page of the board in one language, as the dashboard
// renders it and its stream sends it.
type boardPage struct {
	Rows    []boxRow `json:"rows"`
	Total   int      `json:"total"`
	Summary string   `json:"summary"`
}

// page is q's page of snap in l. Readers of one snapshot asking for the
// same page in the same language share one answer (Snapshot.Memo), so a
// hall of officials watching the first page costs one page's work per
// Interval.
//
// The page is of the unit of ctx (scope.go): the board keeps the boxes it
// covers, and the unit is part of the key, so no township is shown
// another's page.
func (c *Console) page(ctx context.Context, snap *board.Snapshot, l lang, q board.Query) (boardPage, int, error) {
	type made struct {
		p      boardPage
		offset int
	}
	q.In = unitFilter(ctx)
	key := fmt.Sprintf("dashboard|%s|%s|%s|%d|%s", unitKey(ctx), l, q.Values().Encode(), q.Offset, q.Cursor)
	v, err := snap.Memo(key, func() (any, error) {
		p, err := snap.Page(q)
		if err != nil {
			return nil, err
		}
		out := boardPage{Rows: make([]boxRow, 0, len(p.Entries)), Total: p.Total}
		for _, e := range p.Entries {
			out.Rows = append(out.Rows, c.rowOf(l, e))
		}
		out.Summary = c.summary(l, p.Total, p.Offset, len(p.Entries))
		return made{out, p.Offset}, nil
	})
	if err != nil {
		return boardPage{}, 0, err
	}
	m := v.(made) // only this function stores under its keys
	return m.p, m.offset, nil
}

func (c *Console) summary(l lang, total, offset, n int) string {
	t := c.msgs[l]
	if n == 0 {
		return fmt.Sprintf(t["BoardNone"], total)
	}
	return fmt.Sprintf(t["BoardSummary"], total, offset+1, offset+n)
}

// dashboard renders a page of the boxes, filtered and sorted as the
// query string says (board.ParseQuery; pages go by offset); the page's
// JS then keeps the table current from the same query's stream.
func (c *Console) dashboard(w http.ResponseWriter, r *http.Request, v *visit) {
	q, err := board.ParseQuery(r.URL.Query())
	if err != nil {
		c.errorPage(w, r, http.StatusBadRequest, "BadRequest")
		return
	}
	snap, err := c.board.Snapshot(r.Context())
	if err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	p, offset, err := c.page(r.Context(), snap, v.lang, q)
	if errors.Is(err, board.ErrBadQuery) {
		c.errorPage(w, r, http.StatusBadRequest, "BadRequest")
		return
	}
	if err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	at := func(off int) string {
		vals := q.Values()
		if off > 0 {
			vals.Set("offset", strconv.Itoa(off))
		}
		return "/?" + vals.Encode()
	}
	d := dashboardData{Boxes: p.Rows, Query: q, Summary: p.Summary, Sort: q.Values().Get("sort")}
	if d.Townships, err = c.townshipOptions(r.Context(), q.Township); err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	if q.Online != nil {
		d.Online = strconv.FormatBool(*q.Online)
	}
	if offset > 0 {
		d.Prev = at(max(offset-q.Limit, 0))
	}
	if offset+len(p.Rows) < p.Total {
		d.Next = at(offset + q.Limit)
	}
	stream := q.Values()
	if offset > 0 {
		stream.Set("offset", strconv.Itoa(offset))
	}
	d.Stream = "/events/boxes?" + stream.Encode()
	c.render(w, r, http.StatusOK, "dashboard.html", c.pageData(v.lang, v, c.csrf.token(purposeSession, v.token), d))
}

// streamPage is the stream's next message for q in l: the "boxes" event
// with the page's rows and the "summary" event with its counts, made
// once per snapshot for every stream showing that page.
func (c *Console) streamPage(ctx context.Context, l lang, q board.Query) ([]byte, error) {
	snap, err := c.board.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("stream|%s|%s|%s|%d|%s", unitKey(ctx), l, q.Values().Encode(), q.Offset, q.Cursor)
	v, err := snap.Memo(key, func() (any, error) {
		p, _, err := c.page(ctx, snap, l, q)
		if err != nil {
			return nil, err
		}
		rows, err := json.Marshal(p.Rows)
		if err != nil {
			return nil, fmt.Errorf("console: encode rows: %w", err)
		}
		sum, err := json.Marshal(map[string]any{"total": p.Total, "summary": p.Summary})
		if err != nil {
			return nil, fmt.Errorf("console: encode summary: %w", err)
		}
		return fmt.Appendf(nil, "event: boxes\ndata: %s\n\nevent: summary\ndata: %s\n\n", rows, sum), nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil // only this function stores under its keys
}

// problemKey is the message key of a board problem.
func problemKey(p string) string {
	switch p {
	case board.ProblemOffline:
		return "ProblemOffline"
	case board.ProblemPending:
		return "ProblemPending"
	case board.ProblemClock:
		return "ProblemClock"
	case board.ProblemDisk:
		return "ProblemDisk"
	case board.ProblemSpeakers:
		return "ProblemSpeakers"
	case board.ProblemCameras:
		return "ProblemCameras"
	}
	return "Unknown"
}

// dashboardMessages are the words of the dashboard's filters and pages.
func dashboardMessages() map[string]message {
	return map[string]message{
		"ColProblems":      {"问题", "Problems"},
		"ProblemOffline":   {"离线", "offline"},
		"ProblemPending":   {"配置未同步", "config not applied"},
		"ProblemClock":     {"时钟不可信", "clock not trusted"},
		"ProblemDisk":      {"存储将满", "disk nearly full"},
		"ProblemSpeakers":  {"喇叭故障", "speaker down"},
		"ProblemCameras":   {"摄像头故障", "camera down"},
		"BoardSearch":      {"搜索村名或编号", "Search village name or id"},
		"BoardPlace":       {"乡镇/片区（开头几个字）", "Township / area (its beginning)"},
		"BoardTownship":    {"乡镇", "Township"},
		"BoardAnyTownship": {"全县各乡镇", "Every township"},
		"BoardAnyState":    {"在线和离线", "Online and offline"},
		"BoardOnlineOnly":  {"只看在线", "Online only"},
		"BoardOffline":     {"只看离线", "Offline only"},
		"BoardProblems":    {"只看有问题的", "Only boxes with problems"},
		"BoardSort":        {"排序", "Sort"},
		"SortID":           {"按编号", "By id"},
		"SortName":         {"按村名", "By name"},
		"SortLastSeen":     {"最近联系在前", "Last seen first"},
		"SortProblems":     {"问题多的在前", "Most problems first"},
		"BoardApply":       {"筛选", "Filter"},
		"BoardPrev":        {"上一页", "Previous page"},
		"BoardNext":        {"下一页", "Next page"},
		"BoardSummary":     {"共 %d 台，显示第 %d–%d 台。", "%d boxes; showing %d–%d."},
		"BoardNone":        {"共 %d 台，本页没有。请改变筛选条件或回到第一页。", "%d boxes; none on this page. Change the filters or go back to the first page."},
	}
}

// Run keeps the dashboard's view of the fleet fresh while it is watched
// (board.Run), until ctx ends.
func (c *Console) Run(ctx context.Context) error { return c.board.Run(ctx) }

// FleetChanged tells the dashboard that another replica changed the
// fleet: it is read again soon, not at its next refresh.
func (c *Console) FleetChanged() { c.board.Changed() }
