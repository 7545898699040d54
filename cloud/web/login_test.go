package web

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/auth/forwarded"
	"github.com/dalaba/dalaba/cloud/store"
)

// signIn posts a sign-in as if from behind the proxy chain xff ("" for a
// direct request) and returns the status and Retry-After.
func (e *env) signIn(t *testing.T, name, password, xff string) (int, string) {
	t.Helper()
	hdr := map[string]string{}
	if xff != "" {
		hdr["X-Forwarded-For"] = xff
	}
	code, _, h := e.raw(t, "", "POST", "/api/v1/login", "application/json", fmt.Appendf(nil, `{"username":%q,"password":%q}`, name, password), hdr)
	return code, h.Get("Retry-After")
}

func TestLoginRateLimited(t *testing.T) {
	e := newEnv(t)
	for range auth.MaxFailures {
		if code, _ := e.signIn(t, "admin", "x", ""); code != 401 {
			t.Fatalf("failed login: %d", code)
		}
	}
	code, retry := e.signIn(t, "admin", "password-admin", "")
	if code != 429 || retry != strconv.Itoa(int(auth.FirstLockout/time.Second)) {
		t.Fatalf("status %d, Retry-After %q; want 429 and %d", code, retry, int(auth.FirstLockout/time.Second))
	}
}

// TestParallelGuessesOverHTTP: 200 guesses at one account at once get
// exactly MaxFailures answers of 401; every other is 429 with Retry-After.
func TestParallelGuessesOverHTTP(t *testing.T) {
	e := newEnv(t)
	const n = 200
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		count = map[int]int{}
		start = make(chan struct{})
	)
	for range n {
		wg.Go(func() {
			<-start
			code, retry := e.signIn(t, "operator", "a wrong guess", "")
			mu.Lock()
			defer mu.Unlock()
			count[code]++
			if code == 429 && retry == "" {
				count[-1]++ // a 429 without Retry-After
			}
		})
	}
	close(start)
	wg.Wait()
	if count[401] != auth.MaxFailures || count[429] != n-auth.MaxFailures || len(count) != 2 {
		t.Fatalf("answers by status %v, want %d × 401 and %d × 429, each 429 with Retry-After", count, auth.MaxFailures, n-auth.MaxFailures)
	}
}

// TestBehindTheProxy: with the proxy trusted, each official is counted by
// the address the proxy names, so one official's lock-out leaves the
// others alone; a client reaching the service directly cannot pick its
// address by sending the header itself.
func TestBehindTheProxy(t *testing.T) {
	t.Run("trusted", func(t *testing.T) {
		proxies, err := forwarded.New([]string{"127.0.0.1/32", "::1/128"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		e := newEnvWith(t, func(d *Deps) { d.Proxies = proxies })
		for range auth.MaxFailures {
			e.signIn(t, "operator", "wrong", "203.0.113.5")
		}
		if code, _ := e.signIn(t, "operator", "password-operator", "203.0.113.5"); code != 429 {
			t.Fatalf("the official who failed, from their address: %d, want 429", code)
		}
		if code, _ := e.signIn(t, "operator", "password-operator", "203.0.113.6"); code != 200 {
			t.Fatalf("the same account from another office behind the proxy: %d, want 200", code)
		}
		// What the client wrote left of the proxy's entry is not believed.
		if code, _ := e.signIn(t, "operator", "password-operator", "198.51.100.1, 203.0.113.5"); code != 429 {
			t.Fatalf("a forged hop before the real one: %d, want 429", code)
		}
	})
	t.Run("not trusted", func(t *testing.T) {
		e := newEnv(t)
		for i := range auth.MaxFailures {
			e.signIn(t, "operator", "wrong", fmt.Sprintf("203.0.113.%d", i))
		}
		if code, _ := e.signIn(t, "operator", "password-operator", "203.0.113.99"); code != 429 {
			t.Fatalf("a direct client naming a new address in the header: %d, want 429", code)
		}
	})
	t.Run("officials sharing the proxy's address", func(t *testing.T) {
		e := newEnv(t) // the proxy not listed: everyone comes from 127.0.0.1
		for range auth.MaxFailures {
			e.signIn(t, "operator", "wrong", "")
		}
		if code, _ := e.signIn(t, "operator", "password-operator", ""); code != 429 {
			t.Fatalf("the official who failed: %d, want 429", code)
		}
		for _, r := range []store.Role{store.RoleAdmin, store.RoleReviewer, store.RoleViewer} {
			if code, _ := e.signIn(t, string(r), "password-"+string(r), ""); code != http.StatusOK {
				t.Errorf("%s, from the same address: %d, want 200", r, code)
			}
		}
	})
}
