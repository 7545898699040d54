package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/poster"
	"github.com/dalaba/dalaba/cloud/store"
)

// What the lists do beyond entries: objections and supervisors' flags
// during public notice, the points shop, the villagers' links, the group
// chats, the poster as a picture and a household's export. doc.go lists
// the routes.
func (s *Server) communityRoutes() {
	s.route("GET /api/v1/holds", auth.ActionViewObjections, TargetList, s.listHolds)
	s.route("GET /api/v1/holds/{oid}", auth.ActionViewObjections, TargetHold, s.getHold)
	s.route("POST /api/v1/entries/{eid}/objections", auth.ActionLodgeObjection, TargetEntry, s.lodgeObjection)
	s.route("POST /api/v1/entries/{eid}/flag", auth.ActionFlagLists, TargetEntry, s.flagEntry)
	s.route("POST /api/v1/holds/{oid}/uphold", auth.ActionReviewLists, TargetHold, s.resolveHold(true))
	s.route("POST /api/v1/holds/{oid}/dismiss", auth.ActionReviewLists, TargetHold, s.resolveHold(false))

	s.route("GET /api/v1/villages/{box}/goods", auth.ActionViewShop, TargetVillage, s.listGoods)
	s.route("POST /api/v1/villages/{box}/goods", auth.ActionRunShop, TargetVillage, s.putGoods(true))
	s.route("PUT /api/v1/villages/{box}/goods/{gid}", auth.ActionRunShop, TargetVillage, s.putGoods(false))
	s.route("GET /api/v1/villages/{box}/redemptions", auth.ActionViewShop, TargetVillage, s.listRedemptions)
	s.route("POST /api/v1/villages/{box}/redemptions", auth.ActionRunShop, TargetVillage, s.redeem)
	s.route("POST /api/v1/redemptions/{rid}/cancel", auth.ActionRunShop, TargetRedemption, s.cancelRedemption)
	s.route("GET /api/v1/villages/{box}/households/{hid}/account", auth.ActionViewShop, TargetVillage, s.account)
	s.route("GET /api/v1/villages/{box}/households/{hid}/statement", auth.ActionViewShop, TargetVillage, s.statement)

	s.route("GET /api/v1/villages/{box}/households/{hid}/links", auth.ActionManageLinks, TargetVillage, s.listLinks)
	s.route("POST /api/v1/villages/{box}/households/{hid}/links", auth.ActionManageLinks, TargetVillage, s.issueLink)
	s.route("DELETE /api/v1/villages/{box}/households/{hid}/links", auth.ActionManageLinks, TargetVillage, s.revokeLinks)
	s.route("GET /api/v1/villages/{box}/households/{hid}/export", auth.ActionExportHousehold, TargetVillage, s.exportHousehold)

	s.route("GET /api/v1/villages/{box}/chats", auth.ActionManageChats, TargetVillage, s.getChats)
	s.route("PUT /api/v1/villages/{box}/chats", auth.ActionManageChats, TargetVillage, s.putChats)
	s.route("GET /api/v1/villages/{box}/deliveries", auth.ActionViewLists, TargetVillage, s.deliveries)
	s.route("GET /api/v1/villages/{box}/lists/{period}/poster.png", auth.ActionViewLists, TargetVillage, s.posterPNG)
	s.open("GET /p/{img}", s.postedImage)
}

func uintPath(w http.ResponseWriter, r *http.Request, key, what string) (uint64, bool) {
	id, err := strconv.ParseUint(r.PathValue(key), 10, 64)
	if err != nil || id == 0 {
		refuse(w, CodeBadRequest, errors.New(what+": a positive whole number"))
		return 0, false
	}
	return id, true
}

func (s *Server) listHolds(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	entry, err := uintParam(q.Get("entry"), 0)
	if err != nil {
		refuse(w, CodeBadRequest, errors.New("entry: "+err.Error()))
		return
	}
	v, err := s.ls.Holds(r.Context(), store.HoldFilter{Village: q.Get("village"), EntryID: entry, Status: store.HoldStatus(q.Get("status"))})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, err = keepVisible(s, r, v, func(h lists.HoldView) string { return h.Village })
	s.answer(w, r, http.StatusOK, v, err)
}

