package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/lists"
)

// A village's roster: households and persons, kept one at a time or
// imported from the village's spreadsheet (preview, then import exactly
// what was previewed). Phone numbers and ID digits come masked unless
// ?reveal=true, which only roles with auth.ActionViewPersonalData may
// ask. Who may and what each answers is in doc.go.
func (s *Server) rosterRoutes() {
	view, edit := auth.ActionViewLists, auth.ActionEditLists
	s.route("GET /api/v1/villages/{box}/households", view, TargetVillage, s.listHouseholds)
	s.route("POST /api/v1/villages/{box}/households", edit, TargetVillage, s.createHousehold)
	s.route("GET /api/v1/villages/{box}/households/{hid}", view, TargetVillage, s.getHousehold)
	s.route("PUT /api/v1/villages/{box}/households/{hid}", edit, TargetVillage, s.updateHousehold)
	s.route("GET /api/v1/villages/{box}/persons", view, TargetVillage, s.listPersons)
	s.route("POST /api/v1/villages/{box}/persons", edit, TargetVillage, s.createPerson)
	s.route("GET /api/v1/villages/{box}/persons/{pid}", view, TargetVillage, s.getPerson)
	s.route("PUT /api/v1/villages/{box}/persons/{pid}", edit, TargetVillage, s.updatePerson)
	s.route("GET /api/v1/villages/{box}/roster/template.xlsx", view, TargetVillage, s.rosterTemplate)
	s.route("POST /api/v1/villages/{box}/roster/preview", edit, TargetVillage, s.previewImport)
	s.route("POST /api/v1/villages/{box}/roster/import", edit, TargetVillage, s.importRoster)
}

// reveal reads ?reveal=; true only for a role that may see personal data
// (otherwise the request has been answered 403).
func reveal(w http.ResponseWriter, r *http.Request) (on, ok bool) {
	on, err := boolParam(r.URL.Query().Get("reveal"))
	if err != nil {
		refuse(w, CodeBadRequest, fmt.Errorf("reveal: %w", err))
		return false, false
	}
	if on && !auth.Allowed(actor(r).Role, auth.ActionViewPersonalData) {
		writeError(w, CodeForbidden, fmt.Sprintf("role %s may not see phone numbers and ID digits unmasked", actor(r).Role))
		return false, false
	}
	return on, true
}

func (s *Server) listHouseholds(w http.ResponseWriter, r *http.Request) {
	box, ok := pathID(w, r, "box")
	if !ok {
		return
	}
	if rv, ok := reveal(w, r); ok {
		v, err := s.ls.Households(r.Context(), box, lists.Query{Text: r.URL.Query().Get("q"), Reveal: rv})
		s.answer(w, r, http.StatusOK, v, err)
	}
}

func (s *Server) createHousehold(w http.ResponseWriter, r *http.Request) {
	var in lists.HouseholdInput
	box, ok := pathID(w, r, "box")
	if !ok || !decode(w, r, &in) {
		return
	}
	v, err := s.ls.CreateHousehold(r.Context(), actor(r), box, in)
	if err == nil {
		w.Header().Set("Location", "/api/v1/villages/"+box+"/households/"+in.ID)
	}
	s.answer(w, r, http.StatusCreated, v, err)
}

func (s *Server) getHousehold(w http.ResponseWriter, r *http.Request) {
	box, ok := pathID(w, r, "box")
	if !ok {
		return
	}
	if rv, ok := reveal(w, r); ok {
		v, err := s.ls.Household(r.Context(), box, r.PathValue("hid"), rv)
		s.answer(w, r, http.StatusOK, v, err)
	}
}

func (s *Server) updateHousehold(w http.ResponseWriter, r *http.Request) {
	var in lists.HouseholdEdit
	box, ok := pathID(w, r, "box")
	if !ok || !decode(w, r, &in) {
		return
	}
	v, err := s.ls.UpdateHousehold(r.Context(), actor(r), box, r.PathValue("hid"), in)
	s.answer(w, r, http.StatusOK, v, err)
}

func (s *Server) points(w http.ResponseWriter, r *http.Request) {
	if box, ok := pathID(w, r, "box"); ok {
		v, err := s.ls.Points(r.Context(), box, r.PathValue("hid"))
		s.answer(w, r, http.StatusOK, v, err)
	}
}

func (s *Server) listPersons(w http.ResponseWriter, r *http.Request) {
	box, ok := pathID(w, r, "box")
	if !ok {
		return
	}
	if rv, ok := reveal(w, r); ok {
		v, err := s.ls.Persons(r.Context(), box, lists.Query{Text: r.URL.Query().Get("q"), Reveal: rv})
		s.answer(w, r, http.StatusOK, v, err)
	}
}

