// Package web is the township service's HTTP face: the JSON API under
// /api/v1 (and, later, the console). It authenticates with bearer tokens,
// checks roles, decodes strictly and answers errors as {"error": "..."}.
// It knows the store and the fleet only through interfaces; nothing here
// speaks MQTT.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Fleet is what the API asks of the box fleet.
type Fleet interface {
	// AddBox registers a box and returns its ready edge config.
	AddBox(ctx context.Context, id, name string) (store.Box, string, error)
	// Rejected counts the malformed messages received from a box.
	Rejected(boxID string) uint64
	// SendCommand signs and sends a command and waits for its result.
	SendCommand(ctx context.Context, box, typ string, args json.RawMessage) (protocol.CommandResult, error)
}

// Deps are what the server uses.
type Deps struct {
	Logger *slog.Logger
	Store  store.Store
	Auth   *auth.Auth
	Fleet  Fleet
}

// Limits of the API.
const (
	maxBody        = 64 << 10
	defaultLimit   = 100
	maxLimit       = 1000
	commandTimeout = 15 * time.Second
)

// Server serves the API.
type Server struct {
	log   *slog.Logger
	st    store.Store
	auth  *auth.Auth
	fleet Fleet
	mux   *http.ServeMux
}

// New validates deps and builds the routes.
func New(deps Deps) (*Server, error) {
	if deps.Store == nil || deps.Auth == nil || deps.Fleet == nil {
		return nil, errors.New("web: store, auth and fleet are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{log: deps.Logger.With("component", "web"), st: deps.Store, auth: deps.Auth, fleet: deps.Fleet, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, map[string]bool{"ok": true}) })
	s.mux.HandleFunc("POST /api/v1/login", s.login)
	s.mux.HandleFunc("POST /api/v1/logout", s.authed(auth.ActionViewBoxes, s.logout))
	s.mux.HandleFunc("GET /api/v1/boxes", s.authed(auth.ActionViewBoxes, s.listBoxes))
	s.mux.HandleFunc("POST /api/v1/boxes", s.authed(auth.ActionManageBoxes, s.addBox))
	s.mux.HandleFunc("GET /api/v1/boxes/{id}", s.authed(auth.ActionViewBoxes, s.getBox))
	s.mux.HandleFunc("GET /api/v1/boxes/{id}/events", s.authed(auth.ActionViewBoxes, s.listEvents))
	s.mux.HandleFunc("POST /api/v1/boxes/{id}/commands", s.authed(auth.ActionSendCommands, s.sendCommand))
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API route: "+r.Method+" "+r.URL.Path)
	})
	return s, nil
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

type userKey struct{}

// authed wraps h with token authentication and the role check for action.
func (s *Server) authed(action auth.Action, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			writeError(w, http.StatusUnauthorized, "missing bearer token (POST /api/v1/login first)")
			return
		}
		u, err := s.auth.Verify(r.Context(), tok)
		if err != nil {
			if errors.Is(err, auth.ErrBadCredentials) {
				writeError(w, http.StatusUnauthorized, "invalid or expired token")
				return
			}
			s.fail(w, r, err)
			return
		}
		if !auth.Allowed(u.Role, action) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("role %s may not do this", u.Role))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
	}
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) <= len(p) || h[:len(p)] != p {
		return "", false
	}
	return h[len(p):], true
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if !decode(w, r, &in) {
		return
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	tok, exp, err := s.auth.Login(r.Context(), in.Username, in.Password, host)
	switch {
	case errors.Is(err, auth.ErrRateLimited):
		writeError(w, http.StatusTooManyRequests, "too many failed logins; try again in a minute")
	case errors.Is(err, auth.ErrBadCredentials):
		writeError(w, http.StatusUnauthorized, "wrong user name or password")
	case err != nil:
		s.fail(w, r, err)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"token": tok, "expires_at": exp})
	}
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	tok, _ := bearer(r)
	if err := s.auth.Logout(r.Context(), tok); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// boxJSON is a box as the API shows it.
