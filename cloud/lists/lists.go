package lists

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"text/template"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
)

// Errors callers branch on (the API maps them to 400, 403, 409 and 502).
var (
	ErrInvalid   = errors.New("lists: invalid")
	ErrForbidden = errors.New("lists: forbidden")
	ErrConflict  = errors.New("lists: conflict")
	// ErrAnnounce wraps an Announcer failure after the change it followed
	// was saved: the change stands and the next publish, revoke or
	// announce retries.
	ErrAnnounce = errors.New("lists: announcement failed")
)

// DefaultApprovals is how many distinct reviewers approve an entry before
// it can be published: two, so no single person puts a name on the list.
const DefaultApprovals = 2

// MaxApprovals bounds Config.Approvals; a panel larger than this is not a
// township's.
const MaxApprovals = 9

// Announcer turns a village's current list text into its loudspeaker schedule.
type Announcer interface {
	// Announce makes text the village's list announcement for period (re-rendered after
	// every publish, revocation or expiry); empty text withdraws it.
	Announce(ctx context.Context, village, period, text string) error
}

// Store is what the lists keep and read.
type Store interface {
	GetBox(ctx context.Context, id string) (store.Box, error)
	store.Lists
}

// Config is the township's wording and review rule.
type Config struct {
	// Approvals needed from distinct reviewers; 0 = DefaultApprovals.
	Approvals int
	// Template is the announcement in text/template syntax over
	// Announcement; "" = DefaultTemplate.
	Template string
	// Location is the township's zone, where periods begin and end;
	// nil = China Standard Time (UTC+8, no daylight saving).
	Location *time.Location
}

// Deps are what the service uses.
type Deps struct {
	Logger *slog.Logger
	Store  Store
	// Announcer receives the list text; nil only logs it (for a service
	// whose schedule side is not wired).
	Announcer Announcer
	Now       func() time.Time // nil = time.Now
}

// Service runs the lists.
type Service struct {
	log       *slog.Logger
	st        Store
	ann       Announcer
	now       func() time.Time
	approvals int
	tmpl      *template.Template
	loc       *time.Location

	// announceMu serialises render-then-announce, so the last text
	// announced for a village is rendered from the latest state.
	announceMu sync.Mutex
}

// New validates cfg and deps; the template is parsed and run on sample
// data, so a bad wording fails at start, not at the first publication.
func New(cfg Config, deps Deps) (*Service, error) {
	var errs []error
	if deps.Logger == nil || deps.Store == nil {
		errs = append(errs, errors.New("Deps.Logger and Store are required"))
	}
	if cfg.Approvals == 0 {
		cfg.Approvals = DefaultApprovals
	}
	if cfg.Approvals < 1 || cfg.Approvals > MaxApprovals {
		errs = append(errs, fmt.Errorf("approvals %d: want 1 to %d", cfg.Approvals, MaxApprovals))
	}
	if cfg.Template == "" {
		cfg.Template = DefaultTemplate
	}
	tmpl, err := parseTemplate(cfg.Template)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("lists: new: %w", err)
	}
	if cfg.Location == nil {
		cfg.Location = time.FixedZone("CST", 8*60*60)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Service{
		log: deps.Logger.With("component", "lists"), st: deps.Store, ann: deps.Announcer, now: deps.Now,
		approvals: cfg.Approvals, tmpl: tmpl, loc: cfg.Location,
	}, nil
}

// Approvals is how many distinct reviewers an entry needs.
func (s *Service) Approvals() int { return s.approvals }

// Actor is the signed-in user doing something.
type Actor struct {
	Name string
	Role store.Role
}

// What a role may do with the lists. Operators (the township office)
// keep the registers, write entries and publish; reviewers (the panel and
// supervisors) approve, reject and revoke; admins may do both, though
// never approve what they wrote; viewers only read.
type permission int

const (
	permEdit   permission = iota // households, persons, categories, entries, publish
	permReview                   // approve, reject, revoke
)

// MayEdit reports whether a's role writes entries and registers and
// publishes; the console shows its forms by it.
func (a Actor) MayEdit() bool { return a.Role == store.RoleAdmin || a.Role == store.RoleOperator }

// MayReview reports whether a's role approves, rejects and revokes.
func (a Actor) MayReview() bool { return a.Role == store.RoleAdmin || a.Role == store.RoleReviewer }

func (a Actor) may(p permission) error {
	ok := false
	switch p {
	case permEdit:
		ok = a.MayEdit()
	case permReview:
		ok = a.MayReview()
	}
	if ok {
		return nil
	}
	what := map[permission]string{permEdit: "write list entries or registers (admin, operator)", permReview: "review list entries (admin, reviewer)"}[p]
	return fmt.Errorf("%w: role %s may not %s", ErrForbidden, a.Role, what)
}

// village checks the village is a registered box and returns it.
func (s *Service) village(ctx context.Context, id string) (store.Box, error) {
	b, err := s.st.GetBox(ctx, id)
	if err != nil {
		return store.Box{}, fmt.Errorf("lists: village %q: %w", id, err)
	}
	return b, nil
}
