package lists

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/notify"
	"github.com/dalaba/dalaba/cloud/poster"
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
	store.Community
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
	// Rounds are the periods entries take: monthly, quarterly, or both
	// per category (rounds.go).
	Rounds Rounds
	// NoticeDays is how long a published round is first on public notice
	// (公示, notice.go); 0 = none: publication is final at once.
	NoticeDays int
	// Privacy is what public pages and broadcasts show (privacy.go).
	Privacy Privacy
	// Chats posts publications to the villages' group chats (chats.go).
	Chats ChatConfig
}

// Deps are what the service uses.
type Deps struct {
	Logger *slog.Logger
	Store  Store
	// Announcer receives the list text; nil only logs it (for a service
	// whose schedule side is not wired).
	Announcer Announcer
	Now       func() time.Time // nil = time.Now
	// Sender posts to group chats; nil = notify.NewSender(nil, Now).
	Sender *notify.Sender
	// Font draws the poster picture posted to group chats; nil posts the
	// text alone.
	Font *poster.Font
	// Sleep waits between delivery attempts; nil = notify.RealSleep.
	Sleep notify.Sleeper
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
	rounds    Rounds
	notice    int
	privacy   Privacy
	chats     ChatConfig
	sender    *notify.Sender
	font      *poster.Font
	sleep     notify.Sleeper
	// kick wakes the delivery loop when deliveries are added.
	kick chan struct{}
	// limiter slows addresses that try many wrong villager links.
	limiter *linkLimiter

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
	if cfg.NoticeDays < 0 || cfg.NoticeDays > MaxNoticeDays {
		errs = append(errs, fmt.Errorf("notice days %d: want 0 to %d", cfg.NoticeDays, MaxNoticeDays))
	}
	errs = append(errs, cfg.Rounds.validate(), cfg.Privacy.validate(), cfg.Chats.validate())
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("lists: new: %w", err)
	}
	if cfg.Location == nil {
		cfg.Location = time.FixedZone("CST", 8*60*60)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Sender == nil {
		deps.Sender = notify.NewSender(nil, deps.Now)
	}
	if deps.Sleep == nil {
		deps.Sleep = notify.RealSleep
	}
	cfg.Chats = cfg.Chats.withDefaults()
	return &Service{
		log: deps.Logger.With("component", "lists"), st: deps.Store, ann: deps.Announcer, now: deps.Now,
		approvals: cfg.Approvals, tmpl: tmpl, loc: cfg.Location, rounds: cfg.Rounds, notice: cfg.NoticeDays,
		privacy: cfg.Privacy.withDefaults(), chats: cfg.Chats, sender: deps.Sender, font: deps.Font, sleep: deps.Sleep,
		kick: make(chan struct{}, 1), limiter: newLinkLimiter(deps.Now),
	}, nil
}

// Approvals is how many distinct reviewers an entry needs.
func (s *Service) Approvals() int { return s.approvals }

// Actor is the signed-in user doing something.
type Actor struct {
	Name string
	Role store.Role
}

// may refuses a role that may not do action at all (auth's table, the
// same the API's routes are checked by); the workflow's finer rules
// (nobody approves what they wrote or edited) are checked where they apply.
func (a Actor) may(action auth.Action) error {
	if auth.Allowed(a.Role, action) {
		return nil
	}
	what := "review list entries"
	switch action {
	case auth.ActionEditLists:
		what = "write list entries or registers, or publish"
	case auth.ActionReviewLists:
	default:
		what = "do this (" + action.String() + ")"
	}
	var who []string
	for _, r := range auth.RolesAllowed(action) {
		who = append(who, string(r))
	}
	return fmt.Errorf("%w: role %s may not %s (only %s)", ErrForbidden, a.Role, what, strings.Join(who, ", "))
}

// village checks the village is a registered box and returns it.
func (s *Service) village(ctx context.Context, id string) (store.Box, error) {
	b, err := s.st.GetBox(ctx, id)
	if err != nil {
		return store.Box{}, fmt.Errorf("lists: village %q: %w", id, err)
	}
	return b, nil
}
