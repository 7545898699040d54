package auth

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/dalaba/dalaba/cloud/store"
)

// outcome is a sign-in's result in a word.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrRateLimited):
		return "limited"
	case errors.Is(err, ErrBadCredentials):
		return "wrong"
	}
	return err.Error()
}

func login(t *testing.T, a *Auth, name, pw, addr string) string {
	t.Helper()
	_, _, err := a.Login(t.Context(), name, pw, addr)
	return outcome(err)
}

func retryAfter(t *testing.T, err error) time.Duration {
	t.Helper()
	le, ok := errors.AsType[*LimitedError](err)
	if !ok {
		t.Fatalf("%v is not a *LimitedError", err)
	}
	return le.RetryAfter
}

// guessAtOnce sends n sign-ins at once (name and address of each by its
// number) and counts the outcomes.
func guessAtOnce(t *testing.T, a *Auth, n int, name, addr func(i int) string) map[string]int {
	t.Helper()
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		count = map[string]int{}
		start = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			_, _, err := a.Login(t.Context(), name(i), "a wrong guess", addr(i))
			mu.Lock()
			count[outcome(err)]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return count
}

// countCompares counts a's bcrypt comparisons against real hashes and
// against the decoy.
func countCompares(a *Auth) (real, decoy *atomic.Int64) {
	real, decoy = new(atomic.Int64), new(atomic.Int64)
	a.compare = func(hash, pw []byte) error {
		if bytes.Equal(hash, a.decoy) {
			decoy.Add(1)
		} else {
			real.Add(1)
		}
		return bcrypt.CompareHashAndPassword(hash, pw)
	}
	return real, decoy
}

// TestParallelGuesses: of guesses sent all at once, only as many as the
// limit has room for reach bcrypt; the rest are refused at once.
func TestParallelGuesses(t *testing.T) {
	cases := []struct {
		name       string
		n          int
		user, addr func(i int) string
		allowed    int
	}{
		{"one account from one address", 200, func(int) string { return "op" }, func(int) string { return "10.0.0.9" }, MaxFailures},
		{"one account from many addresses", 3 * AccountFailures, func(int) string { return "op" }, func(i int) string { return fmt.Sprintf("10.1.%d.%d", i/250, i%250) }, AccountFailures},
		{"many accounts from one address", 3 * AddressFailures, func(i int) string { return fmt.Sprintf("user%d", i) }, func(int) string { return "10.0.0.9" }, AddressFailures},
		{"an unknown account, as a known one", 3 * AddressFailures, func(int) string { return "nobody" }, func(int) string { return "10.0.0.9" }, MaxFailures},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, _ := newAuth(t)
			if err := a.AddUser(t.Context(), "op", "password1", store.RoleOperator); err != nil {
				t.Fatal(err)
			}
			n := c.n
			real, decoy := countCompares(a)
			got := guessAtOnce(t, a, n, c.user, c.addr)
			if got["wrong"] != c.allowed || got["limited"] != n-c.allowed || len(got) != 2 {
				t.Fatalf("outcomes %v, want %d wrong and %d limited", got, c.allowed, n-c.allowed)
			}
			// Every attempt made one comparison; only the admitted ones of
			// a real account against its hash.
			wantReal := c.allowed
			if c.user(0) == "nobody" || c.user(0) != c.user(1) {
				wantReal = 0 // unknown names: the decoy throughout
			}
			if real.Load()+decoy.Load() != int64(n) || real.Load() != int64(wantReal) {
				t.Errorf("%d comparisons with account hashes and %d with the decoy, want %d and %d", real.Load(), decoy.Load(), wantReal, n-wantReal)
			}
		})
	}
}