func (s *Server) getHold(w http.ResponseWriter, r *http.Request) {
	if id, ok := uintPath(w, r, "oid", "hold id"); ok {
		v, err := s.ls.Hold(r.Context(), id)
		s.answer(w, r, http.StatusOK, v, err)
	}
}

func (s *Server) lodgeObjection(w http.ResponseWriter, r *http.Request) {
	var in lists.Objection
	id, ok := entryID(w, r)
	if !ok || !decode(w, r, &in) {
		return
	}
	v, err := s.ls.Object(r.Context(), actor(r), id, in)
	s.answer(w, r, http.StatusCreated, v, err)
}

func (s *Server) flagEntry(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Note string `json:"note"`
	}
	id, ok := entryID(w, r)
	if !ok || !decode(w, r, &in) {
		return
	}
	v, err := s.ls.Flag(r.Context(), actor(r), id, in.Note)
	s.answer(w, r, http.StatusCreated, v, err)
}

func (s *Server) resolveHold(uphold bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Reason string `json:"reason"`
		}
		id, ok := uintPath(w, r, "oid", "hold id")
		if !ok || !decode(w, r, &in) {
			return
		}
		var v lists.HoldView
		var err error
		if uphold {
			v, err = s.ls.Uphold(r.Context(), actor(r), id, in.Reason)
		} else {
			v, err = s.ls.Dismiss(r.Context(), actor(r), id, in.Reason)
		}
		if errors.Is(err, lists.ErrAnnounce) {
			// The dismissal stands; the publication it let through was not announced.
			s.failWith(w, r, err, map[string]any{"hold": v})
			return
		}
		s.answer(w, r, http.StatusOK, v, err)
	}
}

func (s *Server) listGoods(w http.ResponseWriter, r *http.Request) {
	if box, ok := pathID(w, r, "box"); ok {
		v, err := s.ls.Goods(r.Context(), box)
		s.answer(w, r, http.StatusOK, v, err)
	}
}

func (s *Server) putGoods(create bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			ID string `json:"id"`
			lists.GoodsInput
		}
		box, ok := pathID(w, r, "box")
		if !ok || !decode(w, r, &in) {
			return
		}
		status := http.StatusCreated
		if !create {
			status = http.StatusOK
			if !bodyID(w, &in.ID, r.PathValue("gid")) {
				return
			}
		}
		v, err := s.ls.PutGoods(r.Context(), actor(r), box, in.ID, in.GoodsInput, create)
		s.answer(w, r, status, v, err)
	}
}

func (s *Server) listRedemptions(w http.ResponseWriter, r *http.Request) {
	if box, ok := pathID(w, r, "box"); ok {
		v, err := s.ls.Redemptions(r.Context(), box, r.URL.Query().Get("household"))
		s.answer(w, r, http.StatusOK, v, err)
	}
}

func (s *Server) redeem(w http.ResponseWriter, r *http.Request) {
	var in lists.RedeemInput
	box, ok := pathID(w, r, "box")
	if !ok || !decode(w, r, &in) {
		return
	}
	v, err := s.ls.Redeem(r.Context(), actor(r), box, in)
	status := http.StatusCreated
	if v.Replayed {
		status = http.StatusOK
	}
	s.answer(w, r, status, v, err)
}

func (s *Server) cancelRedemption(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Reason string `json:"reason"`
	}
	id, ok := uintPath(w, r, "rid", "redemption id")
	if !ok || !decode(w, r, &in) {
		return
	}
	v, err := s.ls.CancelRedemption(r.Context(), actor(r), id, in.Reason)
	s.answer(w, r, http.StatusOK, v, err)
}

func (s *Server) account(w http.ResponseWriter, r *http.Request) {
	if box, ok := pathID(w, r, "box"); ok {
		v, err := s.ls.Account(r.Context(), box, r.PathValue("hid"))
		s.answer(w, r, http.StatusOK, v, err)
	}
}

