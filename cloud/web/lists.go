package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/store"
)

// Red/black lists (红黑榜). Every route needs a token and its action
// (auth's table): reads are open to every role; admin and operator keep
// the registers, write entries, publish and announce; admin and reviewer
// approve, reject and revoke; cloud/lists asks the same table and adds
// its finer rules: nobody approves what they wrote or edited (403).
//
//	GET  /api/v1/villages/{box}/households                 with members
//	POST /api/v1/villages/{box}/households                 {id, head} → 201
//	GET  /api/v1/villages/{box}/households/{id}
//	GET  /api/v1/villages/{box}/households/{id}/points     {household, head, entries, total}
//	GET  /api/v1/villages/{box}/persons
//	POST /api/v1/villages/{box}/persons                    {id, name, household} → 201
//	GET  /api/v1/villages/{box}/persons/{id}
//	GET  /api/v1/villages/{box}/categories                 the defaults until put
//	PUT  /api/v1/villages/{box}/categories                 {categories: [{name, red, black}]}
//	POST /api/v1/villages/{box}/entries                    lists.EntryInput → 201 draft
//	GET  /api/v1/entries                                   ?village=&period=&status=&kind=
//	GET  /api/v1/entries/{id}
//	GET  /api/v1/entries/{id}/history                      admin, reviewer, operator: the entry's audit records,
//	                                                       ?after=&limit= (100, at most 1000) → {records, next_after}
//	PUT  /api/v1/entries/{id}                              lists.EntryInput + optional revision; back to draft
//	POST /api/v1/entries/{id}/submit                       draft → in_review
//	POST /api/v1/entries/{id}/approve                      {note?}
//	POST /api/v1/entries/{id}/reject                       {reason} → draft
//	POST /api/v1/entries/{id}/revoke                       {note} (整改) published black → revoked; re-announced
//	GET  /api/v1/villages/{box}/lists/{period}             published list: red, black rows and the text
//	POST /api/v1/villages/{box}/lists/{period}/publish     approved → published; announced
//	POST /api/v1/villages/{box}/lists/{period}/announce    announce again (retry)
//	GET  /api/v1/villages/{box}/leaderboard                ?period= (all periods when absent)
//
// The whole trail, with ?village= and ?entry=, is GET /api/v1/audit (admin
// and reviewer, audit.go).
//
// A failed announcement after a publish or revoke answers 502 with the
// error; the change stands and the next publish, revoke or announce
// retries.
func (s *Server) listsRoutes() {
	view, edit, review := auth.ActionViewLists, auth.ActionEditLists, auth.ActionReviewLists
	s.route("GET /api/v1/villages/{box}/households", view, s.listHouseholds)
	s.route("POST /api/v1/villages/{box}/households", edit, s.createHousehold)
	s.route("GET /api/v1/villages/{box}/households/{hid}", view, s.getHousehold)
	s.route("GET /api/v1/villages/{box}/households/{hid}/points", view, s.points)
	s.route("GET /api/v1/villages/{box}/persons", view, s.listPersons)
	s.route("POST /api/v1/villages/{box}/persons", edit, s.createPerson)
	s.route("GET /api/v1/villages/{box}/persons/{pid}", view, s.getPerson)
	s.route("GET /api/v1/villages/{box}/categories", view, s.getCategories)
	s.route("PUT /api/v1/villages/{box}/categories", edit, s.putCategories)
	s.route("POST /api/v1/villages/{box}/entries", edit, s.createEntry)
	s.route("GET /api/v1/entries", view, s.listEntries)
	s.route("GET /api/v1/entries/{eid}", view, s.getEntry)
	s.route("GET /api/v1/entries/{eid}/history", auth.ActionViewEntryHistory, s.entryHistory)
	s.route("PUT /api/v1/entries/{eid}", edit, s.updateEntry)
	s.route("POST /api/v1/entries/{eid}/submit", edit, s.submitEntry)
	s.route("POST /api/v1/entries/{eid}/approve", review, s.approveEntry)
	s.route("POST /api/v1/entries/{eid}/reject", review, s.rejectEntry)
	s.route("POST /api/v1/entries/{eid}/revoke", review, s.revokeEntry)
	s.route("GET /api/v1/villages/{box}/lists/{period}", view, s.getList)
	s.route("POST /api/v1/villages/{box}/lists/{period}/publish", edit, s.publishList)
	s.route("POST /api/v1/villages/{box}/lists/{period}/announce", edit, s.announceList)
	s.route("GET /api/v1/villages/{box}/leaderboard", view, s.leaderboard)
}

