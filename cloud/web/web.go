package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/auth/forwarded"
	"github.com/dalaba/dalaba/cloud/board"
	"github.com/dalaba/dalaba/cloud/downlink"
	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Store is what the API reads.
type Store interface {
	store.Boxes
	store.Overviews // the paged box list
	store.Events
	store.EventSearch // for the reports
	store.AuditTrail
	store.Alerts
	store.Townships
	// What the targets of routes are found by (scope.go).
	GetEntry(ctx context.Context, id uint64) (store.Entry, error)
	GetHold(ctx context.Context, id uint64) (store.Hold, error)
	GetRedemption(ctx context.Context, id uint64) (store.Redemption, error)
	GetClaim(ctx context.Context, id uint64) (store.Claim, error)
	GetMedia(ctx context.Context, sha string) (store.MediaInfo, error)
	ListMedia(ctx context.Context) ([]store.MediaInfo, error)
	// Ping checks the store can take a write (/healthz).
	Ping(ctx context.Context) error
}

// Planner reads and edits boxes' broadcast plans; every edit is compiled
// into the box's desired state.
type Planner interface {
	Get(ctx context.Context, box string) (store.Plan, error)
	Update(ctx context.Context, box, by string, fn func(*protocol.Broadcast) error) (store.Plan, uint64, error)
	UpdateCameras(ctx context.Context, box, by string, fn func(*protocol.Cameras) error) (store.Plan, uint64, error)
	// AllowsLocalCameraTargets is the township's setting that lets a
	// camera URL name the box itself (cameras.allow_local_targets).
	AllowsLocalCameraTargets() bool
}

// Media stores uploaded clips and lets boxes fetch them.
type Media interface {
	Put(ctx context.Context, name string, r io.Reader, by string) (store.MediaInfo, error)
	Open(ctx context.Context, sha string) (*os.File, store.MediaInfo, error)
	// Grant lets box download shas outside its plan for a while.
	Grant(box string, shas []string)
	MaxBytes() int64
}

// Fleet registers boxes and changes their standing.
type Fleet interface {
	// Register registers a box and returns it with its MQTT secret.
	Register(ctx context.Context, nb fleet.NewBox) (store.Box, string, error)
	// EditBox changes a box's name and place (nil: kept).
	EditBox(ctx context.Context, id string, name, place *string) (store.Box, error)
	// RotateBox gives a box a new MQTT secret and returns it.
	RotateBox(ctx context.Context, id string) (store.Box, string, error)
	// RetireBox takes a box out of service, its history kept.
	RetireBox(ctx context.Context, id string) (store.Box, error)
	// EdgeConfig renders the box's ready edge config.
	EdgeConfig(b store.Box, secret string) (string, error)
	// Link is the box's connection as the township sees it now.
	Link(b store.Box) fleet.Link
}

// Downlink reaches the boxes.
type Downlink interface {
	// SendCommand signs and sends a command and waits for its result.
	SendCommand(ctx context.Context, box, typ string, args any, ttl time.Duration) (protocol.CommandResult, error)
	// Rejected counts the malformed messages received from a box.
	Rejected(box string) uint64
	// Connected reports whether the MQTT connection is up (/healthz).
	Connected() bool
}

// Deps are what the server uses.
type Deps struct {
	Logger   *slog.Logger
	Store    Store
	Auth     *auth.Auth
	Fleet    Fleet
	Downlink Downlink
	Planner  Planner
	Media    Media
	// Lists runs the red/black lists; nil leaves their routes out.
	Lists *lists.Service
	// Speech reads typed announcements aloud; nil leaves the route out.
	Speech Speech
	Now    func() time.Time // nil = time.Now
	// Proxies are the trusted reverse proxies, whose X-Forwarded-For
	// names a sign-in's address; the zero value trusts none.
	Proxies forwarded.Proxies
	// Alerts sends test messages; nil: the alert settings can be kept but
	// not tried.
	Alerts Alerter
	// Enroll runs claim codes and enrollment; nil leaves their routes out.
	Enroll Enroller
	// Releases and Rollouts run software updates; nil leaves their
	// routes out.
	Releases Releases
	Rollouts Rollouts
	// Jobs pushes plan changes to many boxes; nil leaves their routes out.
	Jobs Jobs
}

// Limits of the API.
const (
	MaxBody      = 64 << 10 // bytes of a request body
	DefaultLimit = 100      // events per page
	MaxLimit     = 1000
	// CommandLifetime is the lifetime (expires_at) of the commands the API
	// sends: the box never starts or carries out one later, however late
	// it arrives, and answers it "expired" instead.
	CommandLifetime = 15 * time.Second
	// CommandWait is how long the API waits for the box's result: the
	// lifetime and the result's transit (downlink.ResultGrace), so that a
	// command the box carried out at the last moment is answered as done,
	// not 504, and an official never sends again what already played.
	CommandWait = CommandLifetime + downlink.ResultGrace
)

