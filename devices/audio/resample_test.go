package audio

import (
	"math"
	"testing"
)

func TestResampleFrequencyResponse(t *testing.T) {
	cases := []struct {
		name         string
		from, to     int
		freq         float64
		minDB, maxDB float64 // output level against input
	}{
		{"speech band kept, 44.1k to 8k", 44100, 8000, 1000, -0.1, 0.1},
		{"3.5 kHz kept, 44.1k to 8k", 44100, 8000, 3500, -0.5, 0.1},
		{"6 kHz removed, 44.1k to 8k", 44100, 8000, 6000, -300, -40},
		{"4.6 kHz removed, 44.1k to 8k", 44100, 8000, 4600, -300, -40},
		{"9 kHz removed, 48k to 8k", 48000, 8000, 9000, -300, -40},
		{"3.5 kHz kept, 48k to 8k", 48000, 8000, 3500, -0.5, 0.1},
		{"5 kHz removed, 22.05k to 8k", 22050, 8000, 5000, -300, -40},
		{"3 kHz kept, 22.05k to 8k", 22050, 8000, 3000, -0.1, 0.1},
		{"7 kHz removed, 16k to 8k", 16000, 8000, 7000, -300, -40},
		{"upsampled 8k to 16k", 8000, 16000, 1000, -0.1, 0.1},
		{"upsampled 8k to 44.1k", 8000, 44100, 3000, -0.1, 0.1},
		{"44.1k to 48k", 44100, 48000, 10000, -0.1, 0.1},
		{"rate with no small ratio", 44100, 8001, 1000, -0.1, 0.1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := tone(c.from, c.freq, 10000, 0.5)
			out, err := Resample(in, c.to)
			if err != nil {
				t.Fatal(err)
			}
			if out.Rate != c.to || out.Channels != 1 || math.Abs(float64(out.Frames())-float64(c.to)/2) > 1 {
				t.Fatalf("%d frames at %d Hz", out.Frames(), out.Rate)
			}
			db := 20 * math.Log10(max(rms(middle(out.Samples)), 1e-3)/rms(middle(in.Samples)))
			t.Logf("%.0f Hz: %.2f dB", c.freq, db)
			if db < c.minDB || db > c.maxDB {
				t.Errorf("%.0f Hz: %.2f dB, want %.1f to %.1f", c.freq, db, c.minDB, c.maxDB)
			}
		})
	}
}

// The output is aligned with the input, not delayed by the filter: a tone
// resampled matches the same tone generated at the new rate.
func TestResampleIsNotDelayed(t *testing.T) {
	for _, c := range []struct{ from, to int }{{44100, 8000}, {8000, 44100}, {48000, 16000}, {22050, 8000}} {
		out, err := Resample(tone(c.from, 700, 10000, 0.3), c.to)
		if err != nil {
			t.Fatal(err)
		}
		want := tone(c.to, 700, 10000, 0.3)
		// A delay of one output sample at 8 kHz would cost 0.03 here.
		if r := correlation(middle(want.Samples), middle(out.Samples)); r < 0.9995 {
			t.Errorf("%d→%d: correlation %.5f with the tone made at %d Hz", c.from, c.to, r, c.to)
		}
	}
}

func TestResampleStereoAndEdges(t *testing.T) {
	l, r := tone(44100, 500, 8000, 0.2), tone(44100, 1500, 3000, 0.2)
	st := PCM{Rate: 44100, Channels: 2, Samples: make([]int16, 2*len(l.Samples))}
	for i := range l.Samples {
		st.Samples[2*i], st.Samples[2*i+1] = l.Samples[i], -r.Samples[i]
	}
	out, err := Resample(st, 16000)
	if err != nil {
		t.Fatal(err)
	}
	lo, ro := make([]int16, out.Frames()), make([]int16, out.Frames())
	for i := range lo {
		lo[i], ro[i] = out.Samples[2*i], -out.Samples[2*i+1]
	}
	if c := correlation(middle(lo), middle(tone(16000, 500, 10000, 0.2).Samples)); c < 0.999 {
		t.Errorf("left channel correlation %.4f", c)
	}
	if c := correlation(middle(ro), middle(tone(16000, 1500, 10000, 0.2).Samples)); c < 0.999 {
		t.Errorf("right channel correlation %.4f: channels mixed?", c)
	}
	// A constant keeps its level to the sample, edges aside.
	dc := PCM{Rate: 22050, Channels: 1, Samples: make([]int16, 22050)}
	for i := range dc.Samples {
		dc.Samples[i] = 12345
	}
	out, _ = Resample(dc, 8000)
	for i, s := range middle(out.Samples) {
		if s < 12344 || s > 12346 {
			t.Fatalf("constant 12345 became %d at %d", s, i)
		}
	}
	// A full-scale square wave rings past full scale after filtering; it
	// must saturate, not wrap around to the other sign.
	const half = 50 // input samples per half period
	sq := PCM{Rate: 44100, Channels: 1, Samples: make([]int16, 4410)}
	for i := range sq.Samples {
		sq.Samples[i] = math.MaxInt16
		if (i/half)%2 == 1 {
			sq.Samples[i] = math.MinInt16
		}
	}
	out, _ = Resample(sq, 8000)
	pinned := 0
	for n, s := range middle(out.Samples) {
		n += len(out.Samples) / 4
		pos := float64(n) * 44100 / 8000 // where this sample sits in the input
		fromEdge := math.Min(math.Mod(pos, half), half-math.Mod(pos, half))
		if fromEdge < 5 {
			continue // the edge itself passes through zero
		}
		if positive := int(pos/half)%2 == 0; positive != (s > 0) {
			t.Fatalf("sample %d is %d on the other side of zero: wrapped around", n, s)
		}
		if s == math.MaxInt16 || s == math.MinInt16 {
			pinned++
		}
	}
	if pinned == 0 {
		t.Error("no sample saturated: the test lost its point")
	}
}

func TestResampleRefuses(t *testing.T) {
	p := tone(8000, 440, 1000, 0.01)
	same, err := Resample(p, 8000)
	if err != nil || &same.Samples[0] != &p.Samples[0] {
		t.Errorf("same rate: %v, or copied", err)
	}
	for _, rate := range []int{0, -8000, 3000, 200000} {
		if _, err := Resample(p, rate); err == nil {
			t.Errorf("resampled to %d Hz", rate)
		}
	}
	if _, err := Resample(PCM{Rate: 8000, Channels: 3}, 16000); err == nil {
		t.Error("resampled a 3-channel clip")
	}
	if out, err := Resample(PCM{Rate: 8000, Channels: 1}, 16000); err != nil || len(out.Samples) != 0 {
		t.Errorf("empty clip: %d samples, %v", len(out.Samples), err)
	}
}
