package console

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/auth/forwarded"
	"github.com/dalaba/dalaba/cloud/board"
	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/store"
)

// assets are the templates and static files, built into the binary so the
// service stays one file to copy.
//
//go:embed templates/*.html templates/parts/*.html static/*
var assets embed.FS

// Auth signs officials in and out; *auth.Auth is the one implementation.
type Auth interface {
	Login(ctx context.Context, name, password, remoteAddr string) (string, time.Time, error)
	Verify(ctx context.Context, token string) (store.User, error)
	Logout(ctx context.Context, token string) error
}

// Store is what the console reads.
type Store interface {
	ListBoxes(ctx context.Context) ([]store.Box, error)
	// ListEvents finds each box's last health report (clock trust).
	ListEvents(ctx context.Context, boxID string, after uint64, limit int) ([]store.Event, error)
	// GetPlan lists each box's speakers and cameras for their health.
	GetPlan(ctx context.Context, boxID string) (store.Plan, error)
	// SearchEvents pages the event log (/events).
	SearchEvents(ctx context.Context, f store.EventFilter) ([]store.Event, string, error)
	// The alerting, for the alerts page and the event log.
	GetAlertSettings(ctx context.Context) (store.AlertSettings, error)
	ListIncidents(ctx context.Context) ([]store.Incident, error)
	ListAlerts(ctx context.Context, f store.AlertFilter) ([]store.Alert, error)
	// Software updates, for the updates page.
	ListReleases(ctx context.Context) ([]store.Release, error)
	ListRollouts(ctx context.Context) ([]store.Rollout, error)
	// ListOverviews reads the whole fleet for the dashboard (cloud/board).
	ListOverviews(ctx context.Context, window int, types []string) ([]store.Overview, error)
	ListTownships(ctx context.Context) ([]store.Township, error)
}

// Config tunes the console; the zero value is ready to use.
type Config struct {
	// Interval is how often the box stream looks for changes; 0 = 3s.
	Interval time.Duration
	// CSRFKey derives CSRF tokens from sessions; nil = 32 random bytes per
	// process, so pages open across a restart must be reloaded before a
	// form is sent (sessions themselves survive).
	CSRFKey []byte
	// Location shows times; nil = time.Local.
	Location *time.Location
}

// Deps are what the console uses.
type Deps struct {
	Logger *slog.Logger
	Store  Store
	Auth   Auth
	// Next serves every request the console has no route for (the API);
	// nil answers those with the console's 404 page.
	Next http.Handler
	Now  func() time.Time // nil = time.Now
	// Lists runs the red/black lists (红黑榜); nil leaves their pages out.
	Lists *lists.Service
	// Proxies are the trusted reverse proxies, whose X-Forwarded-For
	// names a sign-in's address; the zero value trusts none.
	Proxies forwarded.Proxies
}

// Defaults.
const (
	DefaultInterval = 3 * time.Second
	// keepalive bounds the silence on an unchanged box stream, so proxies
	// and phones on flaky links do not drop it as idle.
	keepalive = 30 * time.Second
	// maxForm bounds a form body: the console's forms are a few fields.
	maxForm = 16 << 10
)

// Console serves the pages.
type Console struct {
	cfg   Config
	log   *slog.Logger
	st    Store
	auth  Auth
	ls    *lists.Service
	next  http.Handler
	now   func() time.Time
	csrf  csrf
	msgs  catalog
	pages map[string]*template.Template
	mux   *http.ServeMux
	board *board.Board // the fleet, read once per Interval for every dashboard
	// registered are the routes with their actions, in order.
	registered []Route
	// proxies find a sign-in's client address behind trusted proxies.
	proxies forwarded.Proxies

	// quit ends the box streams at shutdown, which would otherwise hold
	// http.Server.Shutdown for its whole drain timeout.
	quit     chan struct{}
	quitOnce sync.Once
}

