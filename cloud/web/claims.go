package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/enroll"
	"github.com/dalaba/dalaba/protocol/claim"
)

// Enroller runs claim codes and enrollment (*enroll.Service).
type Enroller interface {
	Create(ctx context.Context, by string, vs []enroll.Village, ttl time.Duration) ([]enroll.Issued, error)
	List(ctx context.Context) ([]enroll.View, error)
	Revoke(ctx context.Context, by string, id uint64) (enroll.View, error)
	Enroll(ctx context.Context, addr string, body []byte) ([]byte, error)
	TownshipURL() string
}

// Claim codes: made, listed and revoked by those who register boxes (a
// code mints a box's credentials), and used by a new box, without a token,
// at POST /api/v1/enroll. cloud/enroll records every change in the audit
// trail itself (auditedElsewhere), so that no code is ever in it.
func (s *Server) claimRoutes() {
	if s.en == nil {
		return
	}
	s.route("GET /api/v1/claims", auth.ActionManageBoxes, TargetList, s.listClaims)
	s.route("POST /api/v1/claims", auth.ActionManageBoxes, TargetBody, s.createClaims)
	s.route("POST /api/v1/claims/sheet", auth.ActionManageBoxes, TargetBody, s.createClaimsFromSheet)
	s.route("POST /api/v1/claims/{cid}/revoke", auth.ActionManageBoxes, TargetClaim, s.revokeClaim)
	s.open("POST /api/v1/enroll", s.enroll)
}

// issuedJSON answers a creation: the codes, shown this once, and where
// boxes enroll.
func (s *Server) issuedJSON(is []enroll.Issued) map[string]any {
	return map[string]any{"claims": is, "township_url": s.en.TownshipURL()}
}

func (s *Server) listClaims(w http.ResponseWriter, r *http.Request) {
	vs, err := s.en.List(r.Context())
	sc := scopeOf(r)
	out := make([]enroll.View, 0, len(vs))
	for _, v := range vs {
		if sc.Covers(v.Township) {
			out = append(out, v)
		}
	}
	s.answer(w, r, http.StatusOK, map[string]any{"claims": out}, err)
}

// claimUnits gives each village the township its box will belong to (the
// one asked for, or the caller's own), and refuses the whole when a
// village's registered box lies outside the caller's scope.
func (s *Server) claimUnits(w http.ResponseWriter, r *http.Request, asked *string, vs []enroll.Village) bool {
	unit, err := s.unitFor(r, asked, auth.ActionManageBoxes)
	if err != nil {
		s.fail(w, r, err)
		return false
	}
	visible, err := s.visibleBoxes(r)
	if err != nil {
		s.fail(w, r, err)
		return false
	}
	if visible != nil {
		of, err := s.townshipsOfBoxes(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return false
		}
		var outside []string
		for _, v := range vs {
			if _, registered := of[strings.TrimSpace(v.ID)]; registered && !visible[strings.TrimSpace(v.ID)] {
				outside = append(outside, v.ID)
			}
		}
		if len(outside) > 0 {
			outOfScope(w, outside)
			return false
		}
	}
	for i := range vs {
		vs[i].Township = unit
	}
	return true
}

// ttlParam reads a lifetime in hours ("" or 0: the default).
func ttlParam(hours int) time.Duration { return time.Duration(hours) * time.Hour }

func (s *Server) createClaims(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Villages []enroll.Village `json:"villages"`
		TTLHours int              `json:"ttl_hours"`
		// Township is the unit the villages' new boxes go to; the
		// caller's own when left out.
		Township *string `json:"township"`
	}
	if !decode(w, r, &in) || !s.claimUnits(w, r, in.Township, in.Villages) {
		return
	}
	is, err := s.en.Create(r.Context(), userOf(r), in.Villages, ttlParam(in.TTLHours))
	s.answer(w, r, http.StatusCreated, s.issuedJSON(is), err)
}

// createClaimsFromSheet takes a CSV file or an .xlsx workbook of villages
// (id,name[,place]) as the raw body or the multipart field "file", and
// ?ttl_hours= and ?township=.
func (s *Server) createClaimsFromSheet(w http.ResponseWriter, r *http.Request) {
	hours := 0
	if v := r.URL.Query().Get("ttl_hours"); v != "" {
		var err error
		if hours, err = strconv.Atoi(v); err != nil {
			refuse(w, CodeBadRequest, errors.New("ttl_hours: a whole number of hours"))
			return
		}
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, enroll.MaxSheet+multipartSlack)
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		r.Body = body.(io.ReadCloser)
		mr, err := r.MultipartReader()
		if err != nil {
			refuse(w, CodeBadRequest, fmt.Errorf("multipart body: %w", err))
			return
		}
		for body = nil; body == nil; {
			part, err := mr.NextPart()
			if err != nil {
				refuse(w, CodeBadRequest, errors.New(`no multipart field "file"`))
				return
			}
			if part.FormName() == "file" {
				body = part
			}
		}
	}
	b, err := io.ReadAll(io.LimitReader(body, enroll.MaxSheet+1))
	if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge || len(b) > enroll.MaxSheet {
		writeError(w, CodeTooLarge, fmt.Sprintf("a sheet may be at most %d bytes", enroll.MaxSheet))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	vs, err := enroll.ParseSheet(bytes.NewReader(b))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var township *string
	if q := r.URL.Query(); q.Has("township") {
		t := q.Get("township")
		township = &t
	}
	if !s.claimUnits(w, r, township, vs) {
		return
	}
	is, err := s.en.Create(r.Context(), userOf(r), vs, ttlParam(hours))
	s.answer(w, r, http.StatusCreated, s.issuedJSON(is), err)
}

func (s *Server) revokeClaim(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("cid"), 10, 64)
	if err != nil || id == 0 {
		refuse(w, CodeBadRequest, errors.New("claim id: a positive whole number"))
		return
	}
	var in struct{}
	if !decodeOptional(w, r, &in) {
		return
	}
	v, err := s.en.Revoke(r.Context(), userOf(r), id)
	s.answer(w, r, http.StatusOK, v, err)
}

// enroll answers a box's claim: the sealed answer as protocol/claim
// writes it, or a refusal by its code (claim.*), with Retry-After when the
// address must wait.
func (s *Server) enroll(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, claim.MaxRequest))
	if err != nil {
		writeError(w, CodeTooLarge, fmt.Sprintf("an enrollment request is at most %d bytes", claim.MaxRequest))
		return
	}
	out, err := s.en.Enroll(r.Context(), s.proxies.Client(r), body)
	if se, ok := errors.AsType[*enroll.SlowDownError](err); ok {
		w.Header().Set("Retry-After", strconv.Itoa(int((se.RetryAfter+time.Second-1)/time.Second)))
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(out) // the box may have gone; it enrolls again with a new code
}
