package audio

import (
	"math"
	"time"
)

// Gain scales p by db decibels (negative is quieter) into new samples,
// saturating at full scale rather than wrapping.
func Gain(p PCM, db float64) PCM {
	return scale(p, math.Pow(10, db/20))
}

// Volume scales p to percent (clamped to 0-100) of its level on a square
// law, which tracks loudness better than a straight line: 50 is about
// -12 dB, 10 is -40 dB and 0 is silence. 100 returns p as it is.
func Volume(p PCM, percent int) PCM {
	percent = min(max(percent, 0), 100)
	if percent == 100 {
		return p
	}
	f := float64(percent) / 100
	return scale(p, f*f)
}

func scale(p PCM, f float64) PCM {
	out := PCM{Rate: p.Rate, Channels: p.Channels, Samples: make([]int16, len(p.Samples))}
	for i, s := range p.Samples {
		out.Samples[i] = clip(float64(s) * f)
	}
	return out
}

// Chime is the pre-announcement "ding-dong", mono at rate (Hz): E5 then
// C5, each a struck-bell tone (a fundamental with a soft octave) that
// rises in 5 ms, so it does not click, and decays over its length. It
// peaks near -8 dBFS, leaving room for volume. 1.4 s long.
func Chime(rate int) PCM {
	if rate <= 0 {
		return PCM{Rate: rate, Channels: 1}
	}
	strike := func(dst []int16, freq float64) {
		n := len(dst)
		for i := range dst {
			t := float64(i) / float64(rate)
			attack := math.Min(1, t/0.005)
			release := math.Min(1, float64(n-i)/(0.02*float64(rate))) // no click at the end either
			env := attack * release * math.Exp(-3.5*t)
			v := math.Sin(2*math.Pi*freq*t) + 0.25*math.Sin(4*math.Pi*freq*t)
			dst[i] = clip(0.4 * math.MaxInt16 * env * v / 1.25)
		}
	}
	first := int(550 * time.Millisecond * time.Duration(rate) / time.Second)
	total := int(1400 * time.Millisecond * time.Duration(rate) / time.Second)
	s := make([]int16, total)
	strike(s[:first], 659.25)
	strike(s[first:], 523.25)
	return PCM{Rate: rate, Channels: 1, Samples: s}
}