// TestLockoutBacksOff: each lock-out is twice the last, up to MaxLockout;
// a success starts the account afresh.
func TestLockoutBacksOff(t *testing.T) {
	a, clk := newAuth(t)
	ctx := t.Context()
	if err := a.AddUser(ctx, "op", "password1", store.RoleOperator); err != nil {
		t.Fatal(err)
	}
	fail := func() {
		t.Helper()
		for i := range MaxFailures {
			if got := login(t, a, "op", "wrong", "10.0.0.9"); got != "wrong" {
				t.Fatalf("failure %d: %s", i+1, got)
			}
		}
	}
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for _, d := range want {
		fail()
		_, _, err := a.Login(ctx, "op", "password1", "10.0.0.9")
		if got := retryAfter(t, err); got != d {
			t.Fatalf("locked out for %s, want %s", got, d)
		}
		clk.Add(d - time.Second)
		if got := login(t, a, "op", "password1", "10.0.0.9"); got != "limited" {
			t.Fatalf("a second before the end of %s: %s", d, got)
		}
		// Past the lock-out and the failure window, so the account's own
		// count (AccountFailures) does not add the rounds up.
		clk.Add(time.Second + FailureWindow)
	}
	if got := login(t, a, "op", "password1", "10.0.0.9"); got != "ok" {
		t.Fatalf("after the lock-out: %s", got)
	}
	fail()
	_, _, err := a.Login(ctx, "op", "password1", "10.0.0.9")
	if got := retryAfter(t, err); got != FirstLockout {
		t.Fatalf("after a success the next lock-out is %s, want %s", got, FirstLockout)
	}
}

// TestFailuresAreForgotten: a few mistakes do not add up over a day, and
// the doubling ends after a quiet day.
func TestFailuresAreForgotten(t *testing.T) {
	a, clk := newAuth(t)
	if err := a.AddUser(t.Context(), "op", "password1", store.RoleOperator); err != nil {
		t.Fatal(err)
	}
	for i := range 3 * MaxFailures {
		if got := login(t, a, "op", "wrong", "10.0.0.9"); got != "wrong" {
			t.Fatalf("failure %d, each %s apart: %s", i+1, FailureWindow, got)
		}
		clk.Add(FailureWindow)
	}
	for range 2 {
		for range MaxFailures {
			login(t, a, "op", "wrong", "10.0.0.9")
		}
		clk.Add(MaxLockout)
	}
	clk.Add(ForgetAfter)
	for range MaxFailures {
		login(t, a, "op", "wrong", "10.0.0.9")
	}
	_, _, err := a.Login(t.Context(), "op", "password1", "10.0.0.9")
	if got := retryAfter(t, err); got != FirstLockout {
		t.Fatalf("after a quiet day the lock-out is %s, want %s", got, FirstLockout)
	}
}

// TestOfficialsBehindOneAddress: officials sharing the office's address
// (a proxy, a NAT) are locked out one by one, not together.
func TestOfficialsBehindOneAddress(t *testing.T) {
	a, _ := newAuth(t)
	ctx := t.Context()
	for _, n := range []string{"zhang", "li"} {
		if err := a.AddUser(ctx, n, "password-"+n, store.RoleOperator); err != nil {
			t.Fatal(err)
		}
	}
	for range MaxFailures {
		login(t, a, "zhang", "wrong", "10.0.0.1")
	}
	if got := login(t, a, "zhang", "password-zhang", "10.0.0.1"); got != "limited" {
		t.Fatalf("zhang after %d failures: %s", MaxFailures, got)
	}
	if got := login(t, a, "li", "password-li", "10.0.0.1"); got != "ok" {
		t.Fatalf("li, from the same address: %s", got)
	}
	if got := login(t, a, "zhang", "password-zhang", "10.0.0.2"); got != "ok" {
		t.Fatalf("zhang from elsewhere: %s", got)
	}
}

