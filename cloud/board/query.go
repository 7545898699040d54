package board

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Limits of a page.
const (
	DefaultLimit = 50
	MaxLimit     = 500
	// MaxSearch bounds the search text and the place prefix.
	MaxSearch = 128
)

// maxCursor bounds a cursor: its longest key is a box's name.
const maxCursor = 4 << 10

// maxProblems is more than the kinds of problem there are.
const maxProblems = 16

// Sort keys.
const (
	SortID       = "id"
	SortName     = "name"
	SortLastSeen = "last_seen"
	SortProblems = "problems"
)

// ErrBadQuery: a query cannot run as asked; the error says which
// parameter and why.
var ErrBadQuery = errors.New("board: bad query")

// Query selects, orders and pages the board.
type Query struct {
	// Place keeps the boxes whose place begins with it (a township, or a
	// township's area: places are written from the largest down).
	Place string
	// Township keeps the boxes of that township (store.Box.Township): the
	// county's picker. "" keeps every township's.
	Township string
	// In keeps the boxes whose township it covers: the reader's scope
	// (auth.Scope.Covers), set by the caller, never from a query string.
	// nil keeps every box.
	In func(township string) bool
	// Online keeps only online (true) or offline (false) boxes; nil keeps
	// both.
	Online *bool
	// Problems keeps only boxes with at least one problem.
	Problems bool
	// Search keeps boxes whose id or name holds it, ignoring case.
	Search string
	// Retired keeps the retired boxes too.
	Retired bool
	// Sort is a sort key; Desc reverses it. Equal keys go by id, in the
	// same direction.
	Sort string
	Desc bool
	// Limit is the most entries a page holds.
	Limit int
	// Cursor continues after the page that returned it; Offset skips
	// that many entries instead (a page number's worth). Not both.
	Cursor string
	Offset int
}

// Params are the query string parameters ParseQuery reads.
var Params = []string{"place", "township", "online", "problems", "q", "all", "sort", "limit", "cursor", "offset"}

// ParseQuery reads a query from a query string:
//
//	place=东山镇   township=t-dongshan   online=true|false   problems=true   q=text   all=true
//	sort=id|name|last_seen|problems, "-" before it for descending
//	limit=1..MaxLimit (DefaultLimit)   cursor=…   offset=N
func ParseQuery(v url.Values) (Query, error) {
	q := Query{Sort: SortID, Limit: DefaultLimit, Place: strings.TrimSpace(v.Get("place")), Search: strings.TrimSpace(v.Get("q")),
		Cursor: v.Get("cursor"), Township: strings.TrimSpace(v.Get("township"))}
	var errs []error
	bad := func(name, why string) { errs = append(errs, fmt.Errorf("%w: %s: %s", ErrBadQuery, name, why)) }
	if len(q.Place) > MaxSearch {
		bad("place", fmt.Sprintf("at most %d bytes", MaxSearch))
	}
	if len(q.Township) > MaxSearch {
		bad("township", fmt.Sprintf("at most %d bytes", MaxSearch))
	}
	if len(q.Search) > MaxSearch {
		bad("q", fmt.Sprintf("at most %d bytes", MaxSearch))
	}
	flag := func(name string) bool {
		s := v.Get(name)
		if s == "" {
			return false
		}
		b, err := strconv.ParseBool(s)
		if err != nil {
			bad(name, "true or false")
		}
		return b
	}
	if s := v.Get("online"); s != "" {
		on := flag("online")
		q.Online = &on
	}
	q.Problems, q.Retired = flag("problems"), flag("all")
	if s := v.Get("sort"); s != "" {
		q.Desc = strings.HasPrefix(s, "-")
		q.Sort = strings.TrimPrefix(s, "-")
		if !slices.Contains([]string{SortID, SortName, SortLastSeen, SortProblems}, q.Sort) {
			bad("sort", "id, name, last_seen or problems, with - before it for descending")
		}
	}
	whole := func(name string, def, lo, hi int) int {
		s := v.Get(name)
		if s == "" {
			return def
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			bad(name, fmt.Sprintf("a whole number from %d to %d", lo, hi))
		}
		return n
	}
	q.Limit = whole("limit", DefaultLimit, 1, MaxLimit)
	q.Offset = whole("offset", 0, 0, 1<<30)
	if q.Cursor != "" && q.Offset > 0 {
		bad("cursor", "give a cursor or an offset, not both")
	}
	return q, errors.Join(errs...)
}

