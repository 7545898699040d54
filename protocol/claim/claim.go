// Package claim is the zero-touch enrollment contract between a new box and
// the township: the claim code an installer types or puts on the box's boot
// partition, the keys both sides derive from it, the request the box sends
// and the sealed answer the township gives.
//
// A code is eight characters of Alphabet (40 random bits), written
// XXXX-XXXX. Both sides run Argon2id over it (Derive): the first half of
// the result is the proof the box sends, the second the key the answer is
// sealed with (XChaCha20-Poly1305). The township keeps only sha256 of the
// proof, to find the claim, and the answer it sealed when the code was made;
// the code itself and the sealing key exist only at that moment. So the
// code never crosses the network, whoever sees a request can neither read
// the answer nor forge one the box would accept, and a copy of the
// township's store gives neither the codes nor the box secrets they carry:
// each guess of a code costs an Argon2id.
//
// It imports the standard library and golang.org/x/crypto only.
package claim

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/dalaba/dalaba/protocol"
)

// Version is the schema version of Request and Answer.
const Version = 1

// Alphabet is what a code is written in: digits and capitals without 0, O,
// 1 and I, which are misread on paper. 32 symbols: 5 bits each.
const Alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// Length is a code's symbols, not counting the dash.
const Length = 8

// ErrCode: not a claim code (wrong length or a symbol outside Alphabet).
var ErrCode = errors.New("claim: not a claim code")

// ErrSealed: the answer was not sealed with this code's key, or was
// changed on its way.
var ErrSealed = errors.New("claim: the answer does not open with this code (altered, or for another code)")

// NewCode returns a fresh code from r (crypto/rand.Reader when nil).
func NewCode(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	raw := make([]byte, Length)
	if _, err := io.ReadFull(r, raw); err != nil {
		return "", fmt.Errorf("claim: new code: %w", err)
	}
	var b strings.Builder
	for i, x := range raw {
		if i == Length/2 {
			b.WriteByte('-')
		}
		b.WriteByte(Alphabet[x&31]) // 256 is a multiple of 32: no bias
	}
	return b.String(), nil
}

// Parse reads a code as a person may type it: any case, with or without
// the dash, spaces around and within. It returns the code as XXXX-XXXX.
func Parse(s string) (string, error) {
	var b strings.Builder
	n := 0
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ' || r == '\t' || r == '\n' || r == '\r':
			continue
		case r > 0x7f || !strings.ContainsRune(Alphabet, r):
			return "", fmt.Errorf("%w: %q is not one of its letters or digits (no 0, O, 1 or I)", ErrCode, r)
		}
		if n == Length {
			return "", fmt.Errorf("%w: more than %d letters and digits", ErrCode, Length)
		}
		if n == Length/2 {
			b.WriteByte('-')
		}
		b.WriteRune(r)
		n++
	}
	if n != Length {
		return "", fmt.Errorf("%w: %d letters and digits, want %d (XXXX-XXXX)", ErrCode, n, Length)
	}
	return b.String(), nil
}

// Argon2id cost: OWASP's minimum for interactive use (19 MiB, two
// passes), about 30 ms on a township server and well under a second on a
// Raspberry Pi 3, once per code on each side.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
)

// salt binds the derivation to this use. It is fixed because the box knows
// nothing of the township before it enrolls; the codes' randomness and the
// Argon2id cost are what stand against guessing.
var salt = []byte("dalaba/claim/v1")

// Keys are what a code yields.
type Keys struct {
	// Proof is what the box sends; the township finds the claim by
	// Lookup(Proof).
	Proof [32]byte
	// Seal is the key the answer is sealed with.
	Seal [32]byte
}

// Derive runs Argon2id over code (as Parse returns it).
func Derive(code string) Keys {
	out := argon2.IDKey([]byte(strings.ReplaceAll(code, "-", "")), salt, argonTime, argonMemory, argonThreads, 64)
	var k Keys
	copy(k.Proof[:], out[:32])
	copy(k.Seal[:], out[32:])
	return k
}

// Lookup is what the township keeps of a proof: its sha256. The proof is
// 256 bits derived at Argon2id cost, so a fast hash is enough here.
func Lookup(proof []byte) []byte {
	h := sha256.Sum256(proof)
	return h[:]
}

// Request is what the box sends: the proof, and the village it believes it
// is for ("" when it does not say).
type Request struct {
	V       int    `json:"v"`
	Proof   string `json:"proof"` // base64url of Keys.Proof, no padding
	Village string `json:"village,omitempty"`
}

// MaxRequest bounds a request body, in bytes.
const MaxRequest = 1 << 10

// NewRequest is the request of keys for village ("" for any).
func NewRequest(k Keys, village string) Request {
	return Request{V: Version, Proof: base64.RawURLEncoding.EncodeToString(k.Proof[:]), Village: village}
}

