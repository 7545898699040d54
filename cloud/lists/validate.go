package lists

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dalaba/dalaba/protocol"
)

// Limits of what people write, in runes: a name fits a poster line, a
// reason one spoken sentence.
const (
	MaxName       = 32
	MaxReason     = 200
	MaxNote       = 500
	MaxPoints     = 100 // points of one entry or category, either sign
	MaxCategories = 50
)

// checkText refuses s unless it has min..max runes of valid UTF-8,
// without control characters or surrounding spaces. field names the
// input in the error.
func checkText(field, s string, min, max int) error {
	n := utf8.RuneCountInString(s)
	switch {
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s: not valid UTF-8", ErrInvalid, field)
	case n < min && min == 1:
		return fmt.Errorf("%w: %s: required", ErrInvalid, field)
	case n < min || n > max:
		return fmt.Errorf("%w: %s: %d characters, want %d to %d", ErrInvalid, field, n, min, max)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: %s: control characters (line breaks, tabs) are not allowed", ErrInvalid, field)
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("%w: %s: leading or trailing spaces", ErrInvalid, field)
	}
	return nil
}

// checkID refuses an id of a household or person the way box ids are
// checked: lowercase letters, digits, '-' and '_'.
func checkID(field, id string) error {
	if err := protocol.ValidateID(id); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalid, field, err)
	}
	return nil
}