type boxJSON struct {
	ID               string    `json:"id"`
	Name             string    `json:"name"`
	Online           bool      `json:"online"`
	LastSeen         time.Time `json:"last_seen,omitzero"`
	AppliedRev       uint64    `json:"applied_rev"`
	DesiredRev       uint64    `json:"desired_rev"`
	OutboxBacklog    uint64    `json:"outbox_backlog"`
	ReportedAt       time.Time `json:"reported_at,omitzero"`
	Watermark        uint64    `json:"watermark"`
	RejectedMessages uint64    `json:"rejected_messages"`
	CreatedAt        time.Time `json:"created_at"`
}

func (s *Server) boxJSON(b store.Box) boxJSON {
	return boxJSON{
		ID: b.ID, Name: b.Name, Online: b.Online, LastSeen: b.LastSeen, AppliedRev: b.AppliedRev,
		DesiredRev: b.DesiredRev, OutboxBacklog: b.OutboxBacklog, ReportedAt: b.ReportedAt,
		Watermark: b.Watermark, RejectedMessages: s.fleet.Rejected(b.ID), CreatedAt: b.CreatedAt,
	}
}

func (s *Server) listBoxes(w http.ResponseWriter, r *http.Request) {
	boxes, err := s.st.ListBoxes(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]boxJSON, 0, len(boxes))
	for _, b := range boxes {
		out = append(out, s.boxJSON(b))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getBox(w http.ResponseWriter, r *http.Request) {
	b, err := s.st.GetBox(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.boxJSON(b))
}

func (s *Server) addBox(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if !decode(w, r, &in) {
		return
	}
	b, cfg, err := s.fleet.AddBox(r.Context(), in.ID, in.Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"box": s.boxJSON(b), "edge_config": cfg})
}

type eventJSON struct {
	Seq        uint64          `json:"seq"`
	Time       time.Time       `json:"time"`
	Type       string          `json:"type"`
	Prio       int             `json:"prio"`
	Data       json.RawMessage `json:"data,omitempty"`
	ReceivedAt time.Time       `json:"received_at"`
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, err := uintParam(q.Get("after"), 0)
	if err != nil {
		writeError(w, http.StatusBadRequest, "after: "+err.Error())
		return
	}
	limit, err := uintParam(q.Get("limit"), defaultLimit)
	if err != nil || limit == 0 || limit > maxLimit {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: a number from 1 to %d", maxLimit))
		return
	}
	evs, err := s.st.ListEvents(r.Context(), r.PathValue("id"), after, int(limit))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]eventJSON, 0, len(evs))
	next := after
	for _, e := range evs {
		out = append(out, eventJSON{Seq: e.Seq, Time: e.Time, Type: e.Type, Prio: e.Priority, Data: e.Data, ReceivedAt: e.ReceivedAt})
		next = e.Seq
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out, "next_after": next})
}

func uintParam(s string, def uint64) (uint64, error) {
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errors.New("not a non-negative whole number")
	}
	return v, nil
}

func (s *Server) sendCommand(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Type string          `json:"type"`
		Args json.RawMessage `json:"args"`
	}
	if !decode(w, r, &in) {
		return
	}
	id := r.PathValue("id")
	if _, err := s.st.GetBox(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), commandTimeout)
	defer cancel()
	res, err := s.fleet.SendCommand(ctx, id, in.Type, in.Args)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// fail maps an error to its status; unexpected ones are logged and hidden.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not found")
	case errors.Is(err, store.ErrExists):
		writeError(w, http.StatusConflict, "already exists")
	case errors.Is(err, fleet.ErrInvalid), errors.Is(err, auth.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, "the box did not answer in time")
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

// decode reads one JSON object strictly: unknown fields, trailing data and
// bodies over maxBody are refused.
func decode(w http.ResponseWriter, r *http.Request, dst any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = errors.New("trailing data after the JSON object")
		}
	}
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", maxBody))
			return false
		}
		writeError(w, http.StatusBadRequest, "bad JSON: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may have gone; nothing to do
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
