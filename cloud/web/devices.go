package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Trying a village's devices while setting it up: a chime on one horn,
// and opening a camera from the box, saved or about to be. The box does
// both (signed commands) and says what came of it; a device that did not
// work is answered with a code that says what to check, and the box's
// result beside it ("result").
func (s *Server) deviceRoutes() {
	s.route("POST /api/v1/boxes/{id}/speakers/{sid}/test", auth.ActionManageBroadcast, TargetBox, s.testTone)
	s.route("POST /api/v1/boxes/{id}/cameras/{cid}/probe", auth.ActionManageCameras, TargetBox, s.probeCamera)
}

func (s *Server) testTone(w http.ResponseWriter, r *http.Request) {
	sid, ok := pathID(w, r, "sid")
	var in struct{}
	if !ok || !decodeOptional(w, r, &in) {
		return
	}
	box := r.PathValue("id")
	p, err := s.pl.Get(r.Context(), box)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	if !slices.ContainsFunc(p.Broadcast.Speakers, func(x protocol.Speaker) bool { return x.ID == sid }) {
		s.fail(w, r, fmt.Errorf("speaker %q of box %s: %w", sid, box, store.ErrNotFound))
		return
	}
	res, ok := s.boxCommand(w, r, box, protocol.CmdTestTone, protocol.TestToneArgs{Speaker: sid})
	if !ok {
		return
	}
	var tone protocol.TestToneResult
	if err := json.Unmarshal(res.Data, &tone); err != nil || tone.Speaker != sid {
		s.log.Error("box answered a test tone with no usable result", "box_id", box, "speaker_id", sid, "err", err)
		writeError(w, CodeBadAnswer, "the box gave no usable test tone result")
		return
	}
	if tone.Played {
		writeJSON(w, http.StatusOK, map[string]any{"result": tone})
		return
	}
	code := CodeSpeakerSilent
	switch tone.Reason {
	case protocol.ToneUnknownSpeaker:
		code = CodeSpeakerNotOnBox
	case protocol.ToneBusy:
		code = CodeSpeakerBusy
	}
	msg := fmt.Sprintf("%s: %s", codes()[code].summary, tone.Error)
	writeJSON(w, code.Status(), problemJSON(Problem{Error: msg, Code: code}, map[string]any{"result": tone}))
}

// probeCamera tries the camera in the body (a Camera as PUT takes it,
// its password written back as SecretMask or left out for the stored
// one), or with no body the camera as saved.
func (s *Server) probeCamera(w http.ResponseWriter, r *http.Request) {
	cid, ok := pathID(w, r, "cid")
	if !ok {
		return
	}
	var in protocol.Camera
	given := r.ContentLength != 0
	if given && (!decode(w, r, &in) || !bodyID(w, &in.ID, cid)) {
		return
	}
	box := r.PathValue("id")
	p, err := s.pl.Get(r.Context(), box)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	i := slices.IndexFunc(p.Cameras.Cameras, func(c protocol.Camera) bool { return c.ID == cid })
	switch {
	case given:
		keepPassword(&in, p.Cameras.Cameras)
	case i >= 0:
		in = p.Cameras.Cameras[i]
	default:
		writeError(w, CodeNoCamera, fmt.Sprintf("box %s has no camera %q; send the camera to try in the body", box, cid))
		return
	}
	args := protocol.ProbeArgs{Camera: cid, URL: in.URL, Username: in.Username, Password: in.Password, Transport: in.Transport,
		AllowLocalTargets: s.pl.AllowsLocalCameraTargets()}
	if err := args.Validate(); err != nil {
		refuse(w, CodeBadRequest, err)
		return
	}
	res, ok := s.boxCommand(w, r, box, protocol.CmdProbeCamera, args)
	if !ok {
		return
	}
	var probe protocol.ProbeResult
	if err := json.Unmarshal(res.Data, &probe); err != nil {
		s.log.Error("box answered a camera probe with no usable result", "box_id", box, "camera_id", cid, "err", err)
		writeError(w, CodeBadAnswer, "the box gave no usable probe result")
		return
	}
	if probe.Opened {
		writeJSON(w, http.StatusOK, map[string]any{"result": probe})
		return
	}
	code := CodeCameraUnreachable
	switch probe.Reason {
	case protocol.ProbeUnauthorized:
		code = CodeCameraUnauthorized
	case protocol.ProbeNoVideo:
		code = CodeCameraNoVideo
	}
	msg := fmt.Sprintf("%s (%s): %s", codes()[code].summary, probe.Reason, probe.Error)
	writeJSON(w, code.Status(), problemJSON(Problem{Error: msg, Code: code}, map[string]any{"result": probe}))
}
