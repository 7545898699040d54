package edge

import (
	"context"

	"github.com/dalaba/dalaba/edge/enroll"
)

// Zero-touch enrollment (edge/enroll), for dalaba-edge's enroll command
// and its first boot.

// EnrollOptions say where to enroll and what to write.
type EnrollOptions = enroll.Options

// EnrollResult is what was enrolled.
type EnrollResult = enroll.Result

// EnrollRefused is the township's refusal, with the sentence to print.
type EnrollRefused = enroll.RefusedError

// ClaimFile is the first boot's claim file.
type ClaimFile = enroll.ClaimFile

// ErrEnrolled: the config names a box already.
var ErrEnrolled = enroll.ErrExists

// Enroll asks the township for the box's identity with a claim code and
// writes its config; nothing is written on a refusal or a failure.
func Enroll(ctx context.Context, o EnrollOptions) (EnrollResult, error) { return enroll.Enroll(ctx, o) }

// EnrollTransient reports whether an enrollment failure may pass later.
func EnrollTransient(err error) bool { return enroll.Transient(err) }

// ReadClaimFile reads the first boot's claim file.
func ReadClaimFile(path string) (ClaimFile, error) { return enroll.ReadClaimFile(path) }

// HasIdentity reports whether the config at path names a box.
func HasIdentity(path string) (bool, error) { return enroll.HasIdentity(path) }