// DecodeRequest reads a request strictly and returns it with its proof's
// bytes.
func DecodeRequest(b []byte) (Request, []byte, error) {
	var r Request
	if err := strict(b, MaxRequest, &r); err != nil {
		return Request{}, nil, err
	}
	if r.V != Version {
		return Request{}, nil, fmt.Errorf("claim: request: version %d, want %d", r.V, Version)
	}
	p, err := base64.RawURLEncoding.DecodeString(r.Proof)
	if err != nil || len(p) != 32 {
		return Request{}, nil, errors.New("claim: request: proof: want 32 bytes in base64url")
	}
	if r.Village != "" {
		if err := protocol.ValidateBoxID(r.Village); err != nil {
			return Request{}, nil, fmt.Errorf("claim: request: village: %w", err)
		}
	}
	return r, p, nil
}

// Answer is what the box is given: everything its config needs.
type Answer struct {
	V           int       `json:"v"`
	BoxID       string    `json:"box_id"`
	Name        string    `json:"name"` // the village's name, for the config's comment
	BrokerURL   string    `json:"broker_url"`
	Username    string    `json:"username"`
	Password    string    `json:"password"`
	TownshipKey string    `json:"township_key"` // protocol.EncodePublicKey
	MediaURL    string    `json:"media_url,omitempty"`
	IssuedAt    time.Time `json:"issued_at"`
}

// Validate checks what a box relies on.
func (a Answer) Validate() error {
	var errs []error
	if a.V != Version {
		errs = append(errs, fmt.Errorf("version %d, want %d", a.V, Version))
	}
	if err := protocol.ValidateBoxID(a.BoxID); err != nil {
		errs = append(errs, fmt.Errorf("box_id: %w", err))
	}
	if a.BrokerURL == "" || a.Username == "" || a.Password == "" {
		errs = append(errs, errors.New("broker_url, username and password are required"))
	}
	if _, err := protocol.ParsePublicKey(a.TownshipKey); err != nil {
		errs = append(errs, fmt.Errorf("township_key: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("claim: answer: %w", err)
	}
	return nil
}

// Sealed is the township's answer on the wire.
type Sealed struct {
	V      int    `json:"v"`
	Sealed string `json:"sealed"` // base64url: 24-byte nonce, then the ciphertext
}

// MaxSealed bounds a sealed answer's body, in bytes.
const MaxSealed = 8 << 10

// ad ties a ciphertext to its use.
var ad = []byte("dalaba/claim/answer/v1")

// Seal seals a with key; the nonce is random.
func Seal(key [32]byte, a Answer) ([]byte, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	plain, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("claim: seal: %w", err)
	}
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, fmt.Errorf("claim: seal: %w", err)
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("claim: seal: %w", err)
	}
	return aead.Seal(nonce, nonce, plain, ad), nil
}

// Open reads the township's answer body with key: ErrSealed if it does
// not open (altered, or sealed for another code), an error if it opens to
// something that is not a valid Answer.
func Open(key [32]byte, body []byte) (Answer, error) {
	var s Sealed
	if err := strict(body, MaxSealed, &s); err != nil {
		return Answer{}, err
	}
	if s.V != Version {
		return Answer{}, fmt.Errorf("claim: answer: version %d, want %d", s.V, Version)
	}
	raw, err := base64.RawURLEncoding.DecodeString(s.Sealed)
	if err != nil {
		return Answer{}, fmt.Errorf("%w: not base64url", ErrSealed)
	}
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return Answer{}, fmt.Errorf("claim: open: %w", err)
	}
	if len(raw) < aead.NonceSize()+aead.Overhead() {
		return Answer{}, fmt.Errorf("%w: too short", ErrSealed)
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], ad)
	if err != nil {
		return Answer{}, ErrSealed
	}
	var a Answer
	if err := strict(plain, MaxSealed, &a); err != nil {
		return Answer{}, err
	}
	if err := a.Validate(); err != nil {
		return Answer{}, err
	}
	return a, nil
}

// EncodeSealed is the body the township answers with.
func EncodeSealed(sealed []byte) []byte {
	b, _ := json.Marshal(Sealed{V: Version, Sealed: base64.RawURLEncoding.EncodeToString(sealed)}) // a string and a number
	return b
}

// strict decodes b into v: no unknown fields, no trailing data, at most
// max bytes.
func strict(b []byte, max int, v any) error {
	if len(b) > max {
		return fmt.Errorf("claim: %d bytes, at most %d", len(b), max)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("claim: malformed: %w", err)
	}
	if dec.More() {
		return errors.New("claim: malformed: trailing data")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("claim: malformed: trailing data")
	}
	return nil
}
