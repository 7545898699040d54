package audio

import (
	"math"
	"testing"
)

// Reference points from G.711's tables (as the widely used Sun reference
// implementation produces them): encoder outputs, and the decoded values
// of the extreme codes.
func TestG711ReferenceValues(t *testing.T) {
	enc := []struct {
		s    int16
		u, a byte
	}{
		{0, 0xFF, 0xD5},
		{-1, 0x7F, 0x55},
		{8, 0xFE, 0xD5},
		{1000, 0xCE, 0xFA},
		{-1000, 0x4E, 0x7A},
		{4096, 0xAF, 0x85},
		{32767, 0x80, 0xAA},
		{-32768, 0x00, 0x2A},
	}
	for _, c := range enc {
		if got := LinearToULaw(c.s); got != c.u {
			t.Errorf("μ-law(%d) = %#02x, want %#02x", c.s, got, c.u)
		}
		if got := LinearToALaw(c.s); got != c.a {
			t.Errorf("A-law(%d) = %#02x, want %#02x", c.s, got, c.a)
		}
	}
	decU := map[byte]int16{0xFF: 0, 0x7F: 0, 0x80: 32124, 0x00: -32124, 0xFE: 8, 0xCE: 988}
	for code, want := range decU {
		if got := ULawToLinear(code); got != want {
			t.Errorf("μ-law decode %#02x = %d, want %d", code, got, want)
		}
	}
	decA := map[byte]int16{0xD5: 8, 0x55: -8, 0xAA: 32256, 0x2A: -32256, 0xFA: 1008, 0x85: 4224}
	for code, want := range decA {
		if got := ALawToLinear(code); got != want {
			t.Errorf("A-law decode %#02x = %d, want %d", code, got, want)
		}
	}
}

func TestG711RoundTrip(t *testing.T) {
	laws := []struct {
		name   string
		enc    func(int16) byte
		dec    func(byte) int16
		maxErr func(s int) float64 // half the step of the segment s falls in
	}{
		{"μ-law", LinearToULaw, ULawToLinear, func(s int) float64 {
			// Segment k of the biased magnitude has steps of 2^(k+3).
			v := min(abs(s), ulawMax) + ulawBias
			seg := max(0, int(math.Floor(math.Log2(float64(v))))-7)
			return math.Ldexp(1, seg+2) + float64(max(abs(s)-ulawMax, 0))
		}},
		{"A-law", LinearToALaw, ALawToLinear, func(s int) float64 {
			// Steps are 16 in segments 0 and 1, doubling above; the
			// one's-complement negative side is off by up to 8 more.
			v := abs(s) >> 3
			seg := max(1, int(math.Floor(math.Log2(float64(max(v, 1)))))-4)
			return math.Ldexp(1, seg+3) + 8 + float64(max(abs(s)-32767+504, 0))
		}},
	}
	for _, law := range laws {
		t.Run(law.name, func(t *testing.T) {
			// Each code is a fixed point of decode-then-encode, except
			// μ-law's negative zero, which encodes as positive zero.
			for c := range 256 {
				got := law.enc(law.dec(byte(c)))
				if got != byte(c) && !(law.name == "μ-law" && c == 0x7F && got == 0xFF) {
					t.Errorf("code %#02x decodes to %d and re-encodes to %#02x", c, law.dec(byte(c)), got)
				}
			}
			// Every sample comes back within half a step, and the encoding
			// is monotonic: a louder sample never gets a quieter code.
			prev := law.dec(law.enc(math.MinInt16))
			for s := math.MinInt16; s <= math.MaxInt16; s++ {
				back := law.dec(law.enc(int16(s)))
				if e := math.Abs(float64(back) - float64(s)); e > law.maxErr(s) {
					t.Fatalf("%d comes back as %d, off by %.0f > %.0f", s, back, e, law.maxErr(s))
				}
				if back < prev {
					t.Fatalf("not monotonic at %d: %d after %d", s, back, prev)
				}
				prev = back
			}
		})
	}
}

func TestG711Buffers(t *testing.T) {
	src := tone(8000, 1000, 12000, 0.02).Samples
	dst := make([]byte, 0, 1000)
	u := EncodeULaw(dst, src)
	if len(u) != len(src) || &u[0] != &dst[:1][0] {
		t.Fatal("EncodeULaw did not reuse a large enough buffer")
	}
	a := EncodeALaw(nil, src)
	for i := range src {
		if u[i] != LinearToULaw(src[i]) || a[i] != LinearToALaw(src[i]) {
			t.Fatalf("buffer encoders differ from the sample encoders at %d", i)
		}
	}
	du, da := DecodeULaw(nil, u), DecodeALaw([]int16{7}, a)
	if len(du) != len(src) || len(da) != len(src)+1 || da[0] != 7 {
		t.Fatalf("decoded %d and %d samples", len(du), len(da))
	}
	if c := correlation(src, du); c < 0.999 {
		t.Errorf("μ-law tone correlation %.4f", c)
	}
	if c := correlation(src, da[1:]); c < 0.999 {
		t.Errorf("A-law tone correlation %.4f", c)
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
