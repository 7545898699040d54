package web

import (
	"encoding/json"
	"net/http"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/protocol"
)

// Remote diagnostics of a box, each a signed command the box answers
// within protocol.MaxDiagData. They are POSTs, so that the audit trail
// records who read which box's log and configuration, and who restarted
// it, as it records every change.
func (s *Server) diagRoutes() {
	s.route("POST /api/v1/boxes/{id}/diag/logs", auth.ActionDiagnose, TargetBox, s.diagLogs)
	s.route("POST /api/v1/boxes/{id}/diag/config", auth.ActionDiagnose, TargetBox, s.diagConfig)
	s.route("POST /api/v1/boxes/{id}/diag/check", auth.ActionDiagnose, TargetBox, s.diagCheck)
	s.route("POST /api/v1/boxes/{id}/restart", auth.ActionRestartBox, TargetBox, s.restartBox)
}

func (s *Server) diagLogs(w http.ResponseWriter, r *http.Request) {
	var in protocol.DiagLogsArgs
	if !decodeOptional(w, r, &in) {
		return
	}
	if err := in.Validate(); err != nil {
		refuse(w, CodeCommandInvalid, err)
		return
	}
	s.diag(w, r, protocol.CmdDiagLogs, in, new(protocol.DiagLogs))
}

func (s *Server) diagConfig(w http.ResponseWriter, r *http.Request) {
	s.diag(w, r, protocol.CmdDiagConfig, nil, new(protocol.DiagConfig))
}

func (s *Server) diagCheck(w http.ResponseWriter, r *http.Request) {
	s.diag(w, r, protocol.CmdDiagCheck, nil, new(protocol.DiagCheck))
}

func (s *Server) restartBox(w http.ResponseWriter, r *http.Request) {
	var in protocol.DiagRestartArgs
	if !decodeOptional(w, r, &in) {
		return
	}
	if err := in.Validate(); err != nil {
		refuse(w, CodeCommandInvalid, err)
		return
	}
	if in.Reason == "" {
		in.Reason = "restarted by " + userOf(r)
	}
	s.diag(w, r, protocol.CmdDiagRestart, in, new(protocol.DiagRestart))
}

// diag sends typ to the box in the path and answers its data, checked to
// decode as out: 409 box.refused when the box said no (a box from before
// diagnostics answers unknown_command), 502 box.bad_answer when its data
// does not decode.
func (s *Server) diag(w http.ResponseWriter, r *http.Request, typ string, args, out any) {
	id := r.PathValue("id")
	if _, err := s.st.GetBox(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.sendToBox(r.Context(), id, typ, args)
	switch {
	case err != nil:
		s.fail(w, r, err)
	case !res.OK:
		writeError(w, CodeBoxRefused, "the box refused: "+res.Error)
	case json.Unmarshal(res.Data, out) != nil:
		writeError(w, CodeBadAnswer, "the box's answer to "+typ+" does not decode")
	default:
		writeJSON(w, http.StatusOK, out)
	}
}
