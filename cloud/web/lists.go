package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/store"
)

// Red/black lists (红黑榜): the routes, who may use them and what they
// answer are in doc.go.
func (s *Server) listsRoutes() {
	view, edit, review := auth.ActionViewLists, auth.ActionEditLists, auth.ActionReviewLists
	s.rosterRoutes()
	s.route("GET /api/v1/villages/{box}/households/{hid}/points", view, TargetVillage, s.points)
	s.route("GET /api/v1/villages/{box}/categories", view, TargetVillage, s.getCategories)
	s.route("PUT /api/v1/villages/{box}/categories", edit, TargetVillage, s.putCategories)
	s.route("POST /api/v1/villages/{box}/entries", edit, TargetVillage, s.createEntry)
	s.route("GET /api/v1/entries", view, TargetList, s.listEntries)
	s.route("GET /api/v1/entries/{eid}", view, TargetEntry, s.getEntry)
	s.route("GET /api/v1/entries/{eid}/history", auth.ActionViewEntryHistory, TargetEntry, s.entryHistory)
	s.route("PUT /api/v1/entries/{eid}", edit, TargetEntry, s.updateEntry)
	s.route("POST /api/v1/entries/{eid}/submit", edit, TargetEntry, s.submitEntry)
	s.route("POST /api/v1/entries/{eid}/approve", review, TargetEntry, s.approveEntry)
	s.route("POST /api/v1/entries/{eid}/reject", review, TargetEntry, s.rejectEntry)
	s.route("POST /api/v1/entries/{eid}/revoke", review, TargetEntry, s.revokeEntry)
	s.route("GET /api/v1/villages/{box}/lists/{period}", view, TargetVillage, s.getList)
	s.route("POST /api/v1/villages/{box}/lists/{period}/publish", edit, TargetVillage, s.publishList)
	s.route("POST /api/v1/villages/{box}/lists/{period}/announce", edit, TargetVillage, s.announceList)
	s.route("GET /api/v1/villages/{box}/leaderboard", view, TargetVillage, s.leaderboard)
	s.communityRoutes()
}

// actor is the signed-in user as the lists see them.
func actor(r *http.Request) lists.Actor {
	role, _ := r.Context().Value(roleKey{}).(store.Role) // set by authed on every route that asks
	return lists.Actor{Name: userOf(r), Role: role}
}

// answer writes v with status, or the error.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, status, v)
}

// decodeOptional is decode for bodies that may be left out entirely.
func decodeOptional(w http.ResponseWriter, r *http.Request, dst any) bool {
	if r.ContentLength == 0 {
		return true
	}
	return decode(w, r, dst)
}

func entryID(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	id, err := strconv.ParseUint(r.PathValue("eid"), 10, 64)
	if err != nil || id == 0 {
		refuse(w, CodeBadRequest, errors.New("entry id: a positive whole number"))
		return 0, false
	}
	return id, true
}

type categoriesJSON struct {
	Categories []lists.CategoryView `json:"categories"`
}

func categoriesOut(cats []store.Category) categoriesJSON {
	out := categoriesJSON{Categories: []lists.CategoryView{}}
	for _, c := range cats {
		out.Categories = append(out.Categories, lists.CategoryView(c))
	}
	return out
}

func (s *Server) getCategories(w http.ResponseWriter, r *http.Request) {
	if box, ok := pathID(w, r, "box"); ok {
		cats, err := s.ls.Categories(r.Context(), box)
		s.answer(w, r, http.StatusOK, categoriesOut(cats), err)
	}
}

func (s *Server) putCategories(w http.ResponseWriter, r *http.Request) {
	var in categoriesJSON
	box, ok := pathID(w, r, "box")
	if !ok || !decode(w, r, &in) {
		return
	}
	cats := make([]store.Category, 0, len(in.Categories))
	for _, c := range in.Categories {
		cats = append(cats, store.Category(c))
	}
	saved, err := s.ls.PutCategories(r.Context(), actor(r), box, cats)
	s.answer(w, r, http.StatusOK, categoriesOut(saved), err)
}

func (s *Server) createEntry(w http.ResponseWriter, r *http.Request) {
	var in lists.EntryInput
	box, ok := pathID(w, r, "box")
	if !ok || !decode(w, r, &in) {
		return
	}
	v, err := s.ls.CreateEntry(r.Context(), actor(r), box, in)
	if err == nil {
		w.Header().Set("Location", "/api/v1/entries/"+strconv.FormatUint(v.ID, 10))
	}
	s.answer(w, r, http.StatusCreated, v, err)
}

