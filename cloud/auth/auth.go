package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/dalaba/dalaba/cloud/store"
)

// Errors callers branch on.
var (
	ErrBadCredentials = errors.New("auth: wrong user name, password or token")
	// ErrRateLimited is what a *LimitedError is (errors.Is), which says
	// how long to wait.
	ErrRateLimited = errors.New("auth: too many failed sign-ins")
	ErrInvalid     = errors.New("auth: invalid")
)

// LimitedError refuses a sign-in attempt made during a lock-out (limit.go).
type LimitedError struct {
	// RetryAfter is how long until an attempt may be made again.
	RetryAfter time.Duration
}

func (e *LimitedError) Error() string {
	return fmt.Sprintf("%v; try again in %s", ErrRateLimited, e.RetryAfter.Round(time.Second))
}

// Is makes a *LimitedError an ErrRateLimited.
func (e *LimitedError) Is(target error) bool { return target == ErrRateLimited }

// TokenTTL is how long a session lasts.
const TokenTTL = 12 * time.Hour

// LockoutActor is who the audit trail names for a lock-out.
const LockoutActor = "dalaba-cloud (sign-in limit)"

// Deps are what Auth uses.
type Deps struct {
	Logger *slog.Logger
	Store  store.Users
	// Audit records each sign-in, sign-out and lock-out; nil = Store's
	// own trail when it keeps one (every full store.Store does), else none.
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
	limit *limiter

	// decoy is a bcrypt hash of the same cost compared against whenever
	// there is no real one to compare (an unknown name, a refused
	// attempt), so every answer costs one comparison.
	decoy []byte
	// compare is bcrypt.CompareHashAndPassword; tests count its calls.
	compare func(hash, password []byte) error

	// changing serialises AddUser and Update: two admins taking the
	// admin role from each other at once cannot leave the township
	// without one, and two names that fold alike cannot both be added.
	changing sync.Mutex
}

// New validates deps and makes the decoy hash (one bcrypt hash's time).
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
	decoy, err := bcrypt.GenerateFromPassword([]byte(randomString(12)), deps.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("auth: bcrypt cost %d: %w", deps.BcryptCost, err)
	}
	return &Auth{
		log: deps.Logger.With("component", "auth"), st: deps.Store, audit: deps.Audit, now: deps.Now, cost: deps.BcryptCost,
		limit: newLimiter(), decoy: decoy, compare: bcrypt.CompareHashAndPassword,
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

// AddUser creates a county user under the canonical form of name (see
// CanonicalName); store.ErrExists if that name, or an older one that
// folds to it, is taken.
func (a *Auth) AddUser(ctx context.Context, name, password string, role store.Role) error {
	return a.AddUserIn(ctx, name, password, role, "")
}

// AddUserIn is AddUser for a user of township ("" = the county), which
// must exist (ErrInvalid otherwise).
func (a *Auth) AddUserIn(ctx context.Context, name, password string, role store.Role, township string) error {
	canon, err := CanonicalName(name)
	if err := errors.Join(err, checkPassword(password), checkRole(role), a.checkTownship(ctx, township)); err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), a.cost)
	if err != nil {
		return fmt.Errorf("auth: hash password: %w", err)
	}
	a.changing.Lock()
	defer a.changing.Unlock()
	users, err := a.st.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("auth: add user %s: %w", canon, err)
	}
	for _, u := range users {
		if foldName(u.Name) == canon {
			return fmt.Errorf("auth: add user %s: %w as %q", canon, store.ErrExists, u.Name)
		}
	}
	if err := a.st.CreateUser(ctx, store.User{Name: canon, PasswordHash: hash, Role: role, CreatedAt: a.now(), Township: township}); err != nil {
		return fmt.Errorf("auth: add user %s: %w", canon, err)
	}
	a.log.Info("user added", "user", canon, "role", role, "township", township)
	return nil
}

// checkTownship refuses a township the store does not know; "" (the
// county) is always good. A store that keeps no townships knows none.
func (a *Auth) checkTownship(ctx context.Context, township string) error {
	if township == "" {
		return nil
	}
	ts, ok := a.st.(store.Townships)
	if !ok {
		return fmt.Errorf("%w: no townships are kept here, so no user can be of %q", ErrInvalid, township)
	}
	_, err := ts.GetTownship(ctx, township)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: no township %q", ErrInvalid, township)
	}
	return err
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

// lookup finds the account a typed name means: the one stored under
// exactly that name; else the one stored under its folded form (every
// name made since names are normalised is); else the only older name that
// folds alike. Two older names that fold alike ("Li" and "li", both made
// before the rule) are each found by their exact spelling only.
func lookup(users []store.User, name string) (store.User, bool) {
	key := foldName(name)
	var canon, older *store.User
	olderCount := 0
	for i := range users {
		u := &users[i]
		switch {
		case u.Name == name:
			return *u, true
		case u.Name == key:
			canon = u
		case foldName(u.Name) == key:
			older = u
			olderCount++
		}
	}
	if canon != nil {
		return *canon, true
	}
	if olderCount == 1 {
		return *older, true
	}
	return store.User{}, false
}