// Server serves the API.
type Server struct {
	log  *slog.Logger
	st   Store
	auth *auth.Auth
	fl   Fleet
	dl   Downlink
	pl   Planner
	md   Media
	ls   *lists.Service
	sp   Speech
	al   Alerter
	now  func() time.Time
	mux  *http.ServeMux
	hl   healthLog
	// routes are the registered routes with their actions, in order.
	routes []Route
	// proxies find a sign-in's client address behind trusted proxies.
	proxies forwarded.Proxies
	en      Enroller
	rel     Releases
	ro      Rollouts
	// board is the fleet at a glance, for the paged box list.
	board *board.Board
	jobs  Jobs
}

// Route is an API route, the action its caller's role must be allowed
// (auth's table) and how its target is scoped to townships (scope.go).
type Route struct {
	Pattern string      // as registered: "GET /api/v1/audit"
	Action  auth.Action // 0 when Open
	Target  Target      // 0 when Open
	Open    bool        // served without a token (sign-in, health)
}

// Routes are every route the server registered, in order: the one list
// of what the API serves and who may call it.
func (s *Server) Routes() []Route { return slices.Clone(s.routes) }

// route registers pattern behind a bearer token whose role may do action
// to target, resolved in the caller's unit. Every route but the open ones
// is registered here, with its action and target, once.
func (s *Server) route(pattern string, action auth.Action, target Target, h http.HandlerFunc) {
	s.routes = append(s.routes, Route{Pattern: pattern, Action: action, Target: target})
	if changesBoxes(pattern) {
		next := h
		h = func(w http.ResponseWriter, r *http.Request) {
			next(w, r)
			s.board.Invalidate()
		}
	}
	s.mux.HandleFunc(pattern, s.authed(action, target, h))
}

// open registers pattern for anyone, without a token.
func (s *Server) open(pattern string, h http.HandlerFunc) {
	s.routes = append(s.routes, Route{Pattern: pattern, Open: true})
	s.mux.HandleFunc(pattern, h)
}

// New validates deps and builds the routes.
func New(deps Deps) (*Server, error) {
	var errs []error
	if deps.Logger == nil {
		errs = append(errs, errors.New("no Deps.Logger"))
	}
	if deps.Store == nil || deps.Auth == nil || deps.Fleet == nil || deps.Downlink == nil || deps.Planner == nil || deps.Media == nil {
		errs = append(errs, errors.New("Deps.Store, Auth, Fleet, Downlink, Planner and Media are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("web: new: %w", err)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s := &Server{
		log: deps.Logger.With("component", "web"), st: deps.Store, auth: deps.Auth, fl: deps.Fleet, dl: deps.Downlink,
		pl: deps.Planner, md: deps.Media, ls: deps.Lists, sp: deps.Speech, al: deps.Alerts, now: deps.Now, mux: http.NewServeMux(),
		proxies: deps.Proxies, en: deps.Enroll, rel: deps.Releases, ro: deps.Rollouts,
	}
	b, err := s.newBoard()
	if err != nil {
		return nil, fmt.Errorf("web: new: %w", err)
	}
	s.board, s.jobs = b, deps.Jobs
	s.open("GET /healthz", s.healthz)
	s.open("POST /api/v1/login", s.login)
	s.route("POST /api/v1/logout", auth.ActionSignedIn, TargetShared, s.logout)
	s.route("GET /api/v1/boxes", auth.ActionViewBoxes, TargetList, s.listBoxes)
	s.route("POST /api/v1/boxes", auth.ActionManageBoxes, TargetBody, s.addBox)
	s.route("GET /api/v1/boxes/{id}", auth.ActionViewBoxes, TargetBox, s.getBox)
	s.villageRoutes()
	s.route("GET /api/v1/boxes/{id}/events", auth.ActionViewBoxes, TargetBox, s.listEvents)
	s.route("POST /api/v1/boxes/{id}/commands", auth.ActionSendCommands, TargetBox, s.sendCommand)
	s.broadcastRoutes()
	s.mediaRoutes()
	s.playbackRoutes()
	s.cameraRoutes()
	s.deviceRoutes()
	s.pagingRoutes()
	if s.sp != nil {
		s.route("POST /api/v1/media/speech", auth.ActionManageBroadcast, TargetShared, s.speak)
	}
	if s.ls != nil {
		s.route("GET /api/v1/villages/{box}/lists/{period}/poster", auth.ActionViewLists, TargetVillage, s.poster)
		s.listsRoutes()
	}
	s.exportRoutes()
	s.userRoutes()
	s.townshipRoutes()
	s.auditRoutes()
	s.alertRoutes()
	s.diagRoutes()
	s.claimRoutes()
	if s.rel != nil && s.ro != nil {
		s.updateRoutes()
	}
	if s.jobs != nil {
		s.jobRoutes()
	}
	s.mux.HandleFunc("/", s.notFound)
	return s, nil
}

// Handler returns the HTTP handler. Every answer says nosniff: a browser
// must never read a JSON error, an SDP answer or a clip as HTML.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		s.mux.ServeHTTP(w, r)
	})
}