func (s *Server) listEntries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := lists.Filter{Village: q.Get("village"), Period: q.Get("period"), Status: store.EntryStatus(q.Get("status")), Kind: store.ListKind(q.Get("kind"))}
	v, err := s.ls.Entries(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, err = keepVisible(s, r, v, func(e lists.EntryView) string { return e.Village })
	s.answer(w, r, http.StatusOK, v, err)
}

func (s *Server) getEntry(w http.ResponseWriter, r *http.Request) {
	if id, ok := entryID(w, r); ok {
		v, err := s.ls.Entry(r.Context(), id)
		s.answer(w, r, http.StatusOK, v, err)
	}
}

func (s *Server) updateEntry(w http.ResponseWriter, r *http.Request) {
	var in struct {
		lists.EntryInput
		Revision uint64 `json:"revision"`
	}
	id, ok := entryID(w, r)
	if !ok || !decode(w, r, &in) {
		return
	}
	v, err := s.ls.UpdateEntry(r.Context(), actor(r), id, in.EntryInput, in.Revision)
	s.answer(w, r, http.StatusOK, v, err)
}

func (s *Server) submitEntry(w http.ResponseWriter, r *http.Request) {
	var in struct{}
	id, ok := entryID(w, r)
	if !ok || !decodeOptional(w, r, &in) {
		return
	}
	v, err := s.ls.Submit(r.Context(), actor(r), id)
	s.answer(w, r, http.StatusOK, v, err)
}

func (s *Server) approveEntry(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Note string `json:"note"`
	}
	id, ok := entryID(w, r)
	if !ok || !decodeOptional(w, r, &in) {
		return
	}
	v, err := s.ls.Approve(r.Context(), actor(r), id, in.Note)
	s.answer(w, r, http.StatusOK, v, err)
}

func (s *Server) rejectEntry(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Reason string `json:"reason"`
	}
	id, ok := entryID(w, r)
	if !ok || !decode(w, r, &in) {
		return
	}
	v, err := s.ls.Reject(r.Context(), actor(r), id, in.Reason)
	s.answer(w, r, http.StatusOK, v, err)
}

func (s *Server) revokeEntry(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Note string `json:"note"`
	}
	id, ok := entryID(w, r)
	if !ok || !decode(w, r, &in) {
		return
	}
	v, err := s.ls.Revoke(r.Context(), actor(r), id, in.Note)
	if errors.Is(err, lists.ErrAnnounce) {
		// The revocation is saved; say so beside the failure.
		s.failWith(w, r, err, map[string]any{"entry": v})
		return
	}
	s.answer(w, r, http.StatusOK, v, err)
}

func (s *Server) getList(w http.ResponseWriter, r *http.Request) {
	if box, ok := pathID(w, r, "box"); ok {
		v, err := s.ls.List(r.Context(), box, r.PathValue("period"))
		s.answer(w, r, http.StatusOK, v, err)
	}
}

func (s *Server) publishList(w http.ResponseWriter, r *http.Request) {
	var in struct{}
	box, ok := pathID(w, r, "box")
	if !ok || !decodeOptional(w, r, &in) {
		return
	}
	v, err := s.ls.Publish(r.Context(), actor(r), box, r.PathValue("period"))
	if errors.Is(err, lists.ErrAnnounce) {
		// The publication is saved; say so beside the failure.
		s.failWith(w, r, err, map[string]any{"entries": v.Entries, "text": v.Text})
		return
	}
	s.answer(w, r, http.StatusOK, v, err)
}

func (s *Server) announceList(w http.ResponseWriter, r *http.Request) {
	var in struct{}
	box, ok := pathID(w, r, "box")
	if !ok || !decodeOptional(w, r, &in) {
		return
	}
	text, err := s.ls.Announce(r.Context(), actor(r), box, r.PathValue("period"))
	s.answer(w, r, http.StatusOK, map[string]string{"text": text}, err)
}

func (s *Server) leaderboard(w http.ResponseWriter, r *http.Request) {
	if box, ok := pathID(w, r, "box"); ok {
		v, err := s.ls.Leaderboard(r.Context(), box, r.URL.Query().Get("period"))
		s.answer(w, r, http.StatusOK, v, err)
	}
}
