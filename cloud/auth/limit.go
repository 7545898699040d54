package auth

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Sign-in limits. Three counts are kept, because one would either be too
// strict or too loose:
//
//   - per account and address (MaxFailures): the guesses at one account
//     from one place. Officials behind one proxy or one office NAT share
//     an address, so this is what locks out the one who mistypes, or the
//     stranger guessing at one account, without locking out the rest.
//   - per address (AddressFailures, any accounts): one place trying many
//     accounts (a spray).
//   - per account (AccountFailures, any addresses): many places trying
//     one account.
//
// A lock-out lasts FirstLockout and doubles with each further one, up to
// MaxLockout; a count starts again after FailureWindow without a failure,
// and the doubling after ForgetAfter. A success resets its account's
// counts (per address and overall).
//
// The address and account locks could be used against a real user: a
// stranger failing AccountFailures times from anywhere would lock the
// account everywhere, and a stranger on the office's address would lock
// the whole office out. So neither applies to an account and address that
// have signed in successfully before (remembered for ForgetKnown): the
// official who signed in from the office yesterday still can, bounded by
// their own MaxFailures there, while a stranger's new address meets all
// three limits. The memory is the process's own: a restart forgets the
// counts, the locks and the known addresses alike.
//
// Every attempt reserves its place in each count it is checked against
// before the password is compared, all under one lock: of any number of
// guesses sent at once, only as many as the counts have room for reach
// bcrypt, and the rest are refused at once.
const (
	MaxFailures     = 5  // of one account from one address
	AddressFailures = 20 // from one address, any accounts
	AccountFailures = 20 // of one account, from addresses it has not signed in from
	FirstLockout    = time.Minute
	MaxLockout      = time.Hour
	FailureWindow   = 15 * time.Minute
	ForgetAfter     = 24 * time.Hour
	ForgetKnown     = 30 * 24 * time.Hour

	// maxTracked bounds each count's memory under a spray from many
	// addresses at many names: the oldest quiet entries go first.
	maxTracked = 10_000
	// maxKeyBytes bounds a name kept as a key; no account has a longer
	// one (MaxNameRunes ideographs of four bytes), so every longer name
	// shares one key, which cannot belong to anyone.
	maxKeyBytes = 4 * MaxNameRunes
)

// scope says which count a lock-out is of.
type scope int

const (
	scopePair scope = iota
	scopeAddress
	scopeAccount
)

// counter is one count of failures and its lock-outs.
type counter struct {
	fails   int // since the window started or the last lock-out
	pending int // attempts let through and not yet decided
	level   int // lock-outs so far: the next one lasts FirstLockout << level
	last    time.Time
	until   time.Time // locked out before this
}

// lockout is a lock-out that has just begun, for the audit trail.
type lockout struct {
	scope    scope
	account  string // the key; "" for an address's
	addr     string
	failures int
	length   time.Duration
}

// limiter keeps the counts. Its zero value is not usable; see newLimiter.
type limiter struct {
	mu       sync.Mutex
	pairs    map[pairKey]*counter
	addrs    map[string]*counter
	accounts map[string]*counter
	known    map[pairKey]time.Time // the last success of an account from an address
}

type pairKey struct{ account, addr string }

func newLimiter() *limiter {
	return &limiter{
		pairs: map[pairKey]*counter{}, addrs: map[string]*counter{}, accounts: map[string]*counter{},
		known: map[pairKey]time.Time{},
	}
}

// ticket is an admitted attempt's reservations.
type ticket struct {
	key   pairKey
	known bool // the account has signed in from here: only the pair was reserved
}

// limitKeys are the keys of a sign-in: the account by its folded name,
// and the address with an IPv6 one taken as its /64, which is what one
// household or one attacker is given.
func limitKeys(name, addr string) pairKey {
	account := foldName(name)
	if len(account) > maxKeyBytes {
		account = "\x00too long"
	}
	if ip, err := netip.ParseAddr(addr); err == nil {
		ip = ip.Unmap().WithZone("")
		if ip.Is6() {
			p, _ := ip.Prefix(64) // a v6 address always has a /64
			addr = p.String()
		} else {
			addr = ip.String()
		}
	}
	return pairKey{account: account, addr: addr}
}

// admit reserves an attempt of k at now, or says how long to wait.
func (l *limiter) admit(k pairKey, now time.Time) (ticket, time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.trim(now) // a refused attempt may have added entries too
	t := ticket{key: k}
	if at, ok := l.known[k]; ok && now.Sub(at) < ForgetKnown {
		t.known = true
	}
	pair := get(l.pairs, k, now)
	cs := []*counter{pair}
	limits := []int{MaxFailures}
	if !t.known {
		cs = append(cs, get(l.addrs, k.addr, now), get(l.accounts, k.account, now))
		limits = append(limits, AddressFailures, AccountFailures)
	}
	var wait time.Duration
	for i, c := range cs {
		wait = max(wait, c.wait(limits[i], now))
	}
	if wait > 0 {
		return ticket{}, wait, false
	}
	for _, c := range cs {
		c.pending++
	}
	return t, 0, true
}

