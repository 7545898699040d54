package fleet

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"

	"github.com/dalaba/dalaba/cloud/broker"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Authenticator admits clients to the embedded broker: the service's own
// client, with a password made afresh by NewAuthenticator and held only in
// memory, as broker.Identity{Cloud: true}; a registered box in service
// whose password hashes to its stored SecretHash as that box; nobody else.
// It reads the store at every attempt, so a rotated secret or a retired
// box is refused from the next connect (or media download) on.
type Authenticator struct {
	boxes     store.Boxes
	cloudUser string
	cloudPass []byte
}

var _ broker.Authenticator = (*Authenticator)(nil)

// NewAuthenticator makes the service's password for this run.
func NewAuthenticator(boxes store.Boxes, cloudUser string) (*Authenticator, error) {
	if boxes == nil || cloudUser == "" {
		return nil, errors.New("fleet: authenticator: a store and the cloud's user name are required")
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw) // crypto/rand.Read never fails on Linux
	return &Authenticator{boxes: boxes, cloudUser: cloudUser, cloudPass: []byte(base64.RawURLEncoding.EncodeToString(raw))}, nil
}

// CloudPassword is the service's own MQTT password for this run.
func (a *Authenticator) CloudPassword() string { return string(a.cloudPass) }

// Authenticate implements broker.Authenticator. Secrets are compared in
// constant time.
func (a *Authenticator) Authenticate(ctx context.Context, username string, password []byte) (broker.Identity, bool) {
	if username == a.cloudUser {
		ok := subtle.ConstantTimeCompare(password, a.cloudPass) == 1
		return broker.Identity{Cloud: ok}, ok
	}
	if protocol.ValidateBoxID(username) != nil {
		return broker.Identity{}, false
	}
	b, err := a.boxes.GetBox(ctx, username)
	if err != nil || len(b.SecretHash) == 0 || b.Retired() {
		return broker.Identity{}, false
	}
	if subtle.ConstantTimeCompare(SecretHash(string(password)), b.SecretHash) != 1 {
		return broker.Identity{}, false
	}
	return broker.Identity{Box: b.ID}, true
}
