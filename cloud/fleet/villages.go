package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dalaba/dalaba/cloud/store"
)

// ErrRetired marks a change refused because the box was retired: it has
// no credentials and nothing more is signed or sent for it.
var ErrRetired = errors.New("fleet: box retired")

// Kicker ends a client's live MQTT session (*broker.Broker).
type Kicker interface {
	// Kick disconnects the client with session id clientID (a box's is
	// its id) and reports whether one was connected.
	Kick(clientID string) bool
}

// MaxPlace bounds a box's place, in characters.
const MaxPlace = 64

// ValidatePlace checks where a village lies in the township: at most
// MaxPlace characters, no control characters; empty is allowed.
func ValidatePlace(place string) error {
	if utf8.RuneCountInString(place) > MaxPlace || !utf8.ValidString(place) || strings.IndexFunc(place, unicode.IsControl) >= 0 {
		return fmt.Errorf("%w: place must be at most %d printable characters", ErrInvalid, MaxPlace)
	}
	return nil
}

// EditBox changes box id's name and place (nil: kept). A retired box may
// still be renamed: its records keep its name.
func (f *Fleet) EditBox(ctx context.Context, id string, name, place *string) (store.Box, error) {
	var errs []error
	if name != nil {
		errs = append(errs, ValidateName(*name))
	}
	if place != nil {
		errs = append(errs, ValidatePlace(*place))
	}
	if err := errors.Join(errs...); err != nil {
		return store.Box{}, err
	}
	var out store.Box
	err := f.st.UpdateBox(ctx, id, func(b *store.Box) error {
		if name != nil {
			b.Name = *name
		}
		if place != nil {
			b.Place = *place
		}
		out = *b
		return nil
	})
	if err != nil {
		return store.Box{}, fmt.Errorf("fleet: edit box %s: %w", id, err)
	}
	f.log.Info("box edited", "box_id", id)
	return out, nil
}

// RotateBox gives box id a new MQTT secret and returns the box with it,
// shown this once like the first. The old secret stops working at once:
// the broker and the media server check every sign-in against the store,
// and the box's live session is ended (Kicker), so it must come back with
// the new one. ErrRetired for a retired box.
func (f *Fleet) RotateBox(ctx context.Context, id string) (store.Box, string, error) {
	secret := newSecret()
	var out store.Box
	err := f.st.UpdateBoxCredentials(ctx, id, func(b *store.Box) error {
		if b.Retired() {
			return ErrRetired
		}
		b.SecretHash = SecretHash(secret)
		out = *b
		return nil
	})
	if err != nil {
		return store.Box{}, "", fmt.Errorf("fleet: rotate the credentials of %s: %w", id, err)
	}
	f.kickBox(id)
	f.log.Info("box credentials rotated", "box_id", id)
	return out, secret, nil
}

// RetireBox takes box id out of service: its credentials are removed (the
// broker and the media server refuse it from now on) and its live session
// is ended; its events, lists and plan stay for the record, and nothing
// more is signed or sent for it. Retiring a retired box changes nothing.
func (f *Fleet) RetireBox(ctx context.Context, id string) (store.Box, error) {
	var out store.Box
	already := false
	err := f.st.UpdateBoxCredentials(ctx, id, func(b *store.Box) error {
		if already = b.Retired(); !already {
			b.SecretHash, b.RetiredAt, b.Online = nil, f.now(), false
		}
		out = *b
		return nil
	})
	if err != nil {
		return store.Box{}, fmt.Errorf("fleet: retire %s: %w", id, err)
	}
	f.kickBox(id)
	if !already {
		f.log.Info("box retired", "box_id", id)
	}
	return out, nil
}

func (f *Fleet) kickBox(id string) {
	if f.kick != nil && f.kick.Kick(id) {
		f.log.Info("box's session ended; it must sign in again", "box_id", id)
	}
}