// Values is q as a query string's parameters, leaving out defaults and
// the page's position (Cursor, Offset): the view a page belongs to.
func (q Query) Values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("place", q.Place)
	set("township", q.Township)
	set("q", q.Search)
	if q.Online != nil {
		v.Set("online", strconv.FormatBool(*q.Online))
	}
	if q.Problems {
		v.Set("problems", "true")
	}
	if q.Retired {
		v.Set("all", "true")
	}
	if q.Sort != SortID || q.Desc {
		s := q.Sort
		if q.Desc {
			s = "-" + s
		}
		v.Set("sort", s)
	}
	if q.Limit != DefaultLimit {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// Page is one page of the board.
type Page struct {
	Entries []Entry
	// Total is how many entries the query's filters keep, on every page.
	Total int
	// Offset is the first entry's place among them, from 0.
	Offset int
	// Next is the cursor of the following page; "" on the last.
	Next string
}

// cursor is a page's end: the sort it was made for and the last entry's
// key, so the next page starts after it even when entries came or went
// in between (an offset would skip or repeat them).
type cursor struct {
	Sort string `json:"s"`
	Key  string `json:"k,omitempty"`
	N    int64  `json:"n,omitempty"`
	ID   string `json:"i"`
}

func (q Query) sortName() string {
	if q.Desc {
		return "-" + q.Sort
	}
	return q.Sort
}

// Page filters, sorts and pages the snapshot.
func (s *Snapshot) Page(q Query) (Page, error) {
	if q.Limit < 1 || q.Limit > MaxLimit {
		return Page{}, fmt.Errorf("%w: limit %d: 1 to %d", ErrBadQuery, q.Limit, MaxLimit)
	}
	var after *cursor
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil || c.Sort != q.sortName() {
			return Page{}, fmt.Errorf("%w: cursor: not one this list gave for sort %s", ErrBadQuery, q.sortName())
		}
		after = &c
	}
	keep := make([]*Entry, 0, len(s.Entries))
	search := strings.ToLower(q.Search)
	for i := range s.Entries {
		e := &s.Entries[i]
		switch {
		case e.Box.Retired() && !q.Retired,
			!strings.HasPrefix(e.Box.Place, q.Place),
			q.Township != "" && e.Box.Township != q.Township,
			q.In != nil && !q.In(e.Box.Township),
			q.Online != nil && e.Online != *q.Online,
			q.Problems && len(e.Problems) == 0,
			search != "" && !strings.Contains(strings.ToLower(e.Box.ID), search) && !strings.Contains(strings.ToLower(e.Box.Name), search):
			continue
		}
		keep = append(keep, e)
	}
	order := func(a, b *Entry) int {
		c := 0
		switch q.Sort {
		case SortName:
			c = cmp.Compare(a.Box.Name, b.Box.Name)
		case SortLastSeen:
			c = a.LastSeen.Compare(b.LastSeen)
		case SortProblems:
			c = cmp.Compare(len(a.Problems), len(b.Problems))
		}
		if c == 0 {
			c = cmp.Compare(a.Box.ID, b.Box.ID)
		}
		if q.Desc {
			return -c
		}
		return c
	}
	if q.Sort != SortID || q.Desc {
		slices.SortFunc(keep, order) // the snapshot is by id already
	}
	start := min(q.Offset, len(keep))
	if after != nil {
		mark := after.entry(q.Sort)
		start, _ = slices.BinarySearchFunc(keep, mark, func(e, m *Entry) int {
			if order(e, m) <= 0 {
				return -1
			}
			return 1
		})
	}
	end := min(start+q.Limit, len(keep))
	p := Page{Total: len(keep), Offset: start, Entries: make([]Entry, 0, end-start)}
	for _, e := range keep[start:end] {
		p.Entries = append(p.Entries, *e)
	}
	if end < len(keep) {
		p.Next = encodeCursor(cursorOf(q, keep[end-1]))
	}
	return p, nil
}

func cursorOf(q Query, e *Entry) cursor {
	c := cursor{Sort: q.sortName(), ID: e.Box.ID}
	switch q.Sort {
	case SortName:
		c.Key = e.Box.Name
	case SortLastSeen:
		c.N = e.LastSeen.UnixNano()
		if e.LastSeen.IsZero() {
			c.Key = "never"
		}
	case SortProblems:
		c.N = int64(len(e.Problems))
	}
	return c
}

// entry is a stand-in entry with the cursor's key, to compare with.
func (c cursor) entry(sort string) *Entry {
	e := &Entry{Box: storeBox(c.ID)}
	switch sort {
	case SortName:
		e.Box.Name = c.Key
	case SortLastSeen:
		if c.Key != "never" {
			e.LastSeen = unixNano(c.N)
		}
	case SortProblems:
		// Only the count matters; no box has more problems than kinds.
		e.Problems = make([]string, min(max(c.N, 0), maxProblems))
	}
	return e
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c) // strings and numbers only
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	if len(s) > maxCursor {
		return c, errors.New("too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, err
	}
	return c, nil
}
