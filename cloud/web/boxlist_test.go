package web

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
)

// manyBoxes registers n boxes straight in the store: two townships with
// three areas each, every third box online, every fourth behind its
// desired state, every fifth never seen.
func manyBoxes(t *testing.T, e *env, n int) []store.Box {
	t.Helper()
	var out []store.Box
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for i := range n {
		town := "东山镇"
		if i%2 == 1 {
			town = "西河镇"
		}
		b := store.Box{ID: fmt.Sprintf("v%03d", i), Name: fmt.Sprintf("村%03d", (i*37)%n), Place: fmt.Sprintf("%s/片区%d", town, i%3),
			Incarnation: 1, Online: i%3 == 0, AppliedRev: 2, DesiredRev: 2, CreatedAt: at}
		if i%4 == 0 {
			b.DesiredRev = 3
		}
		if i%5 != 0 {
			b.LastSeen = at.Add(-time.Duration((i*13)%50) * time.Minute)
		}
		if err := e.st.CreateBox(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// listAll follows next_cursor from the first page of query to the last.
func listAll(t *testing.T, e *env, tok, query string) (ids []string, total int, pages int) {
	t.Helper()
	cursor := ""
	for {
		q, err := url.ParseQuery(query)
		if err != nil {
			t.Fatal(err)
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var p boxPage
		if code := e.call(t, tok, "GET", "/api/v1/boxes?"+q.Encode(), "", &p); code != 200 {
			t.Fatalf("GET ?%s: %d", q.Encode(), code)
		}
		if pages > 0 && p.Total != total {
			t.Fatalf("total %d on page %d, %d before", p.Total, pages, total)
		}
		total = p.Total
		pages++
		for _, b := range p.Boxes {
			ids = append(ids, b.ID)
			if b.Problems == nil {
				t.Errorf("box %s of a page without problems member", b.ID)
			}
		}
		if p.NextCursor == "" {
			return ids, total, pages
		}
		cursor = p.NextCursor
	}
}

func TestBoxListPages(t *testing.T) {
	e := newEnv(t)
	boxes := manyBoxes(t, e, 240)
	viewer := e.tokens[store.RoleViewer]
	byID := func(keep func(i int, b store.Box) bool) []string {
		var out []string
		for i, b := range boxes {
			if keep(i, b) {
				out = append(out, b.ID)
			}
		}
		return out
	}
	for _, c := range []struct {
		query string
		want  []string
		pages int
	}{
		{"limit=25", byID(func(int, store.Box) bool { return true }), 10},
		{"limit=500&place=西河镇", byID(func(i int, _ store.Box) bool { return i%2 == 1 }), 1},
		{"limit=7&place=东山镇/片区1", byID(func(i int, _ store.Box) bool { return i%2 == 0 && i%3 == 1 }), 6},
		{"online=true&limit=30", byID(func(i int, _ store.Box) bool { return i%3 == 0 }), 3},
		{"online=false&problems=true", byID(func(i int, _ store.Box) bool { return i%3 != 0 }), 4},
		// Online boxes with problems: those behind their desired state.
		{"online=true&problems=true&limit=4", byID(func(i int, _ store.Box) bool { return i%3 == 0 && i%4 == 0 }), 5},
		{"q=V12", []string{"v120", "v121", "v122", "v123", "v124", "v125", "v126", "v127", "v128", "v129"}, 1},
	} {
		got, total, pages := listAll(t, e, viewer, c.query)
		if !slices.Equal(got, c.want) || total != len(c.want) || pages != c.pages {
			t.Errorf("?%s: %d boxes in %d pages (total %d) %v…, want %d in %d pages %v…", c.query, len(got), pages, total, head(got), len(c.want), c.pages, head(c.want))
		}
	}

	// Sorted by name descending: names are 村000…村239, one per box.
	got, _, _ := listAll(t, e, viewer, "sort=-name&limit=50")
	var names []string
	for _, id := range got {
		names = append(names, boxes[slices.IndexFunc(boxes, func(b store.Box) bool { return b.ID == id })].Name)
	}
	if len(names) != 240 || !slices.IsSortedFunc(names, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Errorf("sort=-name: %d names %v…, want all 240 descending", len(names), head(names))
	}
	// Sorted by last seen, latest first; the never seen come last.
	got, _, _ = listAll(t, e, viewer, "sort=-last_seen&limit=33")
	last := boxes[slices.IndexFunc(boxes, func(b store.Box) bool { return b.ID == got[len(got)-1] })]
	first := boxes[slices.IndexFunc(boxes, func(b store.Box) bool { return b.ID == got[0] })]
	if len(got) != 240 || !last.LastSeen.IsZero() || first.LastSeen.IsZero() {
		t.Errorf("sort=-last_seen: %d boxes, first seen %s, last seen %s", len(got), first.LastSeen, last.LastSeen)
	}
	// Most problems first: offline and behind (i%3 != 0, i%4 == 0) lead.
	var p boxPage
	e.call(t, viewer, "GET", "/api/v1/boxes?sort=-problems&limit=5", "", &p)
	for _, b := range p.Boxes {
		if !slices.Equal(b.Problems, []string{"offline", "pending"}) {
			t.Errorf("sort=-problems: %s first with problems %v, want offline and pending", b.ID, b.Problems)
		}
	}

	// Offsets page too (the console's page numbers).
	e.call(t, viewer, "GET", "/api/v1/boxes?offset=230&limit=20", "", &p)
	if len(p.Boxes) != 10 || p.Boxes[0].ID != "v230" || p.Offset != 230 || p.NextCursor != "" {
		t.Errorf("offset 230: %d boxes from %v, offset %d, next %q", len(p.Boxes), head(idsOf(p.Boxes)), p.Offset, p.NextCursor)
	}
}

func idsOf[B interface{ id() string }](bs []B) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.id())
	}
	return out
}

func (b boxJSON) id() string { return b.ID }

func head(s []string) []string { return s[:min(len(s), 5)] }

// TestBoxListCompatible: without page parameters the list is the array it
// always was, retired boxes only with all=true; a page sees a box added
// through the API at once, though the view of the fleet is shared.
func TestBoxListCompatible(t *testing.T) {
	e := newEnv(t)
	manyBoxes(t, e, 3)
	admin := e.tokens[store.RoleAdmin]
	var p boxPage
	if code := e.call(t, admin, "GET", "/api/v1/boxes?limit=10", "", &p); code != 200 || p.Total != 3 {
		t.Fatalf("first page: %d, total %d", code, p.Total)
	}
	if code := e.call(t, admin, "POST", "/api/v1/boxes", `{"id":"v900","name":"新村","place":"东山镇"}`, nil); code != 201 {
		t.Fatalf("add a box: %d", code)
	}
	if code := e.call(t, admin, "POST", "/api/v1/boxes/v001/retire", "", nil); code != 200 {
		t.Fatalf("retire: %d", code)
	}
	e.call(t, admin, "GET", "/api/v1/boxes?limit=10", "", &p)
	if got := idsOf(p.Boxes); !slices.Equal(got, []string{"v000", "v002", "v900"}) || p.Total != 3 {
		t.Errorf("page after adding v900 and retiring v001: %v (total %d)", got, p.Total)
	}
	var list []boxJSON
	if code := e.call(t, admin, "GET", "/api/v1/boxes", "", &list); code != 200 || !slices.Equal(idsOf(list), []string{"v000", "v002", "v900"}) {
		t.Errorf("unpaged list: %d %v, want the array of boxes in service", code, idsOf(list))
	}
	if e.call(t, admin, "GET", "/api/v1/boxes?all=true", "", &list); len(list) != 4 {
		t.Errorf("unpaged list with all: %d boxes, want 4", len(list))
	}
	if e.call(t, admin, "GET", "/api/v1/boxes?all=true&limit=2", "", &p); p.Total != 4 || len(p.Boxes) != 2 {
		t.Errorf("page with all: total %d, %d boxes; want 4 and 2", p.Total, len(p.Boxes))
	}
}

func TestBoxListRefusesBadQueries(t *testing.T) {
	e := newEnv(t)
	manyBoxes(t, e, 30)
	viewer := e.tokens[store.RoleViewer]
	var first boxPage
	e.call(t, viewer, "GET", "/api/v1/boxes?sort=name&limit=5", "", &first)
	for _, q := range []string{"limit=0", "limit=501", "limit=x", "sort=colour", "online=maybe", "problems=2",
		"offset=-3", "cursor=zz&offset=5", "cursor=%21%21", "cursor=" + first.NextCursor /* made for sort=name */} {
		if code := e.call(t, viewer, "GET", "/api/v1/boxes?"+q, "", nil); code != 400 {
			t.Errorf("?%s: %d, want 400", q, code)
		}
	}
}
