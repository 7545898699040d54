package store

import (
	"context"
	"time"
)

// ClaimStatus is where a claim code stands.
type ClaimStatus string

// Claim statuses.
const (
	ClaimOpen    ClaimStatus = "open"    // may still enroll its box
	ClaimUsed    ClaimStatus = "used"    // enrolled its box
	ClaimExpired ClaimStatus = "expired" // unused past ExpiresAt
	ClaimRevoked ClaimStatus = "revoked" // withdrawn by an official
)

// Claim is a single-use claim code for one village's box. The code itself
// is never stored: Lookup is sha256 of the proof a box derives from it
// (protocol/claim), and Sealed the box's answer, which only the code opens.
type Claim struct {
	ID      uint64 // assigned by the store: 1, 2, 3, ...
	Lookup  []byte // sha256 of the box's proof; unique
	Village string // the box id it enrolls
	Name    string // the village's name
	Place   string
	// Township is the unit the enrolled box will belong to (Box.Township).
	Township string
	// Sealed is the answer the box is given, sealed with a key only the
	// code yields; emptied once the claim is used or revoked.
	Sealed []byte
	// SecretHash is the hash of the MQTT secret inside Sealed: the box's
	// credentials once the claim is used.
	SecretHash []byte
	// BrokerURL, MediaURL and KeyID are what Sealed tells the box; a claim
	// whose township has since changed them can no longer be used.
	BrokerURL, MediaURL, KeyID string

	CreatedAt time.Time
	CreatedBy string
	ExpiresAt time.Time
	UsedAt    time.Time
	UsedFrom  string // the address the box enrolled from
	RevokedAt time.Time
	RevokedBy string
}

// Status is c's status at now.
func (c Claim) Status(now time.Time) ClaimStatus {
	switch {
	case !c.UsedAt.IsZero():
		return ClaimUsed
	case !c.RevokedAt.IsZero():
		return ClaimRevoked
	case !now.Before(c.ExpiresAt):
		return ClaimExpired
	}
	return ClaimOpen
}

// Claims keeps claim codes. Every change appends its audit record in the
// same transaction.
type Claims interface {
	// CreateClaims assigns each of cs the next id and stores them all with
	// a, or none: ErrExists when a Lookup is taken, or a village of cs is
	// named twice in cs or has a claim open at that claim's CreatedAt.
	// They are returned as stored.
	CreateClaims(ctx context.Context, cs []Claim, a AuditRecord) ([]Claim, error)
	// GetClaim returns ErrNotFound for an unknown id.
	GetClaim(ctx context.Context, id uint64) (Claim, error)
	// ListClaims returns every claim ordered by id.
	ListClaims(ctx context.Context) ([]Claim, error)
	// RevokeClaim lets fn change claim id (ErrNotFound if unknown) and
	// writes it with the audit record fn returns; if fn fails nothing is
	// written. Only RevokedAt and RevokedBy are taken from fn's changes,
	// and Sealed is emptied. fn must not call the store.
	RevokeClaim(ctx context.Context, id uint64, fn func(*Claim) (AuditRecord, error)) (Claim, error)
	// UseClaim finds the claim whose Lookup is lookup (ErrNotFound if
	// none) and the box of its village, and in one transaction lets fn
	// decide: fn gets the claim and the box (registered false, and b
	// holding only its ID, when the village has none yet), changes them and
	// returns the audit record. The claim is written with its UsedAt and
	// UsedFrom and without Sealed; the box is created (registered false)
	// or written as by UpdateBoxCredentials. If fn fails nothing is
	// written and its error returned. fn must not call the store.
	UseClaim(ctx context.Context, lookup []byte, fn func(c *Claim, b *Box, registered bool) (AuditRecord, error)) (Claim, Box, error)
}
