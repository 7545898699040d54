package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
)

// A village's box: its name and place, and its credentials: rotated (a
// new secret, the old one refused at once) or removed when the box is
// retired. Who may and what each answers is in doc.go.
func (s *Server) villageRoutes() {
	s.route("PUT /api/v1/boxes/{id}", auth.ActionManageBoxes, TargetBox, s.editBox)
	s.route("POST /api/v1/boxes/{id}/rotate", auth.ActionManageBoxes, TargetBox, s.rotateBox)
	s.route("POST /api/v1/boxes/{id}/retire", auth.ActionManageBoxes, TargetBox, s.retireBox)
}

// answerWithConfig answers with the box and its ready edge config, which
// holds the secret: this answer is the only place it is ever shown.
func (s *Server) answerWithConfig(w http.ResponseWriter, r *http.Request, status int, b store.Box, secret string) {
	cfg, err := s.fl.EdgeConfig(b, secret)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, status, map[string]any{"box": s.boxJSON(b), "edge_config": cfg})
}

func (s *Server) editBox(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name  *string `json:"name"`
		Place *string `json:"place"`
	}
	if !decode(w, r, &in) {
		return
	}
	b, err := s.fl.EditBox(r.Context(), r.PathValue("id"), in.Name, in.Place)
	s.answer(w, r, http.StatusOK, s.boxJSON(b), err)
}

func (s *Server) rotateBox(w http.ResponseWriter, r *http.Request) {
	var in struct{}
	if !decodeOptional(w, r, &in) {
		return
	}
	b, secret, err := s.fl.RotateBox(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.answerWithConfig(w, r, http.StatusOK, b, secret)
}

func (s *Server) retireBox(w http.ResponseWriter, r *http.Request) {
	var in struct{}
	if !decodeOptional(w, r, &in) {
		return
	}
	b, err := s.fl.RetireBox(r.Context(), r.PathValue("id"))
	s.answer(w, r, http.StatusOK, s.boxJSON(b), err)
}

// boolParam reads a query flag: "" and false are false, true is true.
func boolParam(v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errors.New("want true or false")
	}
	return b, nil
}
