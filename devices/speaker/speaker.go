package speaker

import (
	"context"
	"errors"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
)

// ErrHalted is what Play returns when Halt stopped it, so a caller can
// tell a clip cut short on purpose from one that finished (nil) or failed.
var ErrHalted = errors.New("speaker: halted")

// Speaker is a loudspeaker, or a group a driver addresses as one (a
// multicast group).
type Speaker interface {
	// Play sounds pcm, converting it to what the device takes, and blocks
	// at real-time pace until it has finished (nil), ctx ends
	// (ctx.Err(), promptly), Halt is called (ErrHalted) or the device
	// fails. One Play at a time: a second call waits for the first.
	Play(ctx context.Context, pcm audio.PCM) error
	// Halt stops what is playing now and returns at once; with nothing
	// playing it does nothing, and it never affects a later Play.
	Halt() error
	// Health is the driver's latest view of the device. It does not block.
	Health() Health
}

// Health is a driver's view of its speaker.
type Health struct {
	// Reachable is false once sending or playing to the device failed,
	// and true again after it succeeds; a driver starts optimistic.
	Reachable bool
	// LastError says why the device is unreachable; empty when it is
	// reachable.
	LastError string
	// Since is when Reachable last changed (or the driver was made).
	Since time.Time
}

// Volumer is a speaker whose level can be set, in percent (0-100) on the
// square law of audio.Volume; 100 plays clips as they are.
type Volumer interface {
	SetVolume(percent int) error
}

// Law is a G.711 companding law, by its RTP encoding name.
type Law string

// The laws.
const (
	ULaw Law = "PCMU" // μ-law: North America, Japan, most SIP horns
	ALaw Law = "PCMA" // A-law: China and Europe
)

// Frame is a piece of a live G.711 stream at 8 kHz: one byte a sample,
// usually 160 (20 ms).
type Frame struct {
	// Payload is shared by every speaker the frame goes to: read it,
	// never change or keep it past the next frame.
	Payload []byte
	// Timestamp is the source's RTP timestamp (8 kHz) of the first
	// sample; the step from one frame to the next says how much audio
	// was lost between them.
	Timestamp uint32
}

// Live is a speaker that takes a live G.711 stream (paging from a
// microphone) frame by frame, as it arrives, without a decode where it
// can be helped.
type Live interface {
	// PlayLive sounds the frames of in, each of law, as they arrive,
	// until in closes (nil), ctx ends (ctx.Err()), Halt is called
	// (ErrHalted) or the device fails. It takes its turn with Play: a
	// clip playing now finishes first.
	PlayLive(ctx context.Context, law Law, in <-chan Frame) error
}
