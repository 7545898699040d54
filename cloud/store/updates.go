package store

import (
	"context"
	"time"
)

// Release is a version of dalaba-edge the township can send to its boxes:
// a binary per architecture, each with the manifest the township signed.
type Release struct {
	Version    string
	Notes      string
	Binaries   []ReleaseBinary // at most one per architecture, ordered by Arch
	UploadedBy string
	UploadedAt time.Time
}

// Binary returns the release's binary for arch.
func (r Release) Binary(arch string) (ReleaseBinary, bool) {
	for _, b := range r.Binaries {
		if b.Arch == arch {
			return b, true
		}
	}
	return ReleaseBinary{}, false
}

// ReleaseBinary is one architecture's binary of a release.
type ReleaseBinary struct {
	Arch     string
	SHA256   string
	Size     int64
	Manifest []byte // signed, protocol.SignManifest
}

// States of a rollout.
const (
	RolloutRunning   = "running"
	RolloutPaused    = "paused"
	RolloutDone      = "done"
	RolloutCancelled = "cancelled"
)

// States of a box in a rollout.
const (
	BoxWaiting = "waiting" // its wave has not begun
	BoxSent    = "sent"    // told to update; not yet proved
	BoxUpdated = "updated" // reports the new version, committed
	BoxFailed  = "failed"  // refused, rolled back, or silent too long
)

// Rollout sends a release to boxes in waves.
type Rollout struct {
	ID      string
	Version string
	// Waves are cumulative percentages of Boxes, ending at 100: wave i
	// covers the first ceil(Waves[i]% of len(Boxes)) boxes.
	Waves []int
	// MaxFailures: the rollout pauses itself once more boxes than this
	// failed.
	MaxFailures int
	State       string // one of the Rollout* states
	Wave        int    // the wave under way, from 0
	Reason      string // why it paused, for people
	Boxes       []RolloutBox
	CreatedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// RolloutBox is one box's part in a rollout.
type RolloutBox struct {
	BoxID  string
	Wave   int
	State  string // one of the Box* states
	Code   string // why it failed: a command result code, or the box's roll-back reason
	Detail string
	SentAt time.Time
	DoneAt time.Time
	Tries  int
}

// Updates keeps releases and rollouts.
type Updates interface {
	// PutRelease stores a new release; ErrExists if its version is taken.
	PutRelease(ctx context.Context, r Release) error
	// GetRelease returns ErrNotFound for an unknown version.
	GetRelease(ctx context.Context, version string) (Release, error)
	// ListReleases returns every release, newest upload first.
	ListReleases(ctx context.Context) ([]Release, error)
	// CreateRollout stores a new rollout; ErrExists if its id is taken.
	CreateRollout(ctx context.Context, r Rollout) error
	// GetRollout returns ErrNotFound for an unknown id.
	GetRollout(ctx context.Context, id string) (Rollout, error)
	// ListRollouts returns every rollout, newest first.
	ListRollouts(ctx context.Context) ([]Rollout, error)
	// UpdateRollout reads rollout id, lets fn change it and writes it
	// back in one transaction; ID is not changeable. If fn returns an
	// error nothing is written and the error is returned.
	UpdateRollout(ctx context.Context, id string, fn func(*Rollout) error) error
}
