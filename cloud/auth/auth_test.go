package auth

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
)

type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) Add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

func newAuth(t *testing.T) (*Auth, *fakeNow) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &fakeNow{t: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)}
	a, err := New(Deps{Store: st, Now: clk.Now, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	return a, clk
}

func TestBootstrapOnce(t *testing.T) {
	a, _ := newAuth(t)
	created, pw, err := a.Bootstrap(t.Context(), "")
	if err != nil || !created || len(pw) < 12 {
		t.Fatalf("first bootstrap: %v %q %v", created, pw, err)
	}
	if _, _, err := a.Login(t.Context(), "admin", pw, "1.1.1.1"); err != nil {
		t.Fatalf("generated password does not log in: %v", err)
	}
	created, _, err = a.Bootstrap(t.Context(), "other-password")
	if err != nil || created {
		t.Fatalf("second bootstrap created a user: %v %v", created, err)
	}
}

func TestLoginVerifyLogoutExpiry(t *testing.T) {
	a, clk := newAuth(t)
	ctx := t.Context()
	if err := a.AddUser(ctx, "李四", "correct horse", store.RoleReviewer); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Login(ctx, "李四", "wrong", "10.0.0.1"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, _, err := a.Login(ctx, "nobody", "correct horse", "10.0.0.1"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("unknown user: %v", err)
	}
	tok, exp, err := a.Login(ctx, "李四", "correct horse", "10.0.0.1")
	if err != nil || !exp.Equal(clk.Now().Add(TokenTTL)) {
		t.Fatalf("login: %v %v", exp, err)
	}
	u, err := a.Verify(ctx, tok)
	if err != nil || u.Name != "李四" || u.Role != store.RoleReviewer {
		t.Fatalf("verify: %+v %v", u, err)
	}
	if _, err := a.Verify(ctx, tok+"x"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("forged token: %v", err)
	}
	if err := a.Logout(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(ctx, tok); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("after logout: %v", err)
	}
	tok2, _, _ := a.Login(ctx, "李四", "correct horse", "10.0.0.1")
	clk.Add(TokenTTL)
	if _, err := a.Verify(ctx, tok2); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("expired token: %v", err)
	}
}

func TestLoginRateLimit(t *testing.T) {
	a, clk := newAuth(t)
	ctx := t.Context()
	if err := a.AddUser(ctx, "op", "password1", store.RoleOperator); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < MaxFailures; i++ {
		if _, _, err := a.Login(ctx, "op", "bad", "10.0.0.9"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	if _, _, err := a.Login(ctx, "op", "password1", "10.0.0.9"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("after %d failures even the right password is refused, got %v", MaxFailures, err)
	}
	if _, _, err := a.Login(ctx, "op", "password1", "10.0.0.10"); err != nil {
		t.Fatalf("another address is not limited: %v", err)
	}
	clk.Add(FailureWindow)
	if _, _, err := a.Login(ctx, "op", "password1", "10.0.0.9"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestAddUserValidation(t *testing.T) {
	a, _ := newAuth(t)
	cases := []struct {
		name, user, pw string
		role           store.Role
	}{
		{"empty name", "", "password1", store.RoleViewer},
		{"long name", "abcdefghijabcdefghijabcdefghijabc", "password1", store.RoleViewer},
		{"short password", "u", "short", store.RoleViewer},
		{"unknown role", "u", "password1", "king"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := a.AddUser(t.Context(), c.user, c.pw, c.role); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	if err := a.AddUser(t.Context(), "dup", "password1", store.RoleViewer); err != nil {
		t.Fatal(err)
	}
	if err := a.AddUser(t.Context(), "dup", "password1", store.RoleViewer); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
}

func TestAllowed(t *testing.T) {
	cases := []struct {
		role   store.Role
		action Action
		want   bool
	}{
		{store.RoleAdmin, ActionManageBoxes, true},
		{store.RoleAdmin, ActionSendCommands, true},
		{store.RoleOperator, ActionSendCommands, true},
		{store.RoleOperator, ActionManageBoxes, false},
		{store.RoleReviewer, ActionSendCommands, false},
		{store.RoleViewer, ActionViewBoxes, true},
		{store.RoleViewer, ActionSendCommands, false},
		{store.RoleViewer, ActionManageUsers, false},
		{store.RoleOperator, ActionManageBroadcast, true},
		{store.RoleAdmin, ActionManageBroadcast, true},
		{store.RoleReviewer, ActionManageBroadcast, false},
		{store.RoleViewer, ActionManageBroadcast, false},
		{"", ActionViewBoxes, false},
	}
	for _, c := range cases {
		if got := Allowed(c.role, c.action); got != c.want {
			t.Errorf("Allowed(%q, %d) = %v, want %v", c.role, c.action, got, c.want)
		}
	}
}