// notFound answers what no route matched: 405 with Allow when the path
// exists under other methods, else 404, both as JSON.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, CodeMethodNotAllowed, r.Method+" is not allowed here; use "+strings.Join(allow, " or "))
		return
	}
	writeError(w, CodeNoRoute, "no such route: "+r.Method+" "+r.URL.Path)
}

// authed wraps h with token authentication, the role check for action,
// the scope check of target (scope.go), and records a change h makes in
// the audit trail (audit.go).
func (s *Server) authed(action auth.Action, target Target, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dalaba"`)
			writeError(w, CodeNoToken, "missing bearer token (POST /api/v1/login first)")
			return
		}
		u, err := s.auth.Verify(r.Context(), tok)
		if errors.Is(err, auth.ErrBadCredentials) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dalaba", error="invalid_token"`)
			writeError(w, CodeBadToken, "invalid or expired token")
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !auth.Allowed(u.Role, action) {
			writeError(w, CodeForbidden, fmt.Sprintf("role %s may not do this", u.Role))
			return
		}
		if auth.CountyOnly(action) && !auth.ScopeOf(u).County() {
			writeError(w, CodeCountyOnly, "only a county user may do this; the user is of township "+u.Township)
			return
		}
		if !s.inScope(w, r, u, action, target) {
			return
		}
		ctx := context.WithValue(r.Context(), userKey{}, u.Name)
		ctx = context.WithValue(ctx, accountKey{}, u)
		s.audited(w, r.WithContext(context.WithValue(ctx, roleKey{}, u.Role)), h)
	}
}

// roleKey holds the authenticated user's role in a request's context,
// for handlers whose checks go beyond the route's action.
type roleKey struct{}

// userKey holds the authenticated user's name in a request's context.
type userKey struct{}

// userOf is the name of the user authed let through.
func userOf(r *http.Request) string {
	name, _ := r.Context().Value(userKey{}).(string) // set by authed on every route that asks
	return name
}

func bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return tok, true
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if !decode(w, r, &in) {
		return
	}
	tok, exp, err := s.auth.Login(r.Context(), in.Username, in.Password, s.proxies.Client(r))
	switch {
	case errors.Is(err, auth.ErrRateLimited):
		wait := retryAfter(err)
		w.Header().Set("Retry-After", wait)
		writeError(w, CodeRateLimited, "too many failed sign-ins; try again in "+wait+" s")
	case errors.Is(err, auth.ErrBadCredentials):
		writeError(w, CodeBadCredentials, "wrong user name or password")
	case err != nil:
		s.fail(w, r, err)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"token": tok, "expires_at": exp})
	}
}

// retryAfter is a refused sign-in's wait in whole seconds, rounded up.
func retryAfter(err error) string {
	d := time.Minute
	if le, ok := errors.AsType[*auth.LimitedError](err); ok {
		d = le.RetryAfter
	}
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
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
	Place            string    `json:"place,omitempty"`
	Township         string    `json:"township,omitempty"`
	Retired          bool      `json:"retired,omitempty"`
	RetiredAt        time.Time `json:"retired_at,omitzero"`
	Online           bool      `json:"online"`
	ConnectedSince   time.Time `json:"connected_since,omitzero"`
	LastSeen         time.Time `json:"last_seen,omitzero"`
	AppliedRev       uint64    `json:"applied_rev"`
	DesiredRev       uint64    `json:"desired_rev"`
	OutboxBacklog    uint64    `json:"outbox_backlog"`
	ReportedAt       time.Time `json:"reported_at,omitzero"`
	Incarnation      uint32    `json:"incarnation"` // of the box's event log; Watermark is its
	Watermark        uint64    `json:"watermark"`
	RejectedMessages uint64    `json:"rejected_messages"`
	RateLimited      uint64    `json:"rate_limited"`
	CreatedAt        time.Time `json:"created_at"`
}

