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

func (s *Server) cameraRoutes() {
	s.route("GET /api/v1/boxes/{id}/cameras", auth.ActionViewCameras, s.getCameras)
	s.route("PUT /api/v1/boxes/{id}/cameras", auth.ActionManageCameras, s.putCameras)
	s.route("PUT /api/v1/boxes/{id}/cameras/{cid}", auth.ActionManageCameras, s.putCamera)
	s.route("DELETE /api/v1/boxes/{id}/cameras/{cid}", auth.ActionManageCameras, s.deleteCamera)
	s.route("POST /api/v1/boxes/{id}/cameras/{cid}/whep", auth.ActionViewCameras, s.whep)
	s.route("DELETE /api/v1/boxes/{id}/cameras/{cid}/whep/{session}", auth.ActionViewCameras, s.whepStop)
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

// whep takes a browser's SDP offer (WHEP: POST application/sdp), has the
// box answer it over MQTT as a signed command, and returns the answer
// (201, application/sdp) with the session's URL for ending it.
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
	args := protocol.WHEPArgs{Camera: cam, Offer: offer, Viewer: userOf(r)}
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
	res, ok := s.boxCommand(w, r, box, protocol.CmdWHEP, args)
	if !ok {
		return
	}
	var ans protocol.WHEPResult
	if err := json.Unmarshal(res.Data, &ans); err != nil || ans.Answer == "" || protocol.ValidateID(ans.Session) != nil {
		s.log.Error("box answered a WHEP offer with no usable answer", "box_id", box, "camera_id", cam, "err", err)
		writeError(w, CodeBadAnswer, "the box gave no usable SDP answer")
		return
	}
	writeAnswer(w, fmt.Sprintf("/api/v1/boxes/%s/cameras/%s/whep/%s", box, cam, ans.Session), ans.Answer)
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
