package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Live paging (喊话) is signalled as WHIP is: the browser posts its SDP
// offer with a microphone track, the box answers over MQTT, and DELETE on
// the returned Location hangs up.
func (s *Server) pagingRoutes() {
	s.route("POST /api/v1/boxes/{id}/paging", auth.ActionPage, TargetBox, s.page)
	s.route("DELETE /api/v1/boxes/{id}/paging/{session}", auth.ActionPage, TargetBox, s.pageStop)
}

// codecHeader tells the browser which G.711 law the box chose.
const codecHeader = "X-Paging-Codec"

// page takes ?zones=a,b (none: every zone) and an application/sdp offer.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	box := r.PathValue("id")
	var zones []string
	if z := strings.TrimSpace(r.URL.Query().Get("zones")); z != "" {
		zones = strings.Split(z, ",")
	}
	offer, ok := readOffer(w, r)
	if !ok {
		return
	}
	args := protocol.PageArgs{Zones: zones, Offer: offer, Pager: userOf(r)}
	if err := args.Validate(); err != nil {
		refuse(w, CodeBadRequest, err)
		return
	}
	if _, err := s.st.GetBox(r.Context(), box); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.pl.Get(r.Context(), box)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	if len(p.Broadcast.Zones) == 0 {
		writeError(w, CodeNoZones, fmt.Sprintf("box %s has no zones to page", box))
		return
	}
	for _, z := range zones {
		if !slices.ContainsFunc(p.Broadcast.Zones, func(x protocol.Zone) bool { return x.ID == z }) {
			writeError(w, CodeNoZone, fmt.Sprintf("box %s has no zone %q", box, z))
			return
		}
	}
	res, ok := s.boxCommand(w, r, box, protocol.CmdPage, args)
	if !ok {
		return
	}
	var ans protocol.PageResult
	if err := json.Unmarshal(res.Data, &ans); err != nil || ans.Answer == "" || protocol.ValidateID(ans.Session) != nil {
		s.log.Error("box answered a paging offer with no usable answer", "box_id", box, "err", err)
		writeError(w, CodeBadAnswer, "the box gave no usable SDP answer")
		return
	}
	w.Header().Set(codecHeader, ans.Codec)
	writeAnswer(w, fmt.Sprintf("/api/v1/boxes/%s/paging/%s", box, ans.Session), ans.Answer)
}

func (s *Server) pageStop(w http.ResponseWriter, r *http.Request) {
	session, ok := pathID(w, r, "session")
	if !ok {
		return
	}
	if _, ok := s.boxCommand(w, r, r.PathValue("id"), protocol.CmdPageStop, protocol.PageStopArgs{Session: session}); ok {
		w.WriteHeader(http.StatusOK)
	}
}

// readOffer reads a WHEP or WHIP request's SDP offer; otherwise it has
// answered the request (415 or 413).
func readOffer(w http.ResponseWriter, r *http.Request) (string, bool) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/sdp") {
		writeError(w, CodeUnsupportedType, "send the SDP offer as application/sdp")
		return "", false
	}
	offer, err := io.ReadAll(http.MaxBytesReader(w, r.Body, protocol.MaxSDP))
	if err != nil {
		writeError(w, CodeTooLarge, fmt.Sprintf("an SDP offer is at most %d bytes", protocol.MaxSDP))
		return "", false
	}
	return string(offer), true
}

// writeAnswer answers a WHEP or WHIP offer: 201, the SDP, and where to
// DELETE the session.
func writeAnswer(w http.ResponseWriter, location, answer string) {
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", location)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}