func (s *Server) boxJSON(b store.Box) boxJSON {
	l := s.fl.Link(b)
	return boxJSON{
		ID: b.ID, Name: b.Name, Place: b.Place, Township: b.Township, Retired: b.Retired(), RetiredAt: b.RetiredAt, Online: l.Online, ConnectedSince: l.Since, LastSeen: l.LastSeen, AppliedRev: b.AppliedRev,
		DesiredRev: b.DesiredRev, OutboxBacklog: b.OutboxBacklog, ReportedAt: b.ReportedAt,
		Incarnation: b.Incarnation, Watermark: b.Watermark, RejectedMessages: s.dl.Rejected(b.ID), RateLimited: l.RateLimited, CreatedAt: b.CreatedAt,
	}
}

// listBoxes lists the boxes in service; ?all=true adds the retired. Any
// of the paging, filtering or sorting parameters asks for a page
// (pageBoxes) instead of the whole list, which stays for the callers
// written before pages.
func (s *Server) listBoxes(w http.ResponseWriter, r *http.Request) {
	if paged(r) {
		s.pageBoxes(w, r)
		return
	}
	all, err := boolParam(r.URL.Query().Get("all"))
	if err != nil {
		refuse(w, CodeBadRequest, fmt.Errorf("all: %w", err))
		return
	}
	boxes, err := s.st.ListBoxes(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sc := scopeOf(r)
	out := make([]boxJSON, 0, len(boxes))
	for _, b := range boxes {
		if (all || !b.Retired()) && sc.Covers(b.Township) {
			out = append(out, s.boxJSON(b))
		}
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
		ID    string `json:"id"`
		Name  string `json:"name"`
		Place string `json:"place"`
		// Township is the unit of the new box: a county admin's choice
		// ("" = the county's own); a township admin's own when left out.
		Township *string `json:"township"`
	}
	if !decode(w, r, &in) {
		return
	}
	township, err := s.unitFor(r, in.Township, auth.ActionManageBoxes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, secret, err := s.fl.Register(r.Context(), fleet.NewBox{ID: in.ID, Name: in.Name, Place: in.Place, Township: township})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/boxes/"+b.ID)
	s.answerWithConfig(w, r, http.StatusCreated, b, secret)
}

type eventJSON struct {
	Incarnation uint32          `json:"incarnation"`
	Seq         uint64          `json:"seq"`
	Time        time.Time       `json:"time"`
	Type        string          `json:"type"`
	Prio        int             `json:"prio"`
	Data        json.RawMessage `json:"data,omitempty"`
	ReceivedAt  time.Time       `json:"received_at"`
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, err := uintParam(q.Get("after"), 0)
	if err != nil {
		refuse(w, CodeBadRequest, fmt.Errorf("after: %w", err))
		return
	}
	limit, err := uintParam(q.Get("limit"), DefaultLimit)
	if err != nil || limit == 0 || limit > MaxLimit {
		refuse(w, CodeBadRequest, fmt.Errorf("limit: a whole number from 1 to %d", MaxLimit))
		return
	}
	id := r.PathValue("id")
	if _, err := s.st.GetBox(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	evs, err := s.st.ListEvents(r.Context(), id, after, int(limit))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]eventJSON, 0, len(evs))
	next := after
	for _, e := range evs {
		out = append(out, eventJSON{Incarnation: e.Incarnation, Seq: e.Seq, Time: e.Time, Type: e.Type, Prio: e.Priority, Data: e.Data, ReceivedAt: e.ReceivedAt})
		next = e.Position() // a box's first incarnation's positions are its seqs
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
	var args any
	if len(in.Args) > 0 {
		args = in.Args
	}
	res, err := s.sendToBox(r.Context(), id, in.Type, args)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// sendToBox sends a command living CommandLifetime and waits CommandWait
// for its result; a box's "expired" comes as an error wrapping
// downlink.ErrExpired.
// A retired box is refused (fleet.ErrRetired): it can no longer connect.
func (s *Server) sendToBox(ctx context.Context, box, typ string, args any) (protocol.CommandResult, error) {
	b, err := s.st.GetBox(ctx, box)
	if err != nil {
		return protocol.CommandResult{}, err
	}
	if b.Retired() {
		return protocol.CommandResult{}, fmt.Errorf("box %s: %w", box, fleet.ErrRetired)
	}
	ctx, cancel := context.WithTimeout(ctx, CommandWait)
	defer cancel()
	return s.dl.SendCommand(ctx, box, typ, args, CommandLifetime)
}

// errBadRequest marks a request the handler itself refused.
var errBadRequest = errors.New("web: bad request")

// decode reads one JSON object strictly: unknown fields, trailing data and
// bodies over MaxBody are refused.
func decode(w http.ResponseWriter, r *http.Request, dst any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = errors.New("trailing data after the JSON object")
		}
	}
	if err == nil {
		return true
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		writeError(w, CodeTooLarge, fmt.Sprintf("body over %d bytes", MaxBody))
		return false
	}
	writeError(w, CodeBadJSON, "bad JSON: "+err.Error())
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may have gone; nothing to do
}
