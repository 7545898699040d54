// Package speaker is the one interface every loudspeaker driver meets: play
// a clip, halt, say how it is. Drivers live in subpackages (soundcard,
// rtpspeaker, httpspeaker, speakersim). A driver knows nothing of
// schedules, zones or the township: the broadcast arbiter above decides
// what plays where.
package speaker

import (
	"context"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
)

// Speaker is a loudspeaker (or a group a driver addresses as one).
type Speaker interface {
	// Play plays pcm at real-time pace and returns when it has finished,
	// when ctx ends or when Halt is called; the driver converts the format
	// as it needs.
	Play(ctx context.Context, pcm audio.PCM) error
	// Halt stops what is playing now.
	Halt() error
	// Health says whether the speaker is reachable and its last error.
	Health() Health
}

// Health is a driver's view of its speaker.
type Health struct {
	Reachable bool
	LastError string
	Since     time.Time // when Reachable last changed
}

// Volumer is a speaker whose level can be set (0-100).
type Volumer interface {
	SetVolume(percent int) error
}
