package auth

import (
	"errors"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/dalaba/dalaba/cloud/store"
)

var nameCases = []struct {
	name, in, want string // want "" = refused
}{
	{"plain", "admin", "admin"},
	{"capitals fold", "Admin", "admin"},
	{"full width folds", "ＡＤＭＩＮ", "admin"},
	{"digits and punctuation", "wang.wei_2-b", "wang.wei_2-b"},
	{"Chinese", "李四", "李四"},
	{"Chinese with digits", "王五2", "王五2"},
	{"extension B ideograph", "𠀋村", "𠀋村"},
	{"compatibility ideograph maps to unified", "\uF900", "\u8C48"},
	{"Cyrillic a", "аdmin", ""},
	{"Greek omicron", "rοot", ""},
	{"zero-width space", "ad\u200bmin", ""},
	{"control character", "ad\x07min", ""},
	{"newline", "admin\n", ""},
	{"space", "li si", ""},
	{"letters and Chinese", "li王", ""},
	{"leading dot", ".admin", ""},
	{"leading dash", "-x", ""},
	{"empty", "", ""},
	{"33 letters", "abcdefghijabcdefghijabcdefghijabc", ""},
	{"accented letter", "josé", ""},
	{"Kangxi radical", "\u2F00", "一"}, // NFKC maps it to the ideograph
	{"radical supplement", "\u2E80", ""},
	{"ideographic space", "李\u3000四", ""},
	{"fraction slash", "a⁄b", ""},
	{"invalid UTF-8", "ad\xffmin", ""},
	{"right-to-left mark", "admin\u200f", ""},
}

func TestCanonicalName(t *testing.T) {
	for _, c := range nameCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := CanonicalName(c.in)
			if c.want == "" {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("CanonicalName(%q) = %q, %v; want ErrInvalid", c.in, got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("CanonicalName(%q) = %q, %v; want %q", c.in, got, err, c.want)
			}
		})
	}
}

func FuzzCanonicalName(f *testing.F) {
	for _, c := range nameCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := CanonicalName(in)
		if err != nil {
			return
		}
		if again, err := CanonicalName(got); err != nil || again != got {
			t.Fatalf("%q → %q → %q, %v: not stable", in, got, again, err)
		}
		if foldName(got) != got || foldName(in) != got {
			t.Fatalf("%q → %q is not its own folding", in, got)
		}
		if n := utf8.RuneCountInString(got); n < 1 || n > MaxNameRunes {
			t.Fatalf("%q → %q: %d characters", in, got, n)
		}
		for _, r := range got {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' || isHan(r)) {
				t.Fatalf("%q → %q holds %U", in, got, r)
			}
		}
	})
}

// TestLookAlikesAreOneAccount: every spelling that folds to a name is
// that account, and a look-alike cannot be made.
func TestLookAlikesAreOneAccount(t *testing.T) {
	a, _ := newAuth(t)
	ctx := t.Context()
	if err := a.AddUser(ctx, "Admin", "password-admin", store.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	us, err := a.Users(ctx)
	if err != nil || len(us) != 1 || us[0].Name != "admin" {
		t.Fatalf("stored %+v %v, want the one account admin", us, err)
	}
	for _, dup := range []string{"admin", "ADMIN", "ＡＤＭＩＮ"} {
		if err := a.AddUser(ctx, dup, "password1", store.RoleViewer); !errors.Is(err, store.ErrExists) {
			t.Errorf("AddUser(%q): %v, want ErrExists", dup, err)
		}
	}
	for _, fake := range []string{"аdmin", "ad\u200bmin", "admin\u00a0"} {
		if err := a.AddUser(ctx, fake, "password1", store.RoleViewer); !errors.Is(err, ErrInvalid) {
			t.Errorf("AddUser(%q): %v, want ErrInvalid", fake, err)
		}
	}
	for i, spelling := range []string{"admin", "Admin", "ＡＤＭＩＮ"} {
		tok, _, err := a.Login(ctx, spelling, "password-admin", "10.0.0."+string(rune('1'+i)))
		if err != nil {
			t.Errorf("Login(%q): %v", spelling, err)
			continue
		}
		if u, err := a.Verify(ctx, tok); err != nil || u.Name != "admin" {
			t.Errorf("Login(%q) is %+v %v, want admin", spelling, u, err)
		}
	}
	if _, _, err := a.Login(ctx, "аdmin", "password-admin", "10.0.0.9"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("the Cyrillic look-alike signs in: %v", err)
	}
	if u, err := a.User(ctx, "ADMIN"); err != nil || u.Name != "admin" {
		t.Errorf("User(ADMIN) = %+v %v", u, err)
	}
	if _, _, err := a.Update(ctx, "admin", "ＡＤＭＩＮ", Change{Role: ptr(store.RoleViewer)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("an admin demoting themself by another spelling: %v, want ErrInvalid", err)
	}
}

// TestOlderNamesStillSignIn: accounts made before names were normalised
// keep their names as written, and sign in by them or by any spelling
// that folds alike, unless two of them fold alike.
func TestOlderNamesStillSignIn(t *testing.T) {
	a, _, st := newAuthStore(t)
	ctx := t.Context()
	hash, err := bcrypt.GenerateFromPassword([]byte("password1"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"Wang Wei", "José", "Li", "LI", "ＺＨＡＯ"} {
		if err := st.CreateUser(ctx, store.User{Name: n, PasswordHash: hash, Role: store.RoleOperator, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct{ typed, want string }{
		{"Wang Wei", "Wang Wei"},
		{"wang wei", "Wang Wei"},
		{"José", "José"},
		{"JOSÉ", "José"},
		{"Li", "Li"},
		{"LI", "LI"},
		{"zhao", "ＺＨＡＯ"},
		{"li", ""}, // two older names fold to it: neither
	}
	for i, c := range cases {
		tok, _, err := a.Login(ctx, c.typed, "password1", "192.0.2."+string(rune('1'+i)))
		if c.want == "" {
			if !errors.Is(err, ErrBadCredentials) {
				t.Errorf("Login(%q): %v, want ErrBadCredentials", c.typed, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Login(%q): %v", c.typed, err)
			continue
		}
		if u, err := a.Verify(ctx, tok); err != nil || u.Name != c.want {
			t.Errorf("Login(%q) is %q %v, want %q", c.typed, u.Name, err, c.want)
		}
	}
	// A new name folding to an older one is taken.
	if err := a.AddUser(ctx, "zhao", "password1", store.RoleViewer); !errors.Is(err, store.ErrExists) {
		t.Errorf("AddUser(zhao) beside ＺＨＡＯ: %v, want ErrExists", err)
	}
	// And admins change them by any spelling.
	if _, after, err := a.Update(ctx, "", "wang wei", Change{Disabled: ptr(true)}); err != nil || after.Name != "Wang Wei" || !after.Disabled {
		t.Errorf("disabling wang wei: %+v %v", after, err)
	}
}
