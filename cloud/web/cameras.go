package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

func (s *Server) cameraRoutes() {
	s.route("GET /api/v1/boxes/{id}/cameras", auth.ActionViewCameras, TargetBox, s.getCameras)
	s.route("PUT /api/v1/boxes/{id}/cameras", auth.ActionManageCameras, TargetBox, s.putCameras)
	s.route("PUT /api/v1/boxes/{id}/cameras/{cid}", auth.ActionManageCameras, TargetBox, s.putCamera)
	s.route("DELETE /api/v1/boxes/{id}/cameras/{cid}", auth.ActionManageCameras, TargetBox, s.deleteCamera)
	s.route("POST /api/v1/boxes/{id}/cameras/{cid}/whep", auth.ActionViewCameras, TargetBox, s.whep)
	s.route("DELETE /api/v1/boxes/{id}/cameras/{cid}/whep/{session}", auth.ActionViewCameras, TargetBox, s.whepStop)
	s.route("POST /api/v1/boxes/{id}/cameras/discover", auth.ActionManageCameras, TargetBox, s.discoverCameras)
	s.route("POST /api/v1/boxes/{id}/cameras/onvif", auth.ActionManageCameras, TargetBox, s.readONVIF)
	// Turning a camera changes what everyone watching it sees: for the
	// roles that send commands to boxes, not for those that only look.
	s.route("POST /api/v1/boxes/{id}/cameras/{cid}/ptz", auth.ActionSendCommands, TargetBox, s.ptz)
	s.route("GET /api/v1/boxes/{id}/cameras/{cid}/snapshot", auth.ActionViewCameras, TargetBox, s.snapshot)
}

// SecretMask stands for a write-only secret (a camera's password) in what
// the API shows: the secret is written, never read back. Written back, the
// mask, like leaving the secret out, keeps the stored one, so a client may
// PUT what it read without knowing the secret.
const SecretMask = "********"

// camerasJSON is a box's camera section as the API shows it.
func camerasJSON(c protocol.Cameras, rev uint64) map[string]any {
	cams := make([]protocol.Camera, 0, len(c.Cameras))
	for _, cam := range c.Cameras {
		if cam.Password != "" {
			cam.Password = SecretMask
		}
		cams = append(cams, cam)
	}
	c.Cameras = cams
	out := map[string]any{"cameras": c}
	if rev > 0 {
		out["desired_rev"] = rev
	}
	return out
}

func (s *Server) getCameras(w http.ResponseWriter, r *http.Request) {
	p, err := s.pl.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, camerasJSON(p.Cameras, 0))
}

func (s *Server) changeCameras(w http.ResponseWriter, r *http.Request, fn func(*protocol.Cameras) error) {
	p, rev, err := s.pl.UpdateCameras(r.Context(), r.PathValue("id"), userOf(r), fn)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, camerasJSON(p.Cameras, rev))
}

// putCameras replaces the whole section: cameras, ICE servers, limits.
func (s *Server) putCameras(w http.ResponseWriter, r *http.Request) {
	var in protocol.Cameras
	if !decode(w, r, &in) {
		return
	}
	s.changeCameras(w, r, func(c *protocol.Cameras) error {
		for i := range in.Cameras {
			keepPassword(&in.Cameras[i], c.Cameras)
		}
		*c = in
		return nil
	})
}

// keepPassword gives cam the password stored for its id when it comes
// with none or with SecretMask. A camera without a user name has no
// password: clearing the name is how its credentials are removed.
func keepPassword(cam *protocol.Camera, stored []protocol.Camera) {
	if cam.Password != "" && cam.Password != SecretMask {
		return
	}
	cam.Password = ""
	if cam.Username == "" {
		return
	}
	if i := slices.IndexFunc(stored, func(s protocol.Camera) bool { return s.ID == cam.ID }); i >= 0 {
		cam.Password = stored[i].Password
	}
}

func (s *Server) putCamera(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "cid")
	if !ok {
		return
	}
	var in protocol.Camera
	if !decode(w, r, &in) || !bodyID(w, &in.ID, id) {
		return
	}
	s.changeCameras(w, r, func(c *protocol.Cameras) error {
		keepPassword(&in, c.Cameras)
		c.Cameras = upsert(c.Cameras, id, cameraID, in)
		return nil
	})
}

func (s *Server) deleteCamera(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "cid")
	if !ok {
		return
	}
	s.changeCameras(w, r, func(c *protocol.Cameras) error {
		var err error
		c.Cameras, err = remove(c.Cameras, "camera", id, cameraID)
		return err
	})
}

