package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

func (s *Server) playbackRoutes() {
	s.route("POST /api/v1/boxes/{id}/play", auth.ActionPlayNow, TargetBox, s.play)
	s.route("POST /api/v1/boxes/{id}/stop", auth.ActionPlayNow, TargetBox, s.stop)
	s.route("POST /api/v1/boxes/{id}/volume", auth.ActionPlayNow, TargetBox, s.volume)
}

// play grants the clips to the box (it fetches what it lacks) and has it
// play them now.
func (s *Server) play(w http.ResponseWriter, r *http.Request) {
	var in protocol.PlayArgs
	if !decode(w, r, &in) {
		return
	}
	if err := in.Validate(); err != nil {
		refuse(w, CodeCommandInvalid, err)
		return
	}
	// The box would get 404 for a clip that was never uploaded; say so now.
	var missing []error
	for _, sha := range in.Media {
		_, err := s.st.GetMedia(r.Context(), sha)
		if errors.Is(err, store.ErrNotFound) {
			missing = append(missing, fmt.Errorf("medium %s was never uploaded", sha))
		} else if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := errors.Join(missing...); err != nil {
		refuse(w, CodeMediaUnknown, err)
		return
	}
	s.command(w, r, protocol.CmdPlay, in, func(box string) { s.md.Grant(box, in.Media) })
}

func (s *Server) stop(w http.ResponseWriter, r *http.Request) {
	var in protocol.StopArgs
	if !decode(w, r, &in) {
		return
	}
	var errs []error
	for _, z := range in.Zones {
		if err := protocol.ValidateID(z); err != nil {
			errs = append(errs, fmt.Errorf("zones: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		refuse(w, CodeCommandInvalid, err)
		return
	}
	s.command(w, r, protocol.CmdStop, in, nil)
}

func (s *Server) volume(w http.ResponseWriter, r *http.Request) {
	var in protocol.VolumeArgs
	if !decode(w, r, &in) {
		return
	}
	if err := in.Validate(); err != nil {
		refuse(w, CodeCommandInvalid, err)
		return
	}
	s.command(w, r, protocol.CmdVolume, in, nil)
}

// command sends typ with args to the box in the path, after before (if
// any) has run for a box that exists, and answers with the box's result.
func (s *Server) command(w http.ResponseWriter, r *http.Request, typ string, args any, before func(box string)) {
	id := r.PathValue("id")
	if _, err := s.st.GetBox(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	if before != nil {
		before(id)
	}
	res, err := s.sendToBox(r.Context(), id, typ, args)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
