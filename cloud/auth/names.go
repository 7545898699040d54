package auth

import (
	"fmt"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// MaxNameRunes bounds a user name.
const MaxNameRunes = 32

// User names. A name is stored in one canonical form, so "Admin",
// "ＡＤＭＩＮ" (full width) and "admin" are one account, and a name that
// merely looks like another ("аdmin" with a Cyrillic а, "admin" with a
// zero-width space) cannot be made at all. The rule is deliberately
// narrow, as an official's sign-in name needs no more:
//
//   - the name is normalised: Unicode NFKC, then case-folded (then NFKC
//     again, as folding can undo it);
//   - what remains may hold only ASCII letters a-z, digits, '.', '_' and
//     '-', or CJK Unified Ideographs (Chinese names), 1 to MaxNameRunes of
//     them, beginning with a letter, digit or ideograph;
//   - letters and ideographs are not mixed ("li王" is refused), so two
//     scripts cannot be combined into a look-alike.
//
// Accounts made before this rule keep their names as written: sign-in
// finds them by the same folding (see lookup), and a new name that folds
// to an existing one is refused as taken.

// CanonicalName is name in the form it is stored in, or ErrInvalid saying
// why it cannot be a user name.
func CanonicalName(name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: user name %s: use 1-%d lower-case letters a-z, digits, '.', '_' or '-', or Chinese characters (not both letters and characters), beginning with a letter, digit or character",
			ErrInvalid, why, MaxNameRunes)
	}
	if !utf8.ValidString(name) {
		return bad("is not valid UTF-8")
	}
	c := foldName(name)
	n := utf8.RuneCountInString(c)
	if n == 0 || n > MaxNameRunes {
		return bad(fmt.Sprintf("has %d characters", n))
	}
	var latin, han bool
	for i, r := range c {
		switch {
		case r >= 'a' && r <= 'z':
			latin = true
		case r >= '0' && r <= '9':
		case r == '.' || r == '_' || r == '-':
			if i == 0 {
				return bad(fmt.Sprintf("begins with %q", r))
			}
		case isHan(r):
			han = true
		default:
			return bad(fmt.Sprintf("holds %q (U+%04X)", r, r))
		}
	}
	if latin && han {
		return bad("mixes letters and Chinese characters")
	}
	return c, nil
}

// foldName is the key a name is looked up and rate limited by: NFKC,
// case-folded, NFKC. It does not judge the name; CanonicalName does.
func foldName(name string) string {
	// A Caser keeps state between calls: one per use, never shared.
	return norm.NFKC.String(cases.Fold().String(norm.NFKC.String(name)))
}

// isHan reports whether r is a CJK Unified Ideograph (the base block and
// extensions A to I). Compatibility ideographs and radicals are left out:
// NFKC maps the former to these, and the latter are look-alikes.
func isHan(r rune) bool {
	switch {
	case r >= 0x4E00 && r <= 0x9FFF: // CJK Unified Ideographs
	case r >= 0x3400 && r <= 0x4DBF: // extension A
	case r >= 0x20000 && r <= 0x2A6DF: // extension B
	case r >= 0x2A700 && r <= 0x2EE5F: // extensions C to F, I
	case r >= 0x30000 && r <= 0x323AF: // extensions G and H
	default:
		return false
	}
	return true
}