func (s *Server) createPerson(w http.ResponseWriter, r *http.Request) {
	var in lists.PersonInput
	box, ok := pathID(w, r, "box")
	if !ok || !decode(w, r, &in) {
		return
	}
	v, err := s.ls.CreatePerson(r.Context(), actor(r), box, in)
	if err == nil {
		w.Header().Set("Location", "/api/v1/villages/"+box+"/persons/"+v.ID)
	}
	s.answer(w, r, http.StatusCreated, v, err)
}

func (s *Server) getPerson(w http.ResponseWriter, r *http.Request) {
	box, ok := pathID(w, r, "box")
	if !ok {
		return
	}
	if rv, ok := reveal(w, r); ok {
		v, err := s.ls.Person(r.Context(), box, r.PathValue("pid"), rv)
		s.answer(w, r, http.StatusOK, v, err)
	}
}

func (s *Server) updatePerson(w http.ResponseWriter, r *http.Request) {
	var in lists.PersonEdit
	box, ok := pathID(w, r, "box")
	if !ok || !decode(w, r, &in) {
		return
	}
	v, err := s.ls.UpdatePerson(r.Context(), actor(r), box, r.PathValue("pid"), in)
	s.answer(w, r, http.StatusOK, v, err)
}

// rosterTemplate is the import's template: its Chinese header, and how
// to fill it in.
func (s *Server) rosterTemplate(w http.ResponseWriter, r *http.Request) {
	if _, ok := pathID(w, r, "box"); ok {
		s.workbook(w, r, "村民名册模板.xlsx", lists.RosterTemplate())
	}
}

// rosterFile reads the uploaded roster: the raw body with ?name=, or the
// multipart field "file"; false when the request has been answered.
func (s *Server) rosterFile(w http.ResponseWriter, r *http.Request) (lists.RosterFile, bool) {
	name := r.URL.Query().Get("name")
	var body io.Reader
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		r.Body = http.MaxBytesReader(w, r.Body, lists.MaxImportBytes+multipartSlack)
		mr, err := r.MultipartReader()
		if err != nil {
			refuse(w, CodeBadRequest, fmt.Errorf("multipart body: %w", err))
			return lists.RosterFile{}, false
		}
		for {
			part, err := mr.NextPart()
			if err != nil {
				refuse(w, CodeBadRequest, errors.New(`no multipart field "file"`))
				return lists.RosterFile{}, false
			}
			if part.FormName() == "file" {
				if name == "" {
					name = part.FileName()
				}
				body = part
				break
			}
		}
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, lists.MaxImportBytes+1)
		body = r.Body
	}
	if name == "" {
		name = "roster"
	}
	b, err := io.ReadAll(io.LimitReader(body, lists.MaxImportBytes+1))
	if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge || len(b) > lists.MaxImportBytes {
		writeError(w, CodeTooLarge, fmt.Sprintf("a roster file may be at most %d bytes", lists.MaxImportBytes))
		return lists.RosterFile{}, false
	}
	if err != nil {
		s.fail(w, r, err)
		return lists.RosterFile{}, false
	}
	f, err := lists.ReadRosterFile(name, bytes.NewReader(b))
	if err != nil {
		s.fail(w, r, err)
		return lists.RosterFile{}, false
	}
	return f, true
}

func (s *Server) previewImport(w http.ResponseWriter, r *http.Request) {
	box, ok := pathID(w, r, "box")
	if !ok {
		return
	}
	rv, ok := reveal(w, r)
	if !ok {
		return
	}
	f, ok := s.rosterFile(w, r)
	if !ok {
		return
	}
	p, err := s.ls.PreviewImport(r.Context(), actor(r), box, f, rv)
	s.answer(w, r, http.StatusOK, p, err)
}

func (s *Server) importRoster(w http.ResponseWriter, r *http.Request) {
	box, ok := pathID(w, r, "box")
	if !ok {
		return
	}
	digest := r.URL.Query().Get("digest")
	if digest == "" {
		refuse(w, CodeBadRequest, errors.New("digest: give the digest of the preview you confirm (POST …/roster/preview first)"))
		return
	}
	rv, ok := reveal(w, r)
	if !ok {
		return
	}
	f, ok := s.rosterFile(w, r)
	if !ok {
		return
	}
	p, err := s.ls.Import(r.Context(), actor(r), box, f, digest, rv)
	s.answer(w, r, http.StatusOK, p, err)
}