// actor is the signed-in user as the lists see them.
func actor(r *http.Request) lists.Actor {
	role, _ := r.Context().Value(roleKey{}).(store.Role) // set by authed on every route that asks
	return lists.Actor{Name: userOf(r), Role: role}
}

// listsFail maps the lists' errors to their status, the rest as fail does.
func (s *Server) listsFail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, lists.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, lists.ErrForbidden):
		writeError(w, http.StatusForbidden, err.Error())
	case errors.Is(err, lists.ErrConflict):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, lists.ErrAnnounce):
		writeError(w, http.StatusBadGateway, err.Error())
	case errors.Is(err, store.ErrExists):
		writeError(w, http.StatusConflict, "already exists: "+err.Error())
	default:
		s.fail(w, r, err)
	}
}

// answer writes v with status, or the error.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		s.listsFail(w, r, err)
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
		writeError(w, http.StatusBadRequest, "entry id: a positive whole number")
		return 0, false
	}
	return id, true
}

func (s *Server) listHouseholds(w http.ResponseWriter, r *http.Request) {
	if box, ok := pathID(w, r, "box"); ok {
		v, err := s.ls.Households(r.Context(), box)
		s.answer(w, r, http.StatusOK, v, err)
	}
}

func (s *Server) createHousehold(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ID   string `json:"id"`
		Head string `json:"head"`
	}
	box, ok := pathID(w, r, "box")
	if !ok || !decode(w, r, &in) {
		return
	}
	v, err := s.ls.CreateHousehold(r.Context(), actor(r), box, in.ID, in.Head)
	if err == nil {
		w.Header().Set("Location", "/api/v1/villages/"+box+"/households/"+in.ID)
	}
	s.answer(w, r, http.StatusCreated, v, err)
}

func (s *Server) getHousehold(w http.ResponseWriter, r *http.Request) {
	if box, ok := pathID(w, r, "box"); ok {
		v, err := s.ls.Household(r.Context(), box, r.PathValue("hid"))
		s.answer(w, r, http.StatusOK, v, err)
	}
}

func (s *Server) points(w http.ResponseWriter, r *http.Request) {
	if box, ok := pathID(w, r, "box"); ok {
		v, err := s.ls.Points(r.Context(), box, r.PathValue("hid"))
		s.answer(w, r, http.StatusOK, v, err)
	}
}

func (s *Server) listPersons(w http.ResponseWriter, r *http.Request) {
	if box, ok := pathID(w, r, "box"); ok {
		v, err := s.ls.Persons(r.Context(), box)
		s.answer(w, r, http.StatusOK, v, err)
	}
}

func (s *Server) createPerson(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		Household string `json:"household"`
	}
	box, ok := pathID(w, r, "box")
	if !ok || !decode(w, r, &in) {
		return
	}
	v, err := s.ls.CreatePerson(r.Context(), actor(r), box, in.ID, in.Name, in.Household)
	if err == nil {
		w.Header().Set("Location", "/api/v1/villages/"+box+"/persons/"+in.ID)
	}
	s.answer(w, r, http.StatusCreated, v, err)
}

func (s *Server) getPerson(w http.ResponseWriter, r *http.Request) {
	if box, ok := pathID(w, r, "box"); ok {
		v, err := s.ls.Person(r.Context(), box, r.PathValue("pid"))
		s.answer(w, r, http.StatusOK, v, err)
	}
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
		writeJSON(w, http.StatusBadGateway, map[string]any{"error": err.Error(), "entry": v})
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
		writeJSON(w, http.StatusBadGateway, map[string]any{"error": err.Error(), "entries": v.Entries, "text": v.Text})
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