// Login checks a password and returns a new bearer token. remoteAddr is
// the client's address (an IP; see cloud/auth/forwarded behind a proxy),
// which the limits count by. During a lock-out it refuses with a
// *LimitedError (ErrRateLimited) whatever the password.
//
// Every attempt takes the same steps and one bcrypt comparison, whatever
// its fate: an unknown name, and an attempt refused by the limits, are
// compared against the decoy hash; a disabled account against its own.
// So the time of the answer tells neither which names exist, nor which
// are disabled; and the wrong password, the unknown name and the
// disabled account get the one ErrBadCredentials.
func (a *Auth) Login(ctx context.Context, name, password, remoteAddr string) (string, time.Time, error) {
	now := a.now()
	users, err := a.st.ListUsers(ctx)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: login: %w", err)
	}
	u, found := lookup(users, name)
	t, wait, admitted := a.limit.admit(limitKeys(name, remoteAddr), now)
	hash := a.decoy
	if found && admitted {
		hash = u.PasswordHash
	}
	match := a.compare(hash, []byte(password)) == nil
	if !admitted {
		// Debug: a spray would flood the log; the lock-out itself was
		// logged and recorded when it began.
		a.log.Debug("login refused: locked out", "user", name, "remote_addr", remoteAddr, "retry_after", wait)
		return "", time.Time{}, &LimitedError{RetryAfter: wait}
	}
	if !match || !found || u.Disabled {
		los := a.limit.failed(t, now)
		a.log.Warn("login refused", "user", name, "remote_addr", remoteAddr, "disabled", u.Disabled)
		a.lockedOut(ctx, los, u, found, now)
		return "", time.Time{}, ErrBadCredentials
	}
	a.limit.succeeded(t, now)
	token := randomString(32)
	exp := now.Add(TokenTTL)
	if err := a.st.PutSession(ctx, store.Session{TokenHash: hashToken(token), User: u.Name, CreatedAt: now, ExpiresAt: exp}); err != nil {
		return "", time.Time{}, fmt.Errorf("auth: login: %w", err)
	}
	a.record(ctx, store.AuditRecord{Time: now, Actor: u.Name, Action: "login", Target: "user/" + u.Name, Note: "from " + remoteAddr})
	return token, exp, nil
}

// lockedOut logs the lock-outs a failure began and records them in the
// audit trail: an address's always, an account's when the account exists
// (a stranger's made-up names would only fill the trail).
func (a *Auth) lockedOut(ctx context.Context, los []lockout, u store.User, found bool, now time.Time) {
	for _, lo := range los {
		if lo.scope != scopeAddress {
			if !found {
				continue
			}
			lo.account = u.Name
		}
		target, note := lo.describe()
		a.log.Warn("sign-in locked out", "target", target, "remote_addr", lo.addr, "for", lo.length)
		a.record(ctx, store.AuditRecord{Time: now, Actor: LockoutActor, Action: "login.locked", Target: target, Note: note})
	}
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

// User returns the account name means (as Login finds it: the name as
// stored, or any spelling that folds to it), with its password hash;
// store.ErrNotFound if there is none.
func (a *Auth) User(ctx context.Context, name string) (store.User, error) {
	users, err := a.st.ListUsers(ctx)
	if err != nil {
		return store.User{}, fmt.Errorf("auth: user %s: %w", name, err)
	}
	u, ok := lookup(users, name)
	if !ok {
		return store.User{}, fmt.Errorf("auth: user %s: %w", name, store.ErrNotFound)
	}
	return u, nil
}

// Change is what Update changes on an account; nil fields stay as they are.
type Change struct {
	Role     *store.Role
	Password *string
	Disabled *bool
	// Township moves the user to another unit ("" = the county); who may
	// is the caller's to decide (auth.Decide), that it exists is Update's.
	Township *string
}

// Update changes user name (any spelling Login would take) as by asks and returns the account before and
// after. Any change ends the user's sessions (in the same store write), so
// a new role applies, and an old password or a disabled account admits no
// one, from the next request on. It refuses with ErrInvalid, changing
// nothing: an empty change, a bad role or password, by taking the admin
// role from themself or disabling themself, and any change that would
// leave no enabled admin. ErrNotFound for an unknown user.
func (a *Auth) Update(ctx context.Context, by, name string, c Change) (before, after store.User, err error) {
	// The account as stored, whichever spelling of it was given.
	u, err := a.User(ctx, name)
	if err != nil {
		return store.User{}, store.User{}, fmt.Errorf("auth: update: %w", err)
	}
	name = u.Name
	var errs []error
	if c.Role == nil && c.Password == nil && c.Disabled == nil && c.Township == nil {
		errs = append(errs, fmt.Errorf("%w: nothing to change: give role, password, disabled or township", ErrInvalid))
	}
	if c.Township != nil {
		errs = append(errs, a.checkTownship(ctx, *c.Township))
	}
	if c.Role != nil {
		errs = append(errs, checkRole(*c.Role))
	}
	if c.Password != nil {
		errs = append(errs, checkPassword(*c.Password))
	}
	if by == name && ((c.Role != nil && *c.Role != store.RoleAdmin) || (c.Disabled != nil && *c.Disabled) || (c.Township != nil && *c.Township != u.Township)) {
		errs = append(errs, fmt.Errorf("%w: %s may not take the admin role from themself, disable themself or move themself to another unit; another admin must", ErrInvalid, by))
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
	admins := 0 // enabled county admins other than name
	for _, u := range users {
		if u.Name != name && u.Role == store.RoleAdmin && !u.Disabled && u.Township == "" {
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
		if c.Township != nil {
			u.Township = *c.Township
		}
		// The county must keep an admin: only a county admin makes
		// townships and county users.
		countyAdmin := func(u store.User) bool { return u.Role == store.RoleAdmin && !u.Disabled && u.Township == "" }
		if admins == 0 && countyAdmin(before) && !countyAdmin(*u) {
			return fmt.Errorf("%w: %s is the last enabled admin of the county; make another county admin first", ErrInvalid, name)
		}
		return nil
	})
	if err != nil {
		return store.User{}, store.User{}, fmt.Errorf("auth: update user %s: %w", name, err)
	}
	a.log.Info("user changed", "user", name, "by", by, "role", after.Role, "disabled", after.Disabled, "township", after.Township, "password_changed", hash != nil)
	return before, after, nil
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