func cameraID(x protocol.Camera) string { return x.ID }

// Headers of a WHEP answer saying what the viewer gets: the stream
// (main, sub), the codec, the frames (all, or reference when B-frames are
// left out), why it is not what was asked (protocol.Note*), and the
// camera's audio sent with it.
const (
	streamHeader = "X-Camera-Stream"
	codecHdr     = "X-Camera-Codec"
	framesHeader = "X-Camera-Frames"
	noteHeader   = "X-Camera-Note"
	audioHeader  = "X-Camera-Audio"
	fpsHeader    = "X-Camera-FPS"
)

// whep takes a browser's SDP offer (WHEP: POST application/sdp, with
// ?stream=sub for a grid tile), has the box answer it over MQTT as a
// signed command, and returns the answer (201, application/sdp) with the
// session's URL for ending it and what the viewer gets in X-Camera-*
// headers. A camera the browser cannot be shown is 422 with the box's code
// (camera_bframes, camera_codec) and sentence.
func (s *Server) whep(w http.ResponseWriter, r *http.Request) {
	box, cam := r.PathValue("id"), r.PathValue("cid")
	if err := protocol.ValidateID(cam); err != nil {
		refuse(w, CodeBadRequest, err)
		return
	}
	offer, ok := readOffer(w, r)
	if !ok {
		return
	}
	args := protocol.WHEPArgs{Camera: cam, Offer: offer, Viewer: userOf(r), Stream: r.URL.Query().Get("stream")}
	if err := args.Validate(); err != nil {
		refuse(w, CodeBadRequest, err)
		return
	}
	p, err := s.pl.Get(r.Context(), box)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	if !slices.ContainsFunc(p.Cameras.Cameras, func(c protocol.Camera) bool { return c.ID == cam }) {
		writeError(w, CodeNoCamera, fmt.Sprintf("box %s has no camera %q", box, cam))
		return
	}
	res, ok := s.cameraCommand(w, r, box, protocol.CmdWHEP, args)
	if !ok {
		return
	}
	var ans protocol.WHEPResult
	if err := json.Unmarshal(res.Data, &ans); err != nil || ans.Answer == "" || protocol.ValidateID(ans.Session) != nil {
		s.log.Error("box answered a WHEP offer with no usable answer", "box_id", box, "camera_id", cam, "err", err)
		writeError(w, CodeBadAnswer, "the box gave no usable SDP answer")
		return
	}
	h := w.Header()
	for k, v := range map[string]string{streamHeader: ans.Stream, codecHdr: ans.Codec, framesHeader: ans.Frames, noteHeader: ans.Note, audioHeader: ans.Audio} {
		if headerToken(v) {
			h.Set(k, v)
		}
	}
	if ans.FPS > 0 && ans.FPS < 1000 {
		h.Set(fpsHeader, strconv.FormatFloat(ans.FPS, 'f', 1, 64))
	}
	writeAnswer(w, fmt.Sprintf("/api/v1/boxes/%s/cameras/%s/whep/%s", box, cam, ans.Session), ans.Answer)
}