func (s *Server) statement(w http.ResponseWriter, r *http.Request) {
	if box, ok := pathID(w, r, "box"); ok {
		month := r.URL.Query().Get("month")
		if month == "" {
			month = s.now().Format("2006-01")
		}
		v, err := s.ls.Statement(r.Context(), box, r.PathValue("hid"), month)
		s.answer(w, r, http.StatusOK, v, err)
	}
}

func (s *Server) listLinks(w http.ResponseWriter, r *http.Request) {
	if box, ok := pathID(w, r, "box"); ok {
		v, err := s.ls.Links(r.Context(), box, r.PathValue("hid"))
		s.answer(w, r, http.StatusOK, v, err)
	}
}

func (s *Server) issueLink(w http.ResponseWriter, r *http.Request) {
	var in struct{}
	box, ok := pathID(w, r, "box")
	if !ok || !decodeOptional(w, r, &in) {
		return
	}
	v, err := s.ls.IssueLink(r.Context(), actor(r), box, r.PathValue("hid"))
	s.answer(w, r, http.StatusCreated, v, err)
}

func (s *Server) revokeLinks(w http.ResponseWriter, r *http.Request) {
	if box, ok := pathID(w, r, "box"); ok {
		n, err := s.ls.RevokeLinks(r.Context(), actor(r), box, r.PathValue("hid"))
		s.answer(w, r, http.StatusOK, map[string]int{"revoked": n}, err)
	}
}

func (s *Server) exportHousehold(w http.ResponseWriter, r *http.Request) {
	if box, ok := pathID(w, r, "box"); ok {
		v, err := s.ls.Export(r.Context(), actor(r), box, r.PathValue("hid"))
		if err == nil {
			w.Header().Set("Content-Disposition", `attachment; filename="household-`+box+`-`+v.Household.ID+`.json"`)
		}
		s.answer(w, r, http.StatusOK, v, err)
	}
}

type chatsJSON struct {
	Chats []lists.ChatView `json:"chats"`
}

func (s *Server) getChats(w http.ResponseWriter, r *http.Request) {
	if box, ok := pathID(w, r, "box"); ok {
		v, err := s.ls.Chats(r.Context(), box)
		s.answer(w, r, http.StatusOK, chatsJSON{v}, err)
	}
}

func (s *Server) putChats(w http.ResponseWriter, r *http.Request) {
	var in chatsJSON
	box, ok := pathID(w, r, "box")
	if !ok || !decode(w, r, &in) {
		return
	}
	v, err := s.ls.PutChats(r.Context(), actor(r), box, in.Chats)
	s.answer(w, r, http.StatusOK, chatsJSON{v}, err)
}

func (s *Server) deliveries(w http.ResponseWriter, r *http.Request) {
	limit, err := uintParam(r.URL.Query().Get("limit"), DefaultLimit)
	if err != nil || limit == 0 || limit > MaxLimit {
		refuse(w, CodeBadRequest, errors.New("limit: a whole number from 1 to 1000"))
		return
	}
	if box, ok := pathID(w, r, "box"); ok {
		v, err := s.ls.Deliveries(r.Context(), box, int(limit))
		s.answer(w, r, http.StatusOK, v, err)
	}
}

func (s *Server) posterPNG(w http.ResponseWriter, r *http.Request) {
	box, ok := pathID(w, r, "box")
	if !ok {
		return
	}
	size := r.URL.Query().Get("size")
	if size == "" {
		size = poster.SizeA4
	}
	b, err := s.ls.PosterPNG(r.Context(), box, r.PathValue("period"), size)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b) // the client may have gone; nothing to do
}

// postedImage serves a picture posted to a group chat, for the platforms
// that fetch it by its link; the link's 128 random bits are its only key.
func (s *Server) postedImage(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("img"), ".png")
	if !ok || len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		writeError(w, CodeNotFound, "no such picture")
		return
	}
	b, err := s.ls.Image(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Header().Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(b) // the client may have gone; nothing to do
}
