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
	Logger *slog.Logger
	Store  store.Users
	// Audit records each sign-in and sign-out; nil = Store's own trail
	// when it keeps one (every full store.Store does), else none.
	Audit      store.AuditTrail
	Now        func() time.Time
	BcryptCost int // 0 = bcrypt.DefaultCost; tests lower it
}

// Auth checks passwords and tokens.
type Auth struct {
	log   *slog.Logger
	st    store.Users
	audit store.AuditTrail // nil = none
	now   func() time.Time
	cost  int
	mu    sync.Mutex
	fails map[string]failures

	// decoy is a bcrypt hash compared against when the user does not
	// exist, so a login takes as long for an unknown name as for a wrong
	// password and does not tell which names exist.
	decoyOnce sync.Once
	decoy     []byte

	// changing serialises Update, so two admins taking the admin role
	// from each other at once cannot leave the township without one.
	changing sync.Mutex
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
	if deps.Audit == nil {
		deps.Audit, _ = deps.Store.(store.AuditTrail) // nil when the store keeps no trail
	}
	return &Auth{
		log: deps.Logger.With("component", "auth"), st: deps.Store, audit: deps.Audit, now: deps.Now, cost: deps.BcryptCost,
		fails: map[string]failures{},
	}, nil
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
	errs = append(errs, checkPassword(password), checkRole(role))
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

func checkPassword(pw string) error {
	if len(pw) < 8 || len(pw) > 72 {
		return fmt.Errorf("%w: password must be 8-72 bytes", ErrInvalid) // 72: all bcrypt reads
	}
	return nil
}

func checkRole(r store.Role) error {
	if !ValidRole(r) {
		return fmt.Errorf("%w: unknown role %q (admin, reviewer, operator or viewer)", ErrInvalid, r)
	}
	return nil
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
	// A disabled account gets the answer of a wrong password, so a
	// stranger learns nothing, and counts as a failure like one.
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || err != nil || u.Disabled {
		a.fail(remoteAddr, now)
		a.log.Warn("login refused", "user", name, "remote_addr", remoteAddr, "disabled", u.Disabled)
		return "", time.Time{}, ErrBadCredentials
	}
	token := randomString(32)
	exp := now.Add(TokenTTL)
	if err := a.st.PutSession(ctx, store.Session{TokenHash: hashToken(token), User: u.Name, CreatedAt: now, ExpiresAt: exp}); err != nil {
		return "", time.Time{}, fmt.Errorf("auth: login: %w", err)
	}
	a.record(ctx, store.AuditRecord{Time: now, Actor: u.Name, Action: "login", Target: "user/" + u.Name, Note: "from " + remoteAddr})
	return token, exp, nil
}

// record appends a to the audit trail, if there is one. The sign-in or
// sign-out it describes has happened, so a failure is logged for a human
// rather than undoing it; the client leaving does not cancel the write.
func (a *Auth) record(ctx context.Context, rec store.AuditRecord) {
	if a.audit == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	if _, err := a.audit.AppendAudit(ctx, rec); err != nil {
		a.log.Error("appending to the audit trail", "action", rec.Action, "user", rec.Actor, "err", err)
	}
}

// auditTimeout bounds an audit append that outlives its request.
const auditTimeout = 5 * time.Second

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
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		return store.User{}, ErrBadCredentials
	}
	return u, err
}

// Logout ends a token's session; an unknown token is not an error.
func (a *Auth) Logout(ctx context.Context, token string) error {
	s, err := a.st.GetSession(ctx, hashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil // logging out twice is harmless
	}
	if err != nil {
		return fmt.Errorf("auth: logout: %w", err)
	}
	if err := a.st.DeleteSession(ctx, s.TokenHash); err != nil {
		return fmt.Errorf("auth: logout: %w", err)
	}
	a.record(ctx, store.AuditRecord{Time: a.now(), Actor: s.User, Action: "logout", Target: "user/" + s.User})
	return nil
}

// Users returns every account ordered by name, with its password hash:
// callers show it to no one.
func (a *Auth) Users(ctx context.Context) ([]store.User, error) {
	us, err := a.st.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: list users: %w", err)
	}
	return us, nil
}

// User returns account name, with its password hash; store.ErrNotFound
// if there is none.
func (a *Auth) User(ctx context.Context, name string) (store.User, error) {
	u, err := a.st.GetUser(ctx, name)
	if err != nil {
		return store.User{}, fmt.Errorf("auth: user %s: %w", name, err)
	}
	return u, nil
}

// Change is what Update changes on an account; nil fields stay as they are.
type Change struct {
	Role     *store.Role
	Password *string
	Disabled *bool
}

// Update changes user name as by asks and returns the account before and
// after. Any change ends the user's sessions (in the same store write), so
// a new role applies, and an old password or a disabled account admits no
// one, from the next request on. It refuses with ErrInvalid, changing
// nothing: an empty change, a bad role or password, by taking the admin
// role from themself or disabling themself, and any change that would
// leave no enabled admin. ErrNotFound for an unknown user.
func (a *Auth) Update(ctx context.Context, by, name string, c Change) (before, after store.User, err error) {
	var errs []error
	if c.Role == nil && c.Password == nil && c.Disabled == nil {
		errs = append(errs, fmt.Errorf("%w: nothing to change: give role, password or disabled", ErrInvalid))
	}
	if c.Role != nil {
		errs = append(errs, checkRole(*c.Role))
	}
	if c.Password != nil {
		errs = append(errs, checkPassword(*c.Password))
	}
	if by == name && ((c.Role != nil && *c.Role != store.RoleAdmin) || (c.Disabled != nil && *c.Disabled)) {
		errs = append(errs, fmt.Errorf("%w: %s may not take the admin role from themself or disable themself; another admin must", ErrInvalid, by))
	}
	if err := errors.Join(errs...); err != nil {
		return store.User{}, store.User{}, err
	}
	var hash []byte
	if c.Password != nil {
		// Hashed before the write: bcrypt is slow on purpose and the store
		// must not wait on it.
		if hash, err = bcrypt.GenerateFromPassword([]byte(*c.Password), a.cost); err != nil {
			return store.User{}, store.User{}, fmt.Errorf("auth: hash password: %w", err)
		}
	}
	a.changing.Lock()
	defer a.changing.Unlock()
	users, err := a.st.ListUsers(ctx)
	if err != nil {
		return store.User{}, store.User{}, fmt.Errorf("auth: update user %s: %w", name, err)
	}
	admins := 0 // enabled admins other than name
	for _, u := range users {
		if u.Name != name && u.Role == store.RoleAdmin && !u.Disabled {
			admins++
		}
	}
	after, err = a.st.UpdateUser(ctx, name, func(u *store.User) error {
		before = *u
		if c.Role != nil {
			u.Role = *c.Role
		}
		if c.Disabled != nil {
			u.Disabled = *c.Disabled
		}
		if hash != nil {
			u.PasswordHash = hash
		}
		wasAdmin, isAdmin := before.Role == store.RoleAdmin && !before.Disabled, u.Role == store.RoleAdmin && !u.Disabled
		if admins == 0 && wasAdmin && !isAdmin {
			return fmt.Errorf("%w: %s is the last enabled admin; make another admin first", ErrInvalid, name)
		}
		return nil
	})
	if err != nil {
		return store.User{}, store.User{}, fmt.Errorf("auth: update user %s: %w", name, err)
	}
	a.log.Info("user changed", "user", name, "by", by, "role", after.Role, "disabled", after.Disabled, "password_changed", hash != nil)
	return before, after, nil
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