// headerToken reports whether a box's word may go into a header: a short
// run of letters, digits and '_'.
func headerToken(v string) bool {
	if v == "" || len(v) > 32 {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// cameraCommand is boxCommand for the camera commands, whose refusals
// may carry a camera's own code: those are 422 with the code and the
// box's sentence, for the console to tell the official what to change in
// the camera.
func (s *Server) cameraCommand(w http.ResponseWriter, r *http.Request, box, typ string, args any) (protocol.CommandResult, bool) {
	if _, err := s.st.GetBox(r.Context(), box); err != nil {
		s.fail(w, r, err)
		return protocol.CommandResult{}, false
	}
	res, err := s.sendToBox(r.Context(), box, typ, args)
	if err != nil {
		s.fail(w, r, err)
		return protocol.CommandResult{}, false
	}
	switch {
	case res.OK:
		return res, true
	case res.Code == protocol.CodeCameraBFrames:
		writeError(w, CodeCameraBFrames, res.Error)
	case res.Code == protocol.CodeCameraCodec:
		writeError(w, CodeCameraCodec, res.Error)
	default:
		writeError(w, CodeBoxRefused, "the box refused: "+res.Error)
	}
	return protocol.CommandResult{}, false
}

func (s *Server) whepStop(w http.ResponseWriter, r *http.Request) {
	session, ok := pathID(w, r, "session")
	if !ok {
		return
	}
	if _, ok := s.boxCommand(w, r, r.PathValue("id"), protocol.CmdWHEPStop, protocol.WHEPStopArgs{Session: session}); ok {
		w.WriteHeader(http.StatusOK)
	}
}

// boxCommand sends a command to an existing box and returns its successful
// result; otherwise it has answered the request: 404 for an unknown box,
// 409 with the box's reason when the box refused.
func (s *Server) boxCommand(w http.ResponseWriter, r *http.Request, box, typ string, args any) (protocol.CommandResult, bool) {
	if _, err := s.st.GetBox(r.Context(), box); err != nil {
		s.fail(w, r, err)
		return protocol.CommandResult{}, false
	}
	res, err := s.sendToBox(r.Context(), box, typ, args)
	if err != nil {
		s.fail(w, r, err)
		return protocol.CommandResult{}, false
	}
	if !res.OK {
		writeError(w, CodeBoxRefused, "the box refused: "+res.Error)
		return protocol.CommandResult{}, false
	}
	return res, true
}

// discoverCameras has the box probe its LAN for ONVIF cameras (a body
// {"wait_ms"} is optional) and returns what answered; the box records the
// same as a camera.discovered event.
func (s *Server) discoverCameras(w http.ResponseWriter, r *http.Request) {
	var args protocol.DiscoverArgs
	if r.ContentLength != 0 && !decode(w, r, &args) {
		return
	}
	if err := args.Validate(); err != nil {
		refuse(w, CodeBadRequest, err)
		return
	}
	res, ok := s.cameraCommand(w, r, r.PathValue("id"), protocol.CmdCameraDiscover, args)
	if !ok {
		return
	}
	var out protocol.DiscoverResult
	if err := json.Unmarshal(res.Data, &out); err != nil {
		writeError(w, CodeBadAnswer, "the box's discovery result does not decode")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// readONVIF has the box read a camera's ONVIF services: one found by
// discovery (url, username, password) or one of the box's (camera). The
// password is not kept in the audit trail.
func (s *Server) readONVIF(w http.ResponseWriter, r *http.Request) {
	var args protocol.ONVIFArgs
	if !decode(w, r, &args) {
		return
	}
	if err := args.Validate(); err != nil {
		refuse(w, CodeBadRequest, err)
		return
	}
	noteAudit(r, nil, protocol.ONVIFArgs{Camera: args.Camera, URL: args.URL, Username: args.Username})
	res, ok := s.cameraCommand(w, r, r.PathValue("id"), protocol.CmdCameraONVIF, args)
	if !ok {
		return
	}
	var out protocol.ONVIFResult
	if err := json.Unmarshal(res.Data, &out); err != nil {
		writeError(w, CodeBadAnswer, "the box's ONVIF result does not decode")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// ptz turns, zooms or stops a camera, or sends it to a preset: the body is
// protocol.PTZArgs without the camera, which the path names.
func (s *Server) ptz(w http.ResponseWriter, r *http.Request) {
	cam, ok := pathID(w, r, "cid")
	if !ok {
		return
	}
	var args protocol.PTZArgs
	if !decode(w, r, &args) {
		return
	}
	if args.Camera != "" && args.Camera != cam {
		writeError(w, CodeBadRequest, fmt.Sprintf("camera %q in the body is not the path's %q", args.Camera, cam))
		return
	}
	args.Camera = cam
	if err := args.Validate(); err != nil {
		refuse(w, CodeBadRequest, err)
		return
	}
	if _, ok := s.cameraCommand(w, r, r.PathValue("id"), protocol.CmdCameraPTZ, args); ok {
		writeJSON(w, http.StatusOK, map[string]string{"action": args.Action})
	}
}

// snapshot has the box take a still of a camera and returns it as it
// came (image/jpeg). It is a GET, as looking is: the console shows it as
// an image of its own origin.
func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) {
	cam, ok := pathID(w, r, "cid")
	if !ok {
		return
	}
	res, ok := s.cameraCommand(w, r, r.PathValue("id"), protocol.CmdCameraSnapshot, protocol.SnapshotArgs{Camera: cam})
	if !ok {
		return
	}
	var out protocol.SnapshotResult
	if err := json.Unmarshal(res.Data, &out); err != nil || len(out.Image) == 0 || !strings.HasPrefix(out.ContentType, "image/") {
		writeError(w, CodeBadAnswer, "the box gave no usable image")
		return
	}
	w.Header().Set("Content-Type", out.ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out.Image)
}