// New validates deps, parses the templates and builds the routes.
func New(cfg Config, deps Deps) (*Console, error) {
	var errs []error
	if deps.Logger == nil {
		errs = append(errs, errors.New("no Deps.Logger"))
	}
	if deps.Store == nil || deps.Auth == nil {
		errs = append(errs, errors.New("Deps.Store and Deps.Auth are required"))
	}
	if cfg.Interval < 0 {
		errs = append(errs, fmt.Errorf("negative Interval %s", cfg.Interval))
	}
	if cfg.CSRFKey != nil && len(cfg.CSRFKey) < 32 {
		errs = append(errs, errors.New("CSRFKey must have at least 32 bytes"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("console: new: %w", err)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.CSRFKey == nil {
		cfg.CSRFKey = make([]byte, 32)
		_, _ = rand.Read(cfg.CSRFKey) // crypto/rand.Read never fails on Linux
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	all, err := mergeMessages(messages(), broadcastMessages(), pagingMessages(), camerasMessages(), eventsMessages(), usersMessages(), codeMessages(),
		communityMessages(), villagesMessages(), rosterMessages(), alertsMessages(), diagMessages(), updatesMessages(), dashboardMessages(), jobsMessages())
	if err != nil {
		return nil, err
	}
	msgs, err := newCatalog(all)
	if err != nil {
		return nil, err
	}
	pages, err := parsePages(assets)
	if err != nil {
		return nil, err
	}
	c := &Console{
		cfg: cfg, log: deps.Logger.With("component", "console"), st: scoped{deps.Store}, auth: deps.Auth, ls: deps.Lists,
		next: deps.Next, now: deps.Now, csrf: csrf{key: cfg.CSRFKey}, msgs: msgs, pages: pages,
		mux: http.NewServeMux(), quit: make(chan struct{}), proxies: deps.Proxies,
	}
	if c.board, err = board.New(board.Deps{Source: deps.Store, MaxAge: cfg.Interval, Now: deps.Now, Logger: c.log}); err != nil {
		return nil, fmt.Errorf("console: new: %w", err)
	}
	if err := c.routes(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Console) routes() error {
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return fmt.Errorf("console: static assets: %w", err)
	}
	c.open("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	c.open("GET /login", http.HandlerFunc(c.loginPage))
	c.open("POST /login", http.HandlerFunc(c.login))
	c.handle("POST /logout", auth.ActionSignedIn, c.logout)
	c.handle("GET /{$}", auth.ActionViewBoxes, c.dashboard)
	c.handle("GET /events/boxes", auth.ActionViewBoxes, c.boxEvents)
	if c.ls != nil {
		c.listsRoutes()
	}
	c.bridgeRoutes()
	c.villageRoutes()
	if c.ls != nil {
		c.rosterRoutes()
	}
	c.broadcastRoutes()
	c.pagingRoutes()
	c.cameraRoutes()
	c.eventRoutes()
	c.userRoutes()
	c.alertRoutes()
	c.diagRoutes()
	c.updateRoutes()
	c.jobRoutes()
	c.mux.HandleFunc("/", c.rest)
	return nil
}

// Route is a console route and the action its visitor's role must be
// allowed (auth's table).
type Route struct {
	Pattern string      // as registered: "GET /lists"
	Action  auth.Action // 0 when Open
	Open    bool        // served without a session: sign-in and static files
}

// Routes are every route the console registered, in order. What it passes
// on (Deps.Next) is the API's, with the API's own routes and actions.
func (c *Console) Routes() []Route { return slices.Clone(c.registered) }

// handle registers pattern for signed-in visitors whose role may do
// action. Every page and form of the console is registered here, once.
func (c *Console) handle(pattern string, action auth.Action, h func(http.ResponseWriter, *http.Request, *visit)) {
	c.register(Route{Pattern: pattern, Action: action}, c.signedIn(action, h))
}

// open registers pattern for anyone.
func (c *Console) open(pattern string, h http.Handler) {
	c.register(Route{Pattern: pattern, Open: true}, h)
}

func (c *Console) register(r Route, h http.Handler) {
	c.registered = append(c.registered, r)
	c.mux.Handle(r.Pattern, h)
}

// Handler returns the console's handler, which passes what it does not
// serve to Deps.Next.
func (c *Console) Handler() http.Handler { return c.mux }

// Shutdown ends the open box streams; give it to
// http.Server.RegisterOnShutdown. Safe to call more than once.
func (c *Console) Shutdown() { c.quitOnce.Do(func() { close(c.quit) }) }

func (c *Console) rest(w http.ResponseWriter, r *http.Request) {
	if c.next != nil {
		c.next.ServeHTTP(w, r)
		return
	}
	c.errorPage(w, r, http.StatusNotFound, "NotFound")
}
