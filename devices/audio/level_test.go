package audio

import (
	"math"
	"testing"
)

func TestGain(t *testing.T) {
	p := tone(8000, 440, 10000, 0.2)
	cases := []struct {
		db    float64
		ratio float64
	}{
		{0, 1}, {-6, 0.501}, {-20, 0.1}, {6, 1.995},
	}
	for _, c := range cases {
		if r := rms(Gain(p, c.db).Samples) / rms(p.Samples); math.Abs(r-c.ratio) > 0.005 {
			t.Errorf("%+.0f dB scaled by %.3f, want %.3f", c.db, r, c.ratio)
		}
	}
	loud := Gain(p, 20)
	peak := 0
	for i, s := range loud.Samples {
		// Saturation keeps each sample's sign: wrapping would flip it.
		if (s > 0) != (p.Samples[i] > 0) && p.Samples[i] != 0 {
			t.Fatalf("sample %d: %d became %d", i, p.Samples[i], s)
		}
		peak = max(peak, int(s))
	}
	if peak != math.MaxInt16 {
		t.Errorf("+20 dB peak %d, want clipped at %d", peak, math.MaxInt16)
	}
}

func TestVolume(t *testing.T) {
	p := tone(8000, 440, 10000, 0.2)
	level := func(percent int) float64 {
		return 20 * math.Log10(max(rms(Volume(p, percent).Samples), 1e-9)/rms(p.Samples))
	}
	cases := []struct {
		percent int
		db      float64
	}{
		{100, 0}, {150, 0}, {50, -12.04}, {10, -40},
	}
	for _, c := range cases {
		if got := level(c.percent); math.Abs(got-c.db) > 0.1 {
			t.Errorf("volume %d: %.2f dB, want %.2f", c.percent, got, c.db)
		}
	}
	for _, v := range []int{0, -5} {
		if r := rms(Volume(p, v).Samples); r != 0 {
			t.Errorf("volume %d: rms %.1f, want silence", v, r)
		}
	}
	for v := 1; v <= 100; v++ {
		if level(v) <= level(v-1) {
			t.Fatalf("volume %d is not louder than %d", v, v-1)
		}
	}
}

func TestChime(t *testing.T) {
	for _, rate := range []int{8000, 16000, 44100} {
		c := Chime(rate)
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if c.Duration().Milliseconds() != 1400 {
			t.Errorf("%d Hz: %s long", rate, c.Duration())
		}
		first, second := c.Samples[:c.Frames()*55/140], c.Samples[c.Frames()*55/140:]
		if rms(first) < 2000 || rms(second) < 2000 {
			t.Errorf("%d Hz: rms %.0f then %.0f: a tone is missing", rate, rms(first), rms(second))
		}
		peak := 0
		for _, s := range c.Samples {
			peak = max(peak, int(s), -int(s))
		}
		if peak >= 20000 {
			t.Errorf("%d Hz: peak %d leaves no headroom", rate, peak)
		}
		// It starts and ends in silence, so it does not click.
		if a, b := c.Samples[0], c.Samples[len(c.Samples)-1]; a != 0 || b < -100 || b > 100 {
			t.Errorf("%d Hz: starts at %d, ends at %d", rate, a, b)
		}
		// Two pitches: E5 in the first part has more zero crossings per
		// second than C5 in the second.
		if z1, z2 := crossingRate(first), crossingRate(second); z1 < 1.2*z2 {
			t.Errorf("%d Hz: first tone not higher than the second", rate)
		}
	}
}

// crossingRate is sign changes per sample.
func crossingRate(s []int16) float64 {
	n := 0
	for i := 1; i < len(s); i++ {
		if (s[i-1] < 0) != (s[i] < 0) {
			n++
		}
	}
	return float64(n) / float64(len(s))
}
