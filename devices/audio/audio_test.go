package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"testing"
)

func tone(rate int, freq, amp float64, seconds float64) PCM {
	n := int(float64(rate) * seconds)
	p := PCM{Rate: rate, Channels: 1, Samples: make([]int16, n)}
	for i := range p.Samples {
		p.Samples[i] = int16(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return p
}

func rms(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(max(len(s), 1)))
}

func wavBytes(t *testing.T, p PCM) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := EncodeWAV(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// wav8 builds an 8-bit WAV by hand, with an unknown chunk before the data
// and, optionally, the extensible fmt form.
func wav8(extensible bool, samples []byte) []byte {
	var b bytes.Buffer
	fmtBody := new(bytes.Buffer)
	format := uint16(formatPCM)
	if extensible {
		format = formatExtensible
	}
	put := func(vs ...any) {
		for _, v := range vs {
			binary.Write(fmtBody, binary.LittleEndian, v)
		}
	}
	put(format, uint16(1), uint32(8000), uint32(8000), uint16(1), uint16(8))
	if extensible {
		put(uint16(22), uint16(8), uint32(4), uint16(formatPCM))
		fmtBody.Write(make([]byte, 14))
	}
	body := new(bytes.Buffer)
	body.WriteString("WAVE")
	body.WriteString("fmt ")
	binary.Write(body, binary.LittleEndian, uint32(fmtBody.Len()))
	body.Write(fmtBody.Bytes())
	body.WriteString("LIST")
	binary.Write(body, binary.LittleEndian, uint32(3))
	body.Write([]byte{1, 2, 3, 0}) // odd size, padded
	body.WriteString("data")
	binary.Write(body, binary.LittleEndian, uint32(len(samples)))
	body.Write(samples)
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(body.Len()))
	b.Write(body.Bytes())
	return b.Bytes()
}

func TestWAVRoundTripAndForms(t *testing.T) {
	stereo := PCM{Rate: 44100, Channels: 2, Samples: []int16{1, -1, 32767, -32768, 100, 200}}
	got, err := DecodeWAV(wavBytes(t, stereo))
	if err != nil || got.Rate != 44100 || got.Channels != 2 || !equal(got.Samples, stereo.Samples) {
		t.Fatalf("16-bit stereo round trip: %+v %v", got, err)
	}
	for _, ext := range []bool{false, true} {
		got, err := DecodeWAV(wav8(ext, []byte{128, 255, 0}))
		if err != nil || got.Rate != 8000 || !equal(got.Samples, []int16{0, 127 << 8, -128 << 8}) {
			t.Fatalf("8-bit (extensible=%v): %+v %v", ext, got, err)
		}
	}
	if got := stereo.Mono(); got.Channels != 1 || !equal(got.Samples, []int16{0, 0, 150}) {
		t.Errorf("mono: %v", got.Samples)
	}
}

func equal(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// decodeCases are named bad inputs, reused as fuzz seeds.
var decodeCases = []struct {
	name string
	data []byte
	want error
}{
	{"empty", nil, ErrUnknownFormat},
	{"text", []byte("hello, this is not audio"), ErrUnknownFormat},
	{"riff without fmt", []byte("RIFF\x04\x00\x00\x00WAVE"), ErrTruncated},
	{"chunk past the end", []byte("RIFF\x20\x00\x00\x00WAVEfmt \xff\x00\x00\x00\x01\x00"), ErrTruncated},
	{"float WAV", floatWAV(), ErrUnsupported},
	{"mp3 sync then junk", []byte{0xFF, 0xFB, 0x90, 0x00, 1, 2, 3, 4, 5, 6, 7, 8}, ErrUnsupported},
	{"id3 only", []byte("ID3\x04\x00\x00\x00\x00\x00\x00"), ErrUnsupported},
}

func floatWAV() []byte {
	b := wav8(false, []byte{1, 2, 3, 4})
	binary.LittleEndian.PutUint16(b[20:22], 3) // IEEE float
	return b
}

func TestDecodeRefusesBadInput(t *testing.T) {
	for _, c := range decodeCases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.data)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestTruncatedDataKeepsWholeFrames(t *testing.T) {
	b := wavBytes(t, tone(8000, 440, 1000, 0.1))
	got, err := Decode(b[:len(b)-301])
	if err != nil {
		t.Fatal(err)
	}
	if got.Frames() != 800-151 {
		t.Fatalf("%d frames from a file cut mid-data, want 649", got.Frames())
	}
}

func TestMP3Fixture(t *testing.T) {
	b, err := os.ReadFile("testdata/tone.mp3")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rate != 16000 || p.Channels != 2 || p.Duration().Seconds() < 0.95 || p.Duration().Seconds() > 1.2 {
		t.Fatalf("decoded %d Hz, %d ch, %s", p.Rate, p.Channels, p.Duration())
	}
	if r := rms(p.Mono().Samples); r < 3000 {
		t.Fatalf("rms %.0f: the tone did not survive", r)
	}
	if _, err := Decode(b[:len(b)/3]); err != nil {
		t.Logf("a third of the MP3: %v", err) // either a shorter clip or a clear error, never a panic
	}
}

func TestResampleKeepsPassbandAndRejectsAliases(t *testing.T) {
	cases := []struct {
		from, to int
		freq     float64
		minDB    float64 // output level relative to input, in dB
		maxDB    float64
	}{
		{44100, 8000, 1000, -0.5, 0.5},
		{44100, 8000, 3400, -1.5, 0.5},
		{44100, 8000, 6000, -300, -40}, // above 4 kHz: must not fold back
		{48000, 8000, 9000, -300, -40},
		{22050, 8000, 5000, -300, -40},
		{8000, 16000, 1000, -0.5, 0.5},
	}
	for _, c := range cases {
		in := tone(c.from, c.freq, 10000, 0.5)
		out := Resample(in, c.to)
		if out.Rate != c.to || math.Abs(float64(out.Frames())-float64(c.to)/2) > 2 {
			t.Fatalf("%d→%d: %d frames at %d Hz", c.from, c.to, out.Frames(), out.Rate)
		}
		mid := out.Samples[len(out.Samples)/4 : 3*len(out.Samples)/4] // away from the edges
		db := 20 * math.Log10(max(rms(mid), 1e-9)/rms(in.Samples))
		if db < c.minDB || db > c.maxDB {
			t.Errorf("%d→%d, %.0f Hz: %.1f dB, want %.1f..%.1f", c.from, c.to, c.freq, db, c.minDB, c.maxDB)
		}
	}
}

func TestG711(t *testing.T) {
	known := []struct {
		s    int16
		u, a byte
	}{
		{0, 0xFF, 0xD5},
		{-1, 0x7F, 0x55},
		{32767, 0x80, 0xAA},
		{-32768, 0x00, 0x2A},
		{1000, 0xCE, 0xFA},
	}
	for _, k := range known {
		if got := LinearToULaw(k.s); got != k.u {
			t.Errorf("μ-law(%d) = %#x, want %#x", k.s, got, k.u)
		}
		if got := LinearToALaw(k.s); got != k.a {
			t.Errorf("A-law(%d) = %#x, want %#x", k.s, got, k.a)
		}
	}
	// Every code decodes and re-encodes to itself; every sample comes back
	// within its segment's step (about 3% of its size, plus a floor).
	for c := 0; c < 256; c++ {
		if got := LinearToULaw(ULawToLinear(byte(c))); got != byte(c) && !(c == 0x7F && got == 0xFF) {
			t.Errorf("μ-law code %#x re-encodes to %#x", c, got)
		}
		if got := LinearToALaw(ALawToLinear(byte(c))); got != byte(c) {
			t.Errorf("A-law code %#x re-encodes to %#x", c, got)
		}
	}
	for s := -32768; s <= 32767; s += 7 {
		for name, rt := range map[string]func(int16) int16{
			"μ-law": func(v int16) int16 { return ULawToLinear(LinearToULaw(v)) },
			"A-law": func(v int16) int16 { return ALawToLinear(LinearToALaw(v)) },
		} {
			err := math.Abs(float64(rt(int16(s))) - float64(s))
			if err > 40+0.07*math.Abs(float64(s)) {
				t.Fatalf("%s round trip of %d off by %.0f", name, s, err)
			}
		}
	}
}

func TestGainVolumeChimeConcat(t *testing.T) {
	p := tone(8000, 440, 10000, 0.2)
	if r := rms(Gain(p, -6).Samples) / rms(p.Samples); math.Abs(r-0.501) > 0.01 {
		t.Errorf("-6 dB gave ×%.3f", r)
	}
	if r := rms(Gain(p, 20).Samples); r > 32767 {
		t.Errorf("gain did not clip: %.0f", r)
	}
	if r := rms(Volume(p, 0).Samples); r != 0 {
		t.Errorf("volume 0 not silent: %.0f", r)
	}
	if a, b := rms(Volume(p, 50).Samples), rms(Volume(p, 80).Samples); !(a < b && b < rms(p.Samples)) {
		t.Errorf("volume not monotonic: %.0f %.0f", a, b)
	}
	c := Chime(8000)
	if c.Duration().Milliseconds() != 1500 || rms(c.Samples) < 1000 {
		t.Errorf("chime %s rms %.0f", c.Duration(), rms(c.Samples))
	}
	all, err := Concat(c, p)
	if err != nil || all.Frames() != c.Frames()+p.Frames() {
		t.Fatalf("concat: %v", err)
	}
	if _, err := Concat(c, tone(16000, 1, 1, 0.1)); err == nil {
		t.Error("joined clips of different rates")
	}
}

func FuzzDecode(f *testing.F) {
	for _, c := range decodeCases {
		f.Add(c.data)
	}
	f.Add(wav8(true, []byte{1, 2, 3}))
	if b, err := os.ReadFile("testdata/tone.mp3"); err == nil {
		f.Add(b[:600])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("decoded an invalid PCM: %v", err)
		}
	})
}

func BenchmarkResample44kTo8k(b *testing.B) {
	in := tone(44100, 1000, 10000, 1)
	for i := 0; i < b.N; i++ {
		Resample(in, 8000)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/s-of-audio")
}

func BenchmarkG711Encode(b *testing.B) {
	in := tone(8000, 1000, 10000, 1).Samples
	var dst []byte
	for i := 0; i < b.N; i++ {
		dst = EncodeULaw(dst, in)
	}
}
