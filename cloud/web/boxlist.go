package web

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/dalaba/dalaba/cloud/board"
	"github.com/dalaba/dalaba/cloud/store"
)

// boxListAge is how old a snapshot of the fleet the paged box list may
// answer from: readers share one read of every box, and a change made
// through the API drops it (route), so a caller sees its own changes.
const boxListAge = 2 * time.Second

// newBoard is the API's view of the fleet, its boxes online as presence
// has them.
func (s *Server) newBoard() (*board.Board, error) {
	return board.New(board.Deps{Source: s.st, MaxAge: boxListAge, Now: s.now, Logger: s.log, Link: func(b store.Box) board.Link {
		l := s.fl.Link(b)
		return board.Link{Online: l.Online, LastSeen: l.LastSeen}
	}})
}

// paged reports whether a box list request asks for a page: any of the
// board's parameters but all, which the unpaged list has always taken.
func paged(r *http.Request) bool {
	q := r.URL.Query()
	for _, p := range board.Params {
		if p != "all" && q.Has(p) {
			return true
		}
	}
	return false
}

// pagedBox is a box on a page of the list: with its problems (board's
// codes; [] when none).
type pagedBox struct {
	boxJSON
	Problems []string `json:"problems"`
}

// boxPage is a page of the box list.
type boxPage struct {
	Boxes []pagedBox `json:"boxes"`
	// Total is how many boxes the filters keep, on every page.
	Total  int `json:"total"`
	Offset int `json:"offset"`
	// NextCursor asks for the next page (?cursor=); "" on the last.
	NextCursor string `json:"next_cursor"`
}

// pageBoxes answers a page of the box list: filtered, sorted and paged
// as board.ParseQuery reads the query string.
func (s *Server) pageBoxes(w http.ResponseWriter, r *http.Request) {
	q, err := board.ParseQuery(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q.In = scopeOf(r).Covers
	snap, err := s.board.Snapshot(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := snap.Page(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := boxPage{Boxes: make([]pagedBox, 0, len(p.Entries)), Total: p.Total, Offset: p.Offset, NextCursor: p.Next}
	for _, e := range p.Entries {
		j := pagedBox{boxJSON: s.boxJSON(e.Box), Problems: e.Problems}
		if j.Problems == nil {
			j.Problems = []string{}
		}
		out.Boxes = append(out.Boxes, j)
	}
	writeJSON(w, http.StatusOK, out)
}

// changesBoxes reports whether a route's requests change boxes or their
// plans, after which the box list reads the fleet again.
func changesBoxes(pattern string) bool {
	method, path, _ := strings.Cut(pattern, " ")
	return method != http.MethodGet && strings.HasPrefix(path, "/api/v1/boxes")
}

// Run keeps the box list's view of the fleet fresh while it is read
// (board.Run), until ctx ends.
func (s *Server) Run(ctx context.Context) error { return s.board.Run(ctx) }

// FleetChanged tells the box list that another replica changed the fleet:
// it is read again soon, not at its next refresh.
func (s *Server) FleetChanged() { s.board.Changed() }
