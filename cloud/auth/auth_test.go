package auth

import (
	"errors"
	"path/filepath"
	"strings"
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

func newAuth(t testing.TB) (*Auth, *fakeNow) {
	t.Helper()
	a, clk, _ := newAuthStore(t)
	return a, clk
}

// newAuthStore is newAuth with its store, to look at the audit trail.
func newAuthStore(t testing.TB) (*Auth, *fakeNow, *boltstore.Store) {
	t.Helper()
	return newAuthCost(t, bcrypt.MinCost)
}

// newAuthCost is newAuthStore hashing at cost.
func newAuthCost(t testing.TB, cost int) (*Auth, *fakeNow, *boltstore.Store) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &fakeNow{t: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)}
	a, err := New(Deps{Store: st, Now: clk.Now, BcryptCost: cost})
	if err != nil {
		t.Fatal(err)
	}
	return a, clk, st
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

func TestAddUserValidation(t *testing.T) {
	a, _ := newAuth(t)
	cases := []struct {
		name, user, pw string
		role           store.Role
	}{
		{"empty name", "", "password1", store.RoleViewer},
		{"long name", "abcdefghijabcdefghijabcdefghijabc", "password1", store.RoleViewer},
		{"look-alike name", "аdmin", "password1", store.RoleViewer},
		{"name with a space", "li si", "password1", store.RoleViewer},
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

func ptr[T any](v T) *T { return &v }

// township is an auth with two admins (root, boss), an operator (op) and a
// viewer (vi), each signed in once; their passwords are "password-<name>".
func township(t *testing.T) (*Auth, map[string]string) {
	t.Helper()
	a, _ := newAuth(t)
	tokens := map[string]string{}
	for name, role := range map[string]store.Role{"root": store.RoleAdmin, "boss": store.RoleAdmin, "op": store.RoleOperator, "vi": store.RoleViewer} {
		if err := a.AddUser(t.Context(), name, "password-"+name, role); err != nil {
			t.Fatal(err)
		}
		tok, _, err := a.Login(t.Context(), name, "password-"+name, "10.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		tokens[name] = tok
	}
	return a, tokens
}

func TestUpdateAppliesAndEndsSessions(t *testing.T) {
	cases := []struct {
		name   string
		change Change
		// then checks the account after the change.
		then func(t *testing.T, a *Auth, before, after store.User)
	}{
		{"new role", Change{Role: ptr(store.RoleReviewer)}, func(t *testing.T, a *Auth, before, after store.User) {
			if before.Role != store.RoleOperator || after.Role != store.RoleReviewer {
				t.Errorf("role %s → %s, want operator → reviewer", before.Role, after.Role)
			}
			tok, _, err := a.Login(t.Context(), "op", "password-op", "10.0.0.2")
			if err != nil {
				t.Fatal(err)
			}
			if u, err := a.Verify(t.Context(), tok); err != nil || u.Role != store.RoleReviewer {
				t.Errorf("a new session: %+v %v, want a reviewer", u, err)
			}
		}},
		{"new password", Change{Password: ptr("a new password")}, func(t *testing.T, a *Auth, before, after store.User) {
			if string(before.PasswordHash) == string(after.PasswordHash) {
				t.Error("the hash did not change")
			}
			if _, _, err := a.Login(t.Context(), "op", "password-op", "10.0.0.2"); !errors.Is(err, ErrBadCredentials) {
				t.Errorf("the old password: %v, want ErrBadCredentials", err)
			}
			if _, _, err := a.Login(t.Context(), "op", "a new password", "10.0.0.2"); err != nil {
				t.Errorf("the new password: %v", err)
			}
		}},
		{"disabled, then enabled", Change{Disabled: ptr(true)}, func(t *testing.T, a *Auth, _, after store.User) {
			if !after.Disabled {
				t.Fatal("not disabled")
			}
			if _, _, err := a.Login(t.Context(), "op", "password-op", "10.0.0.2"); !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("a disabled account's login: %v, want ErrBadCredentials", err)
			}
			if _, _, err := a.Update(t.Context(), "root", "op", Change{Disabled: ptr(false)}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := a.Login(t.Context(), "op", "password-op", "10.0.0.3"); err != nil {
				t.Errorf("an enabled account's login: %v", err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, tokens := township(t)
			before, after, err := a.Update(t.Context(), "root", "op", c.change)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Verify(t.Context(), tokens["op"]); !errors.Is(err, ErrBadCredentials) {
				t.Errorf("op's session outlived the change: %v", err)
			}
			if _, err := a.Verify(t.Context(), tokens["vi"]); err != nil {
				t.Errorf("vi's session ended with op's change: %v", err)
			}
			c.then(t, a, before, after)
		})
	}
}

func TestUpdateRefusals(t *testing.T) {
	cases := []struct {
		name, by, user string
		change         Change
		want           error
		says           string
	}{
		{"nothing to change", "root", "op", Change{}, ErrInvalid, "nothing to change"},
		{"unknown role", "root", "op", Change{Role: ptr(store.Role("king"))}, ErrInvalid, "unknown role"},
		{"short password", "root", "op", Change{Password: ptr("short")}, ErrInvalid, "8-72 bytes"},
		{"long password", "root", "op", Change{Password: ptr(strings.Repeat("x", 73))}, ErrInvalid, "8-72 bytes"},
		{"good role, bad password", "root", "op", Change{Role: ptr(store.RoleAdmin), Password: ptr("short")}, ErrInvalid, "8-72 bytes"},
		{"demote oneself", "root", "root", Change{Role: ptr(store.RoleViewer)}, ErrInvalid, "themself"},
		{"disable oneself", "root", "root", Change{Disabled: ptr(true)}, ErrInvalid, "themself"},
		{"unknown user", "root", "nobody", Change{Role: ptr(store.RoleViewer)}, store.ErrNotFound, "nobody"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, tokens := township(t)
			before, err := a.Users(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = a.Update(t.Context(), c.by, c.user, c.change)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("Update = %v, want %v saying %q", err, c.want, c.says)
			}
			after, err := a.Users(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before) {
				t.Fatalf("%d users after, %d before", len(after), len(before))
			}
			for i := range after {
				b, x := before[i], after[i]
				if x.Role != b.Role || x.Disabled != b.Disabled || string(x.PasswordHash) != string(b.PasswordHash) {
					t.Errorf("%s changed: %+v → %+v", x.Name, b, x)
				}
			}
			for name, tok := range tokens {
				if _, err := a.Verify(t.Context(), tok); err != nil {
					t.Errorf("%s's session ended on a refused change: %v", name, err)
				}
			}
		})
	}
}

func TestUpdateKeepsAnAdmin(t *testing.T) {
	a, _ := township(t)
	ctx := t.Context()
	// boss may take root's admin role, since boss stays an admin.
	if _, _, err := a.Update(ctx, "boss", "root", Change{Role: ptr(store.RoleViewer)}); err != nil {
		t.Fatal(err)
	}
	// boss is now the last admin: not even someone else may demote or
	// disable boss (the command line acts as no user).
	for _, c := range []Change{{Role: ptr(store.RoleOperator)}, {Disabled: ptr(true)}} {
		if _, _, err := a.Update(ctx, "", "boss", c); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "last enabled admin") {
			t.Errorf("taking the last admin away: %v, want ErrInvalid", err)
		}
	}
	// A disabled admin does not count: with root an admin again but
	// disabled, boss is still the last.
	if _, _, err := a.Update(ctx, "boss", "root", Change{Role: ptr(store.RoleAdmin), Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Update(ctx, "", "boss", Change{Disabled: ptr(true)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("disabling the last enabled admin: %v, want ErrInvalid", err)
	}
	// Changing someone who is not an admin is not held up.
	if _, _, err := a.Update(ctx, "boss", "vi", Change{Role: ptr(store.RoleOperator)}); err != nil {
		t.Errorf("changing a viewer: %v", err)
	}
}

func TestLoginAndLogoutAreAudited(t *testing.T) {
	a, clk, st := newAuthStore(t)
	ctx := t.Context()
	if err := a.AddUser(ctx, "王五", "correct horse", store.RoleOperator); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Login(ctx, "王五", "wrong horse", "10.0.0.7"); !errors.Is(err, ErrBadCredentials) {
		t.Fatal(err)
	}
	tok, _, err := a.Login(ctx, "王五", "correct horse", "10.0.0.7")
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	if err := a.Logout(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := a.Logout(ctx, tok); err != nil { // twice is harmless and not recorded
		t.Fatal(err)
	}
	recs, err := st.ListAudit(ctx, store.AuditFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want a login and a logout: %+v", len(recs), recs)
	}
	login, logout := recs[0], recs[1]
	if login.Action != "login" || login.Actor != "王五" || login.Target != "user/王五" || !login.Time.Equal(clk.Now().Add(-time.Minute)) ||
		!strings.Contains(login.Note, "10.0.0.7") {
		t.Errorf("login record %+v", login)
	}
	if logout.Action != "logout" || logout.Actor != "王五" || !logout.Time.Equal(clk.Now()) {
		t.Errorf("logout record %+v", logout)
	}
	for _, r := range recs {
		all := string(r.Before) + string(r.After) + r.Note + r.Target
		if strings.Contains(all, "horse") || strings.Contains(all, tok) {
			t.Errorf("a secret in the trail: %+v", r)
		}
	}
}
