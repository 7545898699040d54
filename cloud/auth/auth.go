package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/dalaba/dalaba/cloud/store"
)

// Errors callers branch on.
var (
	ErrBadCredentials = errors.New("auth: wrong user name, password or token")
	ErrRateLimited    = errors.New("auth: too many failed logins, try again in a minute")
	ErrInvalid        = errors.New("auth: invalid")
)

// Token lifetime and login limits.
const (
	TokenTTL       = 12 * time.Hour
	MaxFailures    = 5           // failed logins per address per window
	FailureWindow  = time.Minute // after which the count starts again
	maxTrackedAddr = 10_000      // bounds the limiter's memory under a spray
)

// Deps are what Auth uses.
type Deps struct {
	Logger     *slog.Logger
	Store      store.Users
	Now        func() time.Time
	BcryptCost int // 0 = bcrypt.DefaultCost; tests lower it
}

// Auth checks passwords and tokens.
type Auth struct {
	log   *slog.Logger
	st    store.Users
	now   func() time.Time
	cost  int
	mu    sync.Mutex
	fails map[string]failures

	// decoy is a bcrypt hash compared against when the user does not
	// exist, so a login takes as long for an unknown name as for a wrong
	// password and does not tell which names exist.
	decoyOnce sync.Once
	decoy     []byte
}

type failures struct {
	n     int
	since time.Time
}

// New validates deps.
func New(deps Deps) (*Auth, error) {
	if deps.Store == nil {
		return nil, errors.New("auth: no store")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.BcryptCost == 0 {
		deps.BcryptCost = bcrypt.DefaultCost
	}
	return &Auth{log: deps.Logger.With("component", "auth"), st: deps.Store, now: deps.Now, cost: deps.BcryptCost, fails: map[string]failures{}}, nil
}

// Bootstrap creates the first user, "admin", when there is no user at all,
// with password or, if empty, a generated one. It returns the password used
// so the caller can print it once.
func (a *Auth) Bootstrap(ctx context.Context, password string) (created bool, pw string, err error) {
	users, err := a.st.ListUsers(ctx)
	if err != nil {
		return false, "", fmt.Errorf("auth: bootstrap: %w", err)
	}
	if len(users) > 0 {
		return false, "", nil
	}
	if password == "" {
		password = randomString(12)
	}
	if err := a.AddUser(ctx, "admin", password, store.RoleAdmin); err != nil {
		return false, "", fmt.Errorf("auth: bootstrap: %w", err)
	}
	return true, password, nil
}

// AddUser creates a user; store.ErrExists if the name is taken.
func (a *Auth) AddUser(ctx context.Context, name, password string, role store.Role) error {
	var errs []error
	if n := utf8.RuneCountInString(name); n < 1 || n > 32 || !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0 || strings.TrimSpace(name) != name {
		errs = append(errs, fmt.Errorf("%w: user name must be 1-32 printable characters without surrounding spaces", ErrInvalid))
	}
	if len(password) < 8 || len(password) > 72 {
		errs = append(errs, fmt.Errorf("%w: password must be 8-72 bytes", ErrInvalid))
	}
	if !ValidRole(role) {
		errs = append(errs, fmt.Errorf("%w: unknown role %q", ErrInvalid, role))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), a.cost)
	if err != nil {
		return fmt.Errorf("auth: hash password: %w", err)
	}
	if err := a.st.CreateUser(ctx, store.User{Name: name, PasswordHash: hash, Role: role, CreatedAt: a.now()}); err != nil {
		return fmt.Errorf("auth: add user %s: %w", name, err)
	}
	a.log.Info("user added", "user", name, "role", role)
	return nil
}

// ValidRole reports whether r is one of the four roles.
func ValidRole(r store.Role) bool {
	switch r {
	case store.RoleAdmin, store.RoleReviewer, store.RoleOperator, store.RoleViewer:
		return true
	}
	return false
}

