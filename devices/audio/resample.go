package audio

import (
	"fmt"
	"math"
)

// The resampling filter, in one place so its trade-off is visible. It is a
// Kaiser-windowed sinc low-pass whose cutoff is the Nyquist frequency of
// the lower of the two rates, with a transition band of 10% of that rate
// centred on it: for 44.1 kHz to 8 kHz the passband reaches 3.6 kHz (more
// than a telephone channel's 3.4 kHz) and everything above 4.4 kHz is
// down by stopbandDB, so the high notes of music cannot fold back as
// audible aliases. Only 3.6-4 kHz may receive a weak alias, where paging
// horns are already rolling off.
const (
	stopbandDB = 80.0
	transition = 0.10 // of the lower rate
	// maxPhases bounds the coefficient table for rate pairs with no small
	// common ratio (44.1 kHz to 8 kHz needs 80 phases); beyond it the
	// output instant is rounded to 1/1024 of an input sample, which is
	// inaudible.
	maxPhases = 1024
)

// Resample converts p to rate. Output frame n sits at input time
// n·p.Rate/rate exactly, so the result is not delayed against the input.
// A p already at rate comes back as it is, sharing its samples.
//
// Cost: the filter spans (stopbandDB-8)/(1.436·lower rate/input rate)
// input samples, about 280 multiply-adds per output sample from 44.1 kHz
// to 8 kHz, a few milliseconds per second of audio on a Raspberry Pi 4.
func Resample(p PCM, rate int) (PCM, error) {
	if err := p.Validate(); err != nil {
		return PCM{}, fmt.Errorf("audio: resample: %w", err)
	}
	if rate < MinRate || rate > MaxRate {
		return PCM{}, fmt.Errorf("audio: resample to %d Hz: outside %d-%d", rate, MinRate, MaxRate)
	}
	if rate == p.Rate {
		return p, nil
	}
	return newPolyphase(p.Rate, rate).apply(p), nil
}

// polyphase is a filter bank: row k of coef interpolates the output
// instants k/phases of the way from one input sample to the next.
type polyphase struct {
	up, down int64 // output and input rate over their greatest common divisor
	to       int
	phases   int
	half     int // taps reach half-1 samples before the output instant and half after
	taps     int
	coef     []float32
}

func newPolyphase(from, to int) *polyphase {
	g := gcd(from, to)
	f := &polyphase{up: int64(to / g), down: int64(from / g), to: to}
	f.phases = int(min(f.up, maxPhases))
	lower := float64(min(from, to))
	// Cutoff and transition width in cycles per input sample.
	cutoff := 0.5 * lower / float64(from)
	width := transition * lower / float64(from)
	// Kaiser's estimates of the length and shape for the attenuation.
	n := int(math.Ceil((stopbandDB - 7.95) / (14.36 * width)))
	beta := 0.1102 * (stopbandDB - 8.7)
	f.half = n/2 + 1
	f.taps = 2 * f.half
	f.coef = make([]float32, f.phases*f.taps)
	ib := besselI0(beta)
	w := make([]float64, f.taps)
	for ph := range f.phases {
		frac := float64(ph) / float64(f.phases)
		row := f.coef[ph*f.taps : (ph+1)*f.taps]
		clear(w)
		var sum float64
		for j := range w {
			x := frac - float64(j-f.half+1) // distance from the output instant to the tap's sample
			r := x / float64(f.half)
			if r <= -1 || r >= 1 {
				continue
			}
			w[j] = 2 * cutoff * sinc(2*cutoff*x) * besselI0(beta*math.Sqrt(1-r*r)) / ib
			sum += w[j]
		}
		// Each row sums to one, so a constant signal keeps its level
		// whichever phase produced a sample.
		for j := range row {
			row[j] = float32(w[j] / sum)
		}
	}
	return f
}

func (f *polyphase) apply(p PCM) PCM {
	frames := p.Frames()
	outFrames := int(int64(frames) * f.up / f.down)
	ch := p.Channels
	out := PCM{Rate: f.to, Channels: ch, Samples: make([]int16, outFrames*ch)}
	for n := range outFrames {
		pos := int64(n) * f.down
		base := int(pos / f.up)
		ph := int((pos % f.up) * int64(f.phases) / f.up)
		row := f.coef[ph*f.taps : (ph+1)*f.taps]
		start := base - f.half + 1
		for c := range ch {
			var acc float32
			switch {
			case ch == 1 && start >= 0 && start+f.taps <= frames:
				acc = dot(row, p.Samples[start:start+f.taps])
			case start >= 0 && start+f.taps <= frames:
				src := p.Samples[start*ch+c:]
				for j, k := range row {
					acc += k * float32(src[j*ch])
				}
			default: // near either end, samples outside the clip are silence
				for j, k := range row {
					if i := start + j; i >= 0 && i < frames {
						acc += k * float32(p.Samples[i*ch+c])
					}
				}
			}
			out.Samples[n*ch+c] = clip(float64(acc))
		}
	}
	return out
}

// dot is the inner product of row and src (of equal length), with four
// running sums so the additions do not wait on each other: the mono case
// rtpspeaker hits, about twice as fast as the plain loop.
func dot(row []float32, src []int16) float32 {
	var a0, a1, a2, a3 float32
	src = src[:len(row)]
	j := 0
	for ; j+4 <= len(row); j += 4 {
		a0 += row[j] * float32(src[j])
		a1 += row[j+1] * float32(src[j+1])
		a2 += row[j+2] * float32(src[j+2])
		a3 += row[j+3] * float32(src[j+3])
	}
	for ; j < len(row); j++ {
		a0 += row[j] * float32(src[j])
	}
	return (a0 + a1) + (a2 + a3)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// besselI0 is the modified Bessel function of the first kind, order 0, by
// its power series; it converges fast for the β a Kaiser window uses, to
// well beyond the float32 precision the coefficients are kept in.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < 1e-10*sum {
			break
		}
	}
	return sum
}

// clip rounds v to the nearest sample, saturating at full scale.
func clip(v float64) int16 {
	v = math.Round(v)
	switch {
	case v > math.MaxInt16:
		return math.MaxInt16
	case v < math.MinInt16:
		return math.MinInt16
	case v != v: // NaN, which no finite input produces; silence is safest
		return 0
	}
	return int16(v)
}
