package fleet

import (
	"context"
	"crypto/ed25519"
	"fmt"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// What zero-touch enrollment (cloud/enroll) needs of the fleet: what an
// edge config is told, box ids it may hand out, a secret for the box, and
// the box brought into service once its claim is used.

// Addresses are what the fleet writes into every edge config.
type Addresses struct {
	BrokerURL, MediaURL string
	Key                 ed25519.PublicKey // the township's
}

// Addresses returns the broker and media URLs and the township's key.
func (f *Fleet) Addresses() Addresses {
	return Addresses{BrokerURL: f.cfg.BrokerURL, MediaURL: f.cfg.MediaURL, Key: f.key.Public().(ed25519.PublicKey)}
}

// ValidateBoxID refuses, as ErrInvalid, what Register refuses as an id: a
// malformed one or the service's own MQTT user name.
func (f *Fleet) ValidateBoxID(id string) error {
	if err := protocol.ValidateBoxID(id); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if id == f.cfg.CloudUser {
		return fmt.Errorf("%w: box id %q is the township service's own MQTT user name", ErrInvalid, id)
	}
	return nil
}

// NewSecret is a fresh MQTT secret for a box (store SecretHash of it).
func NewSecret() string { return newSecret() }

// Enrolled brings box b into service once its claim was used: a box the
// claim created gets its first desired state signed, stored and published;
// a box registered before keeps its desired state, and its live session,
// made with the credentials the claim replaced, is ended. A failure to
// sign is logged: the next Refresh signs it.
func (f *Fleet) Enrolled(ctx context.Context, b store.Box, registered bool) {
	if registered {
		f.kickBox(b.ID)
		f.log.Info("box enrolled with a claim code", "box_id", b.ID)
		return
	}
	d, err := f.signNext(ctx, b.ID, nil)
	if err != nil {
		f.log.Warn("enrolled box has no desired state yet; the next refresh signs it", "box_id", b.ID, "err", err)
		return
	}
	f.log.Info("box enrolled with a claim code", "box_id", b.ID, "rev", d.Rev)
	f.publish(ctx, d)
}
