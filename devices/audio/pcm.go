// Package audio is the box's sound handling: a 16-bit PCM type, WAV and MP3
// decoding, resampling, gain, a pre-announcement chime and G.711 (μ-law and
// A-law) for RTP speakers. It knows nothing of speakers or schedules.
package audio

import (
	"errors"
	"fmt"
	"time"
)

// PCM is interleaved signed 16-bit audio.
type PCM struct {
	Rate     int // samples per second per channel
	Channels int // 1 or 2
	Samples  []int16
}

// Frames is the number of samples per channel.
func (p PCM) Frames() int {
	if p.Channels == 0 {
		return 0
	}
	return len(p.Samples) / p.Channels
}

// Duration is how long the audio plays.
func (p PCM) Duration() time.Duration {
	if p.Rate == 0 {
		return 0
	}
	return time.Duration(p.Frames()) * time.Second / time.Duration(p.Rate)
}

// Validate checks the format fields.
func (p PCM) Validate() error {
	if p.Rate < 4000 || p.Rate > 192000 {
		return fmt.Errorf("audio: sample rate %d Hz out of range", p.Rate)
	}
	if p.Channels != 1 && p.Channels != 2 {
		return fmt.Errorf("audio: %d channels: mono or stereo only", p.Channels)
	}
	if len(p.Samples)%p.Channels != 0 {
		return errors.New("audio: samples do not divide into channels")
	}
	return nil
}

// Mono mixes down to one channel (the average of left and right).
func (p PCM) Mono() PCM {
	if p.Channels != 2 {
		return p
	}
	out := make([]int16, len(p.Samples)/2)
	for i := range out {
		out[i] = int16((int32(p.Samples[2*i]) + int32(p.Samples[2*i+1])) / 2)
	}
	return PCM{Rate: p.Rate, Channels: 1, Samples: out}
}

// Concat joins clips of the same rate and channel count.
func Concat(clips ...PCM) (PCM, error) {
	if len(clips) == 0 {
		return PCM{}, errors.New("audio: nothing to join")
	}
	out := PCM{Rate: clips[0].Rate, Channels: clips[0].Channels}
	for _, c := range clips {
		if c.Rate != out.Rate || c.Channels != out.Channels {
			return PCM{}, fmt.Errorf("audio: cannot join %d Hz/%dch with %d Hz/%dch", c.Rate, c.Channels, out.Rate, out.Channels)
		}
		out.Samples = append(out.Samples, c.Samples...)
	}
	return out, nil
}

// Silence is d of silence.
func Silence(rate, channels int, d time.Duration) PCM {
	n := int(d * time.Duration(rate) / time.Second)
	return PCM{Rate: rate, Channels: channels, Samples: make([]int16, n*channels)}
}