// TestStrangersCannotLockOutAKnownOfficial: an account or address locked
// out by strangers still admits the official from where they signed in
// before, bounded by their own count there.
func TestStrangersCannotLockOutAKnownOfficial(t *testing.T) {
	a, _ := newAuth(t)
	ctx := t.Context()
	for _, n := range []string{"zhang", "li"} {
		if err := a.AddUser(ctx, n, "password-"+n, store.RoleOperator); err != nil {
			t.Fatal(err)
		}
	}
	if got := login(t, a, "zhang", "password-zhang", "10.0.0.1"); got != "ok" {
		t.Fatal(got)
	}
	if got := login(t, a, "li", "password-li", "10.0.0.1"); got != "ok" {
		t.Fatal(got)
	}
	// Strangers guess at zhang from many addresses.
	for i := range AccountFailures {
		login(t, a, "zhang", "wrong", fmt.Sprintf("198.51.100.%d", i))
	}
	if got := login(t, a, "zhang", "password-zhang", "198.51.100.200"); got != "limited" {
		t.Fatalf("zhang from a new address, after a spread of guesses: %s", got)
	}
	if got := login(t, a, "zhang", "password-zhang", "10.0.0.1"); got != "ok" {
		t.Fatalf("zhang from the office: %s", got)
	}
	// A stranger on the office's address tries every name.
	for i := range AddressFailures {
		login(t, a, fmt.Sprintf("guess%d", i), "wrong", "10.0.0.1")
	}
	if got := login(t, a, "wang", "whatever1", "10.0.0.1"); got != "limited" {
		t.Fatalf("a new name from the sprayed address: %s", got)
	}
	if got := login(t, a, "li", "password-li", "10.0.0.1"); got != "ok" {
		t.Fatalf("li from the office after the spray: %s", got)
	}
	// The known official's own mistakes still lock them out there.
	for range MaxFailures {
		login(t, a, "li", "wrong", "10.0.0.1")
	}
	if got := login(t, a, "li", "password-li", "10.0.0.1"); got != "limited" {
		t.Fatalf("li after their own %d failures: %s", MaxFailures, got)
	}
}

// TestIPv6AddressesCountByTheirNetwork: one /64 is one address.
func TestIPv6AddressesCountByTheirNetwork(t *testing.T) {
	a, _ := newAuth(t)
	if err := a.AddUser(t.Context(), "op", "password1", store.RoleOperator); err != nil {
		t.Fatal(err)
	}
	for i := range MaxFailures {
		login(t, a, "op", "wrong", fmt.Sprintf("2001:db8:1:2::%x", i+1))
	}
	if got := login(t, a, "op", "password1", "2001:db8:1:2:ffff::1"); got != "limited" {
		t.Fatalf("another address of the same /64: %s", got)
	}
	if got := login(t, a, "op", "password1", "2001:db8:1:3::1"); got != "ok" {
		t.Fatalf("another /64: %s", got)
	}
}