// Login checks a password and returns a new bearer token. After
// MaxFailures failures from one address within FailureWindow it refuses
// with ErrRateLimited until the window has passed.
func (a *Auth) Login(ctx context.Context, name, password, remoteAddr string) (string, time.Time, error) {
	now := a.now()
	if a.limited(remoteAddr, now) {
		return "", time.Time{}, ErrRateLimited
	}
	u, err := a.st.GetUser(ctx, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", time.Time{}, fmt.Errorf("auth: login: %w", err)
	}
	hash := u.PasswordHash
	if err != nil {
		hash = a.decoyHash()
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || err != nil {
		a.fail(remoteAddr, now)
		a.log.Warn("login refused", "user", name, "remote_addr", remoteAddr)
		return "", time.Time{}, ErrBadCredentials
	}
	token := randomString(32)
	exp := now.Add(TokenTTL)
	if err := a.st.PutSession(ctx, store.Session{TokenHash: hashToken(token), User: u.Name, CreatedAt: now, ExpiresAt: exp}); err != nil {
		return "", time.Time{}, fmt.Errorf("auth: login: %w", err)
	}
	return token, exp, nil
}

func (a *Auth) decoyHash() []byte {
	a.decoyOnce.Do(func() {
		// An error leaves decoy nil: the compare then fails at once, which
		// only gives back the timing this guards.
		a.decoy, _ = bcrypt.GenerateFromPassword([]byte(randomString(12)), a.cost)
	})
	return a.decoy
}

// Verify returns the user a token belongs to; an unknown or expired token
// is ErrBadCredentials (and an expired one is deleted).
func (a *Auth) Verify(ctx context.Context, token string) (store.User, error) {
	if token == "" {
		return store.User{}, ErrBadCredentials
	}
	s, err := a.st.GetSession(ctx, hashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrBadCredentials
	}
	if err != nil {
		return store.User{}, fmt.Errorf("auth: verify: %w", err)
	}
	if !a.now().Before(s.ExpiresAt) {
		if err := a.st.DeleteSession(ctx, s.TokenHash); err != nil {
			a.log.Warn("deleting an expired session", "err", err)
		}
		return store.User{}, ErrBadCredentials
	}
	u, err := a.st.GetUser(ctx, s.User)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrBadCredentials
	}
	return u, err
}

// Logout ends a token's session.
func (a *Auth) Logout(ctx context.Context, token string) error {
	return a.st.DeleteSession(ctx, hashToken(token))
}

func (a *Auth) limited(addr string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	f, ok := a.fails[addr]
	if !ok {
		return false
	}
	if now.Sub(f.since) >= FailureWindow {
		delete(a.fails, addr)
		return false
	}
	return f.n >= MaxFailures
}

func (a *Auth) fail(addr string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f, ok := a.fails[addr]
	if !ok || now.Sub(f.since) >= FailureWindow {
		if len(a.fails) >= maxTrackedAddr {
			for k, v := range a.fails { // drop stale entries first
				if now.Sub(v.since) >= FailureWindow {
					delete(a.fails, k)
				}
			}
		}
		f = failures{since: now}
	}
	f.n++
	a.fails[addr] = f
}

func hashToken(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return base64.RawURLEncoding.EncodeToString(b)
}

// Action is something a role may or may not do.
type Action int

// Actions checked by the API.
const (
	ActionViewBoxes Action = iota
	ActionManageBoxes
	ActionSendCommands
	ActionManageUsers
	// ActionManageBroadcast edits speakers, zones, schedules and uploads
	// clips: day-to-day work, like commands.
	ActionManageBroadcast
)

// Allowed reports whether role may do action. Admins may do everything;
// operators run the boxes day to day; reviewers and viewers only look.
func Allowed(role store.Role, action Action) bool {
	switch action {
	case ActionViewBoxes:
		return ValidRole(role)
	case ActionSendCommands, ActionManageBroadcast:
		return role == store.RoleAdmin || role == store.RoleOperator
	case ActionManageBoxes, ActionManageUsers:
		return role == store.RoleAdmin
	}
	return false
}
