package audio

import (
	"errors"
	"fmt"
	"time"
)

// The sample rates the package accepts. Below 4 kHz nothing intelligible
// is left; above 96 kHz is studio material no loudspeaker here needs, and
// refusing it keeps the cost of a clip bounded.
const (
	MinRate = 4000
	MaxRate = 96000
)

// Errors every decoding failure wraps, so callers can branch with
// errors.Is and record why a file was refused.
var (
	ErrUnknownFormat = errors.New("audio: unknown format (neither WAV nor MP3)")
	ErrUnsupported   = errors.New("audio: unsupported encoding")
	ErrTruncated     = errors.New("audio: truncated")
	ErrMalformed     = errors.New("audio: malformed")
	ErrTooLong       = errors.New("audio: over the size or duration limit")
)

// Defaults for Limits.
const (
	// DefaultMaxDuration bounds decoded audio: longer than any
	// announcement, and 10 minutes of 44.1 kHz stereo is already 106 MB
	// of samples on a box with 512 MB of RAM.
	DefaultMaxDuration = 10 * time.Minute
	// DefaultMaxBytes bounds the encoded input a decoder reads.
	DefaultMaxBytes = 64 << 20
)

// Limits bound what decoding may allocate, so that a hostile header or a
// wrong file cannot exhaust the box. The zero value means the defaults.
type Limits struct {
	MaxDuration time.Duration // of decoded audio; 0 means DefaultMaxDuration
	MaxBytes    int64         // of encoded input; 0 means DefaultMaxBytes
}

func (l Limits) withDefaults() Limits {
	if l.MaxDuration <= 0 {
		l.MaxDuration = DefaultMaxDuration
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	return l
}

// maxFrames is how many frames (samples per channel) fit in MaxDuration at
// rate.
func (l Limits) maxFrames(rate int) int64 {
	return int64(l.MaxDuration / time.Millisecond * time.Duration(rate) / 1000)
}

// PCM is interleaved signed 16-bit audio: for stereo, Samples holds left,
// right, left, right...
type PCM struct {
	Rate     int // frames per second, MinRate to MaxRate
	Channels int // 1 or 2
	Samples  []int16
}

// Frames is the number of samples per channel.
func (p PCM) Frames() int {
	if p.Channels <= 0 {
		return 0
	}
	return len(p.Samples) / p.Channels
}

// Duration is how long p plays.
func (p PCM) Duration() time.Duration {
	if p.Rate <= 0 {
		return 0
	}
	return time.Duration(p.Frames()) * time.Second / time.Duration(p.Rate)
}

// Validate checks the format fields against the samples.
func (p PCM) Validate() error {
	if p.Rate < MinRate || p.Rate > MaxRate {
		return fmt.Errorf("audio: sample rate %d Hz outside %d-%d", p.Rate, MinRate, MaxRate)
	}
	if p.Channels != 1 && p.Channels != 2 {
		return fmt.Errorf("audio: %d channels: mono or stereo only", p.Channels)
	}
	if len(p.Samples)%p.Channels != 0 {
		return fmt.Errorf("audio: %d samples do not divide into %d channels", len(p.Samples), p.Channels)
	}
	return nil
}

// Mono mixes stereo down to one channel, the mean of left and right; mono
// comes back as it is (sharing its samples).
func (p PCM) Mono() PCM {
	if p.Channels != 2 {
		return p
	}
	out := make([]int16, len(p.Samples)/2)
	for i := range out {
		// The mean of two int16 always fits; an int32 sum avoids overflow.
		out[i] = int16((int32(p.Samples[2*i]) + int32(p.Samples[2*i+1])) >> 1)
	}
	return PCM{Rate: p.Rate, Channels: 1, Samples: out}
}

// Stereo copies mono into both channels; stereo comes back as it is.
func (p PCM) Stereo() PCM {
	if p.Channels != 1 {
		return p
	}
	out := make([]int16, 2*len(p.Samples))
	for i, s := range p.Samples {
		out[2*i], out[2*i+1] = s, s
	}
	return PCM{Rate: p.Rate, Channels: 2, Samples: out}
}

// Convert brings p to rate and channels (1 or 2), resampling and mixing as
// needed, e.g. to put a chime in front of an announcement with Concat.
func Convert(p PCM, rate, channels int) (PCM, error) {
	if channels != 1 && channels != 2 {
		return PCM{}, fmt.Errorf("audio: convert to %d channels: mono or stereo only", channels)
	}
	if channels == 1 {
		p = p.Mono()
	}
	out, err := Resample(p, rate)
	if err != nil {
		return PCM{}, err
	}
	if channels == 2 {
		out = out.Stereo()
	}
	return out, nil
}

// Silence is d of silence.
func Silence(rate, channels int, d time.Duration) PCM {
	frames := int(d * time.Duration(rate) / time.Second)
	return PCM{Rate: rate, Channels: channels, Samples: make([]int16, max(frames, 0)*channels)}
}

// Concat joins clips of one rate and channel count, in order, into new
// samples.
func Concat(clips ...PCM) (PCM, error) {
	if len(clips) == 0 {
		return PCM{}, errors.New("audio: concat: no clips")
	}
	out := PCM{Rate: clips[0].Rate, Channels: clips[0].Channels}
	n := 0
	for i, c := range clips {
		if err := c.Validate(); err != nil {
			return PCM{}, fmt.Errorf("audio: concat clip %d: %w", i, err)
		}
		if c.Rate != out.Rate || c.Channels != out.Channels {
			return PCM{}, fmt.Errorf("audio: concat clip %d: %d Hz %d ch after %d Hz %d ch (Convert it first)",
				i, c.Rate, c.Channels, out.Rate, out.Channels)
		}
		n += len(c.Samples)
	}
	out.Samples = make([]int16, 0, n)
	for _, c := range clips {
		out.Samples = append(out.Samples, c.Samples...)
	}
	return out, nil
}
