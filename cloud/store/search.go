package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// A search cursor (EventFilter.Cursor) is, per box not yet done, the
// Position below which that box's events resume, as base64url JSON. Every
// implementation makes and reads it with these two, so a cursor means the
// same whichever store handed it out.

// Bounds checks f and decodes its cursor: each box's resume bound, nil
// when f starts with the newest events. ErrBadFilter for a Limit below 1,
// From after To, or a cursor not made for f.
func (f EventFilter) Bounds() (map[string]uint64, error) {
	if f.Limit < 1 {
		return nil, fmt.Errorf("%w: limit %d, want at least 1", ErrBadFilter, f.Limit)
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.From.After(f.To) {
		return nil, fmt.Errorf("%w: from %s is after to %s", ErrBadFilter, f.From, f.To)
	}
	if f.Cursor == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(f.Cursor)
	var bounds map[string]uint64
	if err == nil {
		err = json.Unmarshal(raw, &bounds)
	}
	if err != nil || len(bounds) == 0 {
		return nil, fmt.Errorf("%w: malformed cursor", ErrBadFilter)
	}
	for box, bound := range bounds {
		if bound == 0 || (f.BoxID != "" && box != f.BoxID) {
			return nil, fmt.Errorf("%w: the cursor is not one of this search", ErrBadFilter)
		}
	}
	return bounds, nil
}

// EncodeCursor is the cursor that resumes a search at bounds; "" when
// bounds is empty, every box being done.
func EncodeCursor(bounds map[string]uint64) (string, error) {
	if len(bounds) == 0 {
		return "", nil
	}
	b, err := json.Marshal(bounds)
	if err != nil {
		return "", fmt.Errorf("encode cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