// TestEveryRefusalCostsOneComparison: a disabled account, an unknown name
// and a locked-out attempt are answered after a bcrypt comparison, like a
// wrong password; the disabled and the unknown in the same words.
func TestEveryRefusalCostsOneComparison(t *testing.T) {
	a, _, st := newAuthStore(t)
	ctx := t.Context()
	if err := a.AddUser(ctx, "op", "password1", store.RoleOperator); err != nil {
		t.Fatal(err)
	}
	if err := a.AddUser(ctx, "gone", "password1", store.RoleOperator); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Update(ctx, "", "gone", Change{Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	// The decoy is a real hash of the same cost, so comparing against it
	// takes as long as against an account's.
	u, err := st.GetUser(ctx, "op")
	if err != nil {
		t.Fatal(err)
	}
	cu, err := bcrypt.Cost(u.PasswordHash)
	if err != nil {
		t.Fatal(err)
	}
	if cd, err := bcrypt.Cost(a.decoy); err != nil || cd != cu {
		t.Fatalf("decoy cost %d (%v), accounts' %d", cd, err, cu)
	}
	for range MaxFailures {
		login(t, a, "op", "wrong", "10.0.0.9")
	}
	real, decoy := countCompares(a)
	var msgs []string
	for _, c := range []struct {
		name, pw, addr string
		want           error
		real           int64 // comparisons against the account's own hash
	}{
		{"op", "wrong", "10.0.0.1", ErrBadCredentials, 1},
		{"nobody", "password1", "10.0.0.1", ErrBadCredentials, 0},
		{"gone", "password1", "10.0.0.1", ErrBadCredentials, 1},
		{"op", "password1", "10.0.0.9", ErrRateLimited, 0},
	} {
		r0, d0 := real.Load(), decoy.Load()
		_, _, err := a.Login(ctx, c.name, c.pw, c.addr)
		if !errors.Is(err, c.want) {
			t.Fatalf("%s from %s: %v, want %v", c.name, c.addr, err, c.want)
		}
		if dr, dd := real.Load()-r0, decoy.Load()-d0; dr+dd != 1 || dr != c.real {
			t.Errorf("%s from %s: %d comparisons with its hash and %d with the decoy, want one in all, %d with its hash", c.name, c.addr, dr, dd, c.real)
		}
		if c.want == ErrBadCredentials {
			msgs = append(msgs, err.Error())
		}
	}
	if msgs[0] != msgs[1] || msgs[1] != msgs[2] {
		t.Errorf("refusals differ: %q", msgs)
	}
}

// TestLockoutsAreAudited: a lock-out of an account or of an address is a
// record in the trail; made-up names' are not.
func TestLockoutsAreAudited(t *testing.T) {
	a, _, st := newAuthStore(t)
	ctx := t.Context()
	if err := a.AddUser(ctx, "Zhang", "password1", store.RoleOperator); err != nil {
		t.Fatal(err)
	}
	for range MaxFailures {
		login(t, a, "ZHANG", "wrong", "10.0.0.9")
	}
	for range MaxFailures {
		login(t, a, "made-up", "wrong", "10.0.0.8")
	}
	for i := range AddressFailures {
		login(t, a, fmt.Sprintf("spray%d", i), "wrong", "192.0.2.66")
	}
	recs, err := st.ListAudit(ctx, store.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		if r.Action != "login.locked" || r.Actor != LockoutActor {
			t.Errorf("record %+v", r)
		}
		got = append(got, r.Target+": "+r.Note)
	}
	if len(got) != 2 ||
		!strings.HasPrefix(got[0], "user/zhang: 5 failed sign-ins from 10.0.0.9") || !strings.Contains(got[0], "1m0s") ||
		!strings.HasPrefix(got[1], "address/192.0.2.66: 20 failed sign-ins") {
		t.Errorf("lock-out records:\n%s", strings.Join(got, "\n"))
	}
}

// TestLimiterMemoryIsBounded: a spray of new names from new addresses does
// not grow the counts past maxTracked.
func TestLimiterMemoryIsBounded(t *testing.T) {
	l := newLimiter()
	now := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	for i := range maxTracked + maxTracked/2 {
		k := limitKeys(fmt.Sprintf("n%d", i), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
		tk, _, ok := l.admit(k, now)
		if !ok {
			t.Fatalf("attempt %d refused", i)
		}
		l.failed(tk, now)
		now = now.Add(time.Millisecond)
	}
	if len(l.pairs) > maxTracked || len(l.addrs) > maxTracked || len(l.accounts) > maxTracked {
		t.Errorf("%d pairs, %d addresses, %d accounts tracked; at most %d each", len(l.pairs), len(l.addrs), len(l.accounts), maxTracked)
	}
	// A long name is one key whatever it says.
	if k1, k2 := limitKeys(strings.Repeat("a", 5000), "10.0.0.1"), limitKeys(strings.Repeat("b", 5000), "10.0.0.1"); k1 != k2 || len(k1.account) > maxKeyBytes {
		t.Errorf("long names are keys %q and %q", k1.account[:10], k2.account[:10])
	}
}

// BenchmarkLogin shows that every refusal costs about the same (one
// bcrypt comparison at the default cost); compare the ns/op of each.
func BenchmarkLogin(b *testing.B) {
	a, clk, _ := newAuthCost(b, bcrypt.DefaultCost)
	ctx := b.Context()
	if err := a.AddUser(ctx, "op", "password1", store.RoleOperator); err != nil {
		b.Fatal(err)
	}
	if err := a.AddUser(ctx, "gone", "password1", store.RoleOperator); err != nil {
		b.Fatal(err)
	}
	if _, _, err := a.Update(ctx, "", "gone", Change{Disabled: ptr(true)}); err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name, user, pw string
		locked         bool
	}{
		{"wrong_password", "op", "wrong", false},
		{"unknown_user", "nobody", "password1", false},
		{"disabled", "gone", "password1", false},
		{"locked_out", "op", "password1", true},
	}
	for _, c := range cases {
		if c.locked {
			for range MaxFailures {
				_, _, _ = a.Login(ctx, "op", "wrong", "10.9.9.9") // setting up the lock-out, whose answers are timed below
			}
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if !c.locked {
					clk.Add(FailureWindow) // each failure alone in its window: no lock-out
				}
				_, _, _ = a.Login(ctx, c.user, c.pw, "10.9.9.9") // refused by design; timed, not checked
			}
		})
	}
}