// failed records t's attempt as a failure and returns the lock-outs it
// began.
func (l *limiter) failed(t ticket, now time.Time) []lockout {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := t.key
	var out []lockout
	count := func(c *counter, reserved bool, limit int, lo lockout) {
		if reserved {
			c.release()
		}
		if d, ok := c.fail(limit, now); ok {
			lo.failures, lo.length = limit, d
			out = append(out, lo)
		}
	}
	// Every failure counts towards all three, even where only the pair
	// was checked: a known address mistyping is still an address failing.
	count(get(l.pairs, k, now), true, MaxFailures, lockout{scope: scopePair, account: k.account, addr: k.addr})
	count(get(l.addrs, k.addr, now), !t.known, AddressFailures, lockout{scope: scopeAddress, addr: k.addr})
	count(get(l.accounts, k.account, now), !t.known, AccountFailures, lockout{scope: scopeAccount, account: k.account})
	l.trim(now)
	return out
}

// succeeded records t's attempt as a success: its account starts afresh,
// here and overall, and this address becomes known for it. The address's
// own count stays, so one good password does not wipe a spray's record.
func (l *limiter) succeeded(t ticket, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := t.key
	pair := get(l.pairs, k, now)
	pair.release()
	pair.reset()
	account := get(l.accounts, k.account, now)
	if !t.known {
		account.release()
		get(l.addrs, k.addr, now).release()
	}
	account.reset()
	l.known[k] = now
	l.trim(now)
}

// release ends an attempt in flight.
func (c *counter) release() { c.pending = max(0, c.pending-1) }

// reset forgets c's failures and lock-outs; attempts in flight stay
// counted until they end.
func (c *counter) reset() { *c = counter{pending: c.pending} }

// get returns m's counter of k, made or refreshed for now.
func get[K comparable](m map[K]*counter, k K, now time.Time) *counter {
	c, ok := m[k]
	if !ok {
		c = &counter{}
		m[k] = c
	}
	c.refresh(now)
	return c
}

// refresh forgets what time has made stale.
func (c *counter) refresh(now time.Time) {
	if c.idle(now) >= ForgetAfter {
		c.level = 0
	}
	if !now.Before(c.until) && now.Sub(c.last) >= FailureWindow {
		c.fails = 0
	}
}

// idle is how long c has been quiet: since its last failure or the end
// of its lock-out.
func (c *counter) idle(now time.Time) time.Duration {
	return now.Sub(maxTime(c.last, c.until))
}

// wait is how long an attempt must wait: the rest of a lock-out, or, when
// the failures so far and the attempts in flight fill the count, the
// lock-out those would begin.
func (c *counter) wait(limit int, now time.Time) time.Duration {
	if now.Before(c.until) {
		return c.until.Sub(now)
	}
	if c.fails+c.pending >= limit {
		return lockoutLength(c.level)
	}
	return 0
}

// fail counts a failure; the limit-th begins a lock-out, which it returns.
func (c *counter) fail(limit int, now time.Time) (time.Duration, bool) {
	c.fails++
	c.last = now
	if c.fails < limit || now.Before(c.until) {
		return 0, false
	}
	d := lockoutLength(c.level)
	c.level++
	c.fails = 0
	c.until = now.Add(d)
	return d, true
}

// lockoutLength is the length of a lock-out after level earlier ones.
func lockoutLength(level int) time.Duration {
	d := FirstLockout
	for range level {
		if d *= 2; d >= MaxLockout {
			return MaxLockout
		}
	}
	return d
}

// trim keeps each map within maxTracked: quiet entries that hold nothing
// go first, then the longest quiet. Entries with attempts in flight stay.
func (l *limiter) trim(now time.Time) {
	trimCounters(l.pairs, now)
	trimCounters(l.addrs, now)
	trimCounters(l.accounts, now)
	if len(l.known) > maxTracked {
		for k, at := range l.known {
			if now.Sub(at) >= ForgetKnown {
				delete(l.known, k)
			}
		}
		dropOldest(l.known, len(l.known)-maxTracked*9/10, func(at time.Time) time.Time { return at })
	}
}

func trimCounters[K comparable](m map[K]*counter, now time.Time) {
	if len(m) <= maxTracked {
		return
	}
	for k, c := range m {
		if c.pending == 0 && c.idle(now) >= ForgetAfter {
			delete(m, k)
		}
	}
	// Down to nine tenths, so a spray does not pay for a sweep on every
	// attempt.
	dropOldest(m, len(m)-maxTracked*9/10, func(c *counter) time.Time {
		if c.pending > 0 {
			return now // kept: only ever dropped last
		}
		return maxTime(c.last, c.until)
	})
}

// dropOldest deletes the n entries of m whose time is the earliest.
func dropOldest[K comparable, V any](m map[K]V, n int, at func(V) time.Time) {
	if n <= 0 {
		return
	}
	type kt struct {
		k K
		t time.Time
	}
	all := make([]kt, 0, len(m))
	for k, v := range m {
		all = append(all, kt{k, at(v)})
	}
	// A sort of maxTracked entries once per thousand new keys is cheap.
	slices.SortFunc(all, func(a, b kt) int { return a.t.Compare(b.t) })
	for _, e := range all[:min(n, len(all))] {
		delete(m, e.k)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// describe is a lock-out as the audit trail and the log say it.
func (lo lockout) describe() (target, note string) {
	switch lo.scope {
	case scopeAddress:
		return "address/" + lo.addr, fmt.Sprintf("%d failed sign-ins from %s, any accounts: that address is locked out for %s except for accounts that signed in from it before", lo.failures, lo.addr, lo.length)
	case scopeAccount:
		return "user/" + lo.account, fmt.Sprintf("%d failed sign-ins from several addresses: the account is locked out for %s except from addresses it signed in from before", lo.failures, lo.length)
	}
	return "user/" + lo.account, fmt.Sprintf("%d failed sign-ins from %s: the account is locked out there for %s", lo.failures, lo.addr, lo.length)
}
