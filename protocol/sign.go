package protocol

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Envelope wraps a signed body. Sig is the ed25519 signature over
// signingBytes(kind, box, Body), Body being the exact bytes sent: the
// verifier never re-encodes, so there is no JSON canonicalisation to get
// wrong. The kind and box id are part of what is signed, so a desired state
// for one box cannot be replayed to another, nor a command as a desired state.
type Envelope struct {
	V    int             `json:"v"`
	Body json.RawMessage `json:"body"`
	Sig  []byte          `json:"sig"`
}

func signingBytes(k Kind, box string, body []byte) []byte {
	b := make([]byte, 0, len(body)+len(k)+len(box)+16)
	b = append(b, "dalaba/v1/"...)
	b = append(b, k...)
	b = append(b, '\n')
	b = append(b, box...)
	b = append(b, '\n')
	return append(b, body...)
}

func seal(key ed25519.PrivateKey, k Kind, box string, body any) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("protocol: sign %s: private key is %d bytes, want %d", k, len(key), ed25519.PrivateKeySize)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("protocol: sign %s: %w", k, err)
	}
	env := Envelope{V: Version, Body: raw, Sig: ed25519.Sign(key, signingBytes(k, box, raw))}
	return Marshal(k, env)
}

// open checks size, envelope and signature, then strictly decodes the body.
func open(pub ed25519.PublicKey, k Kind, box string, payload []byte, dst any) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("protocol: verify %s: public key is %d bytes, want %d", k, len(pub), ed25519.PublicKeySize)
	}
	var env Envelope
	if err := decodeStrict(k, payload, &env); err != nil {
		return err
	}
	if len(env.Sig) == 0 {
		return reject(k, ReasonUnsigned, nil)
	}
	if len(env.Body) == 0 {
		return reject(k, ReasonMalformed, errors.New("empty body"))
	}
	if len(env.Sig) != ed25519.SignatureSize || !ed25519.Verify(pub, signingBytes(k, box, env.Body), env.Sig) {
		return reject(k, ReasonBadSignature, nil)
	}
	return decodeStrict(k, env.Body, dst)
}

// SignDesired validates d and returns the signed payload for box d.BoxID's
// desired topic. d.V is set to Version.
func SignDesired(key ed25519.PrivateKey, d Desired) ([]byte, error) {
	d.V = Version
	if err := ValidateBoxID(d.BoxID); err != nil {
		return nil, err
	}
	if err := validateDesired(d); err != nil {
		return nil, fmt.Errorf("protocol: sign desired: %w", err)
	}
	return seal(key, KindDesired, d.BoxID, d)
}

// OpenDesired verifies and decodes a payload from box's desired topic. It
// refuses an unsigned or badly signed payload, one for another box, and one
// expired at now. Whether Rev is newer than what the box has is the box's
// own check.
func OpenDesired(pub ed25519.PublicKey, box string, payload []byte, now time.Time) (Desired, error) {
	var d Desired
	if err := open(pub, KindDesired, box, payload, &d); err != nil {
		return Desired{}, err
	}
	if err := checkBox(KindDesired, box, d.BoxID); err != nil {
		return Desired{}, err
	}
	if err := validateDesired(d); err != nil {
		return Desired{}, reject(KindDesired, ReasonInvalid, err)
	}
	if expired(now, d.ExpiresAt) {
		return Desired{}, reject(KindDesired, ReasonExpired, fmt.Errorf("rev %d expired at %s", d.Rev, d.ExpiresAt.Format(time.RFC3339)))
	}
	return d, nil
}

// SignCommand validates c and returns the signed payload for box c.BoxID's
// cmd topic. c.V is set to Version.
func SignCommand(key ed25519.PrivateKey, c Command) ([]byte, error) {
	c.V = Version
	if err := ValidateBoxID(c.BoxID); err != nil {
		return nil, err
	}
	if err := validateCommand(c); err != nil {
		return nil, fmt.Errorf("protocol: sign command: %w", err)
	}
	return seal(key, KindCmd, c.BoxID, c)
}

// OpenCommand verifies and decodes a payload from box's cmd topic, refusing
// what is unsigned, badly signed, for another box or expired at now. Refusing
// a replayed ID is the box's own check.
func OpenCommand(pub ed25519.PublicKey, box string, payload []byte, now time.Time) (Command, error) {
	var c Command
	if err := open(pub, KindCmd, box, payload, &c); err != nil {
		return Command{}, err
	}
	if err := checkBox(KindCmd, box, c.BoxID); err != nil {
		return Command{}, err
	}
	if err := validateCommand(c); err != nil {
		return Command{}, reject(KindCmd, ReasonInvalid, err)
	}
	if expired(now, c.ExpiresAt) {
		return Command{}, reject(KindCmd, ReasonExpired, fmt.Errorf("command %s expired at %s", c.ID, c.ExpiresAt.Format(time.RFC3339)))
	}
	return c, nil
}

// GenerateKey makes a township signing key.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("protocol: generate key: %w", err)
	}
	return priv, nil
}

// EncodePrivateKey returns the key's 32-byte seed in standard base64, the
// form the cloud keeps on disk.
func EncodePrivateKey(k ed25519.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(k.Seed())
}

// ParsePrivateKey reads what EncodePrivateKey wrote.
func ParsePrivateKey(s string) (ed25519.PrivateKey, error) {
	seed, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("protocol: private key: want %d bytes of base64", ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// EncodePublicKey returns the public key in standard base64, the form pinned
// in a box's config.
func EncodePublicKey(k ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(k) }

// ParsePublicKey reads what EncodePublicKey wrote.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("protocol: public key: want %d bytes of base64", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}
