package audio

import (
	"math"
	"time"
)

// Resample converts p to rate with a windowed-sinc low-pass filter whose
// cutoff sits just below the lower of the two Nyquist frequencies, so that
// 44.1 kHz music brought down to 8 kHz for a paging speaker does not fold
// its high notes back as audible aliases. Cost: the filter spans 32 zero
// crossings of the lower rate, about 380 input samples per output sample at
// 44.1 → 8 kHz; clips are resampled once and cached, not per play.
func Resample(p PCM, rate int) PCM {
	if p.Rate == rate || len(p.Samples) == 0 {
		return p
	}
	ratio := float64(rate) / float64(p.Rate)
	cutoff := 0.47 * min(1, ratio) // of the input rate; 0.5 is Nyquist
	const zeroCrossings = 32
	half := int(math.Ceil(zeroCrossings / (2 * cutoff)))
	frames := p.Frames()
	outFrames := int(float64(frames) * ratio)
	out := PCM{Rate: rate, Channels: p.Channels, Samples: make([]int16, outFrames*p.Channels)}
	weights := make([]float64, 2*half+1)
	for n := 0; n < outFrames; n++ {
		t := float64(n) / ratio // position in input frames
		center := int(math.Floor(t))
		var wsum float64
		for k := -half; k <= half; k++ {
			x := t - float64(center+k)
			w := 2 * cutoff * sinc(2*cutoff*x) * blackman(x, float64(half)+1)
			weights[k+half] = w
			wsum += w
		}
		for c := 0; c < p.Channels; c++ {
			var acc float64
			for k := -half; k <= half; k++ {
				i := center + k
				if i < 0 || i >= frames {
					continue
				}
				acc += weights[k+half] * float64(p.Samples[i*p.Channels+c])
			}
			// Normalising by the weight sum keeps DC gain at exactly 1.
			out.Samples[n*p.Channels+c] = clip(acc / wsum)
		}
	}
	return out
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// blackman is the Blackman window over [-half, half].
func blackman(x, half float64) float64 {
	if x <= -half || x >= half {
		return 0
	}
	r := (x + half) / (2 * half)
	return 0.42 - 0.5*math.Cos(2*math.Pi*r) + 0.08*math.Cos(4*math.Pi*r)
}

func clip(v float64) int16 {
	v = math.Round(v)
	if v > math.MaxInt16 {
		return math.MaxInt16
	}
	if v < math.MinInt16 {
		return math.MinInt16
	}
	return int16(v)
}

// Gain scales p by db decibels, clipping at full scale.
func Gain(p PCM, db float64) PCM {
	return scale(p, math.Pow(10, db/20))
}

// Volume scales p to percent (0-100) of its level on a perceptual curve:
// 50% is about -12 dB, 0% is silence.
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

// Chime is the pre-announcement ding-dong: two decaying tones (E5 then
// C5), mono, at rate.
func Chime(rate int) PCM {
	tone := func(freq float64, d time.Duration) []int16 {
		n := int(d * time.Duration(rate) / time.Second)
		s := make([]int16, n)
		for i := range s {
			t := float64(i) / float64(rate)
			env := math.Exp(-4*t) * math.Min(1, t*200) // soft attack, bell-like decay
			s[i] = clip(0.5 * math.MaxInt16 * env * (math.Sin(2*math.Pi*freq*t) + 0.3*math.Sin(4*math.Pi*freq*t)) / 1.3)
		}
		return s
	}
	samples := append(tone(659.25, 600*time.Millisecond), tone(523.25, 900*time.Millisecond)...)
	return PCM{Rate: rate, Channels: 1, Samples: samples}
}
