package audio

import (
	"bytes"
	"errors"
	"math"
	"os"
	"slices"
	"testing"
	"time"
)

func TestWAVRoundTrip(t *testing.T) {
	for _, p := range []PCM{
		{Rate: 44100, Channels: 2, Samples: []int16{1, -1, 32767, -32768, 100, 200}},
		tone(8000, 440, 20000, 0.1),
		{Rate: 48000, Channels: 1, Samples: []int16{0}},
	} {
		got, err := DecodeWAV(encodeWAV(t, p), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Rate != p.Rate || got.Channels != p.Channels || !slices.Equal(got.Samples, p.Samples) {
			t.Fatalf("%d Hz %d ch: came back as %d Hz %d ch, samples equal: %v",
				p.Rate, p.Channels, got.Rate, got.Channels, slices.Equal(got.Samples, p.Samples))
		}
	}
	if err := EncodeWAV(&bytes.Buffer{}, PCM{Rate: 8000, Channels: 5}); err == nil {
		t.Error("encoded a 5-channel clip")
	}
}

// Files written by ffmpeg, as an operator's tools would.
func TestWAVFixtures(t *testing.T) {
	cases := []struct {
		file     string
		rate, ch int
		d        time.Duration
		freq     float64
		amp      float64 // ffmpeg's sine source is 1/8 of full scale
		err      error
	}{
		{"u8-mono-11k.wav", 11025, 1, 200 * time.Millisecond, 440, 4096, nil}, // carries a LIST chunk
		// ffmpeg spreads mono to stereo at -3 dB a side.
		{"s16-stereo-22k.wav", 22050, 2, 100 * time.Millisecond, 1000, 4096 * math.Sqrt2 / 2, nil},
		{"mulaw-8k.wav", 8000, 1, 250 * time.Millisecond, 700, 4096, nil},
		{"float-8k.wav", 0, 0, 0, 0, 0, ErrUnsupported},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			b, err := os.ReadFile("testdata/" + c.file)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Decode(b, Limits{})
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Rate != c.rate || p.Channels != c.ch || p.Duration().Round(time.Millisecond) != c.d {
				t.Fatalf("%d Hz %d ch %s, want %d Hz %d ch %s", p.Rate, p.Channels, p.Duration(), c.rate, c.ch, c.d)
			}
			// The content is the sine ffmpeg was asked for, at its level.
			want := tone(p.Rate, c.freq, c.amp, p.Duration().Seconds())
			got := p.Mono()
			if r := correlation(want.Samples, got.Samples); r < 0.99 {
				t.Errorf("correlation with a %.0f Hz sine %.3f", c.freq, r)
			}
			if lv := rms(got.Samples) / rms(want.Samples); math.Abs(lv-1) > 0.05 {
				t.Errorf("level ×%.3f of the sine's", lv)
			}
		})
	}
}

// goodWAVs are named hand-made files in every form DecodeWAV accepts, all
// 8 kHz, with the samples each must give; the fuzz targets start from
// them too.
func goodWAVs() []struct {
	name string
	file []byte
	ch   int
	want []int16
} {
	u8 := []byte{128, 255, 0, 129}
	want8 := []int16{0, 127 << 8, -128 << 8, 1 << 8}
	s16 := []byte{0x01, 0x00, 0xFF, 0xFF, 0x00, 0x80, 0xFF, 0x7F}
	want16 := []int16{1, -1, -32768, 32767}
	return []struct {
		name string
		file []byte
		ch   int
		want []int16
	}{
		{"8-bit", riff(ck("fmt ", fmtBody(wavPCM, 1, 8000, 8)), ck("data", u8)), 1, want8},
		{"8-bit extensible", riff(ck("fmt ", extFmtBody(wavPCM, 1, 8000, 8)), ck("data", u8)), 1, want8},
		{"16-bit extensible stereo", riff(ck("fmt ", extFmtBody(wavPCM, 2, 8000, 16)), ck("data", s16)), 2, want16},
		{"unknown chunks skipped, odd one padded", riff(ck("LIST", []byte{1, 2, 3}), ck("fmt ", fmtBody(wavPCM, 1, 8000, 16)),
			ck("fact", []byte{0, 0, 0, 0}), ck("data", s16)), 1, want16},
		{"data before fmt", riff(ck("data", s16), ck("fmt ", fmtBody(wavPCM, 1, 8000, 16))), 1, want16},
		{"streaming size reads to the end", riff(ck("fmt ", fmtBody(wavPCM, 1, 8000, 16)), chunk{"data", s16, wavStreaming}), 1, want16},
		{"partial last frame dropped", riff(ck("fmt ", fmtBody(wavPCM, 2, 8000, 16)), ck("data", s16[:7])), 2, want16[:2]},
		{"tags after the data", riff(ck("fmt ", fmtBody(wavPCM, 1, 8000, 8)), ck("data", u8), ck("LIST", []byte("INFOISFT\x05\x00\x00\x00Lavf\x00"))), 1, want8},
		{"odd data, then tags", riff(ck("fmt ", fmtBody(wavPCM, 1, 8000, 8)), ck("data", u8[:3]), ck("LIST", []byte("INFO"))), 1, want8[:3]},
		{"odd data, its pad byte missing at the end", riff(ck("fmt ", fmtBody(wavPCM, 1, 8000, 8)), chunk{"data", u8[:3], 3}), 1, want8[:3]},
		{"A-law", riff(ck("fmt ", fmtBody(wavALaw, 1, 8000, 8)), ck("data", []byte{0xD5, 0xAA})), 1, []int16{8, 32256}},
		{"μ-law extensible", riff(ck("fmt ", extFmtBody(wavULaw, 1, 8000, 8)), ck("data", []byte{0xFF, 0x80})), 1, []int16{0, 32124}},
	}
}

func TestWAVForms(t *testing.T) {
	cases := goodWAVs()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := DecodeWAV(c.file, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Rate != 8000 || p.Channels != c.ch || !slices.Equal(p.Samples, c.want) {
				t.Fatalf("%d Hz %d ch %v, want 8000 Hz %d ch %v", p.Rate, p.Channels, p.Samples, c.ch, c.want)
			}
		})
	}
}

// badWAVs are named broken files, each with the error it must give; the
// fuzz targets start from them too.
func badWAVs() []struct {
	name string
	file []byte
	want error
} {
	fmt16 := ck("fmt ", fmtBody(wavPCM, 1, 8000, 16))
	data := ck("data", make([]byte, 64))
	withFmt := func(body []byte) []byte { return riff(ck("fmt ", body), data) }
	ext := extFmtBody(wavPCM, 1, 8000, 16)
	ext[len(ext)-1] ^= 0xFF // not the standard GUID tail
	return []struct {
		name string
		file []byte
		want error
	}{
		{"empty", nil, ErrUnknownFormat},
		{"not RIFF", []byte("RIFX\x00\x00\x00\x00WAVE"), ErrUnknownFormat},
		{"RIFF but AVI", []byte("RIFF\x04\x00\x00\x00AVI "), ErrUnknownFormat},
		{"header only", []byte("RIFF\x04\x00\x00\x00WAVE"), ErrMalformed},
		{"no data chunk", riff(fmt16), ErrMalformed},
		{"no fmt chunk", riff(data), ErrMalformed},
		{"short chunk header", append(riff(fmt16), "dat"...), ErrTruncated},
		{"fmt past the end", riff(chunk{"fmt ", fmtBody(wavPCM, 1, 8000, 16), 255}), ErrTruncated},
		{"data cut short", riff(fmt16, chunk{"data", make([]byte, 64), 6400}), ErrTruncated},
		{"fmt too short", withFmt(make([]byte, 10)), ErrTruncated},
		{"extensible too short", withFmt(fmtBody(wavExtensible, 1, 8000, 16)), ErrTruncated},
		{"extensible odd GUID", withFmt(ext), ErrUnsupported},
		{"extensible float", withFmt(extFmtBody(3, 1, 8000, 32)), ErrUnsupported},
		{"IEEE float", withFmt(fmtBody(3, 1, 8000, 32)), ErrUnsupported},
		{"IMA ADPCM", withFmt(fmtBody(0x11, 1, 8000, 4)), ErrUnsupported},
		{"MP3 in WAV", withFmt(fmtBody(0x55, 1, 8000, 16)), ErrUnsupported},
		{"24-bit", withFmt(fmtBody(wavPCM, 1, 8000, 24)), ErrUnsupported},
		{"zero channels", withFmt(fmtBody(wavPCM, 0, 8000, 16)), ErrUnsupported},
		{"six channels", withFmt(fmtBody(wavPCM, 6, 8000, 16)), ErrUnsupported},
		{"rate 0", withFmt(fmtBody(wavPCM, 1, 0, 16)), ErrUnsupported},
		{"rate 1 MHz", withFmt(fmtBody(wavPCM, 1, 1000000, 16)), ErrUnsupported},
		{"G.711 of 16 bits", withFmt(fmtBody(wavULaw, 1, 8000, 16)), ErrMalformed},
		{"block align lies", withFmt(append(fmtBody(wavPCM, 1, 8000, 16)[:12], 7, 0, 16, 0)), ErrMalformed},
		{"no samples", riff(fmt16, ck("data", nil)), ErrMalformed},
		// The header claims less audio than the file carries: the rest is
		// neither played nor kept.
		{"data claims less than it carries", riff(fmt16, chunk{"data", make([]byte, 64), 16}), ErrMalformed},
		{"junk after the data chunk", append(riff(fmt16, data), "junk"...), ErrMalformed},
		{"junk after the tags", append(riff(fmt16, data, ck("LIST", []byte("INFO"))), 0xde, 0xad, 0xbe, 0xef, 1, 0, 0, 0, 0), ErrMalformed},
		{"tags cut short after the data", riff(fmt16, data, chunk{"LIST", []byte("INFO"), 400}), ErrTruncated},
		{"two data chunks", riff(fmt16, data, data), ErrMalformed},
		{"two fmt chunks", riff(fmt16, fmt16, data), ErrMalformed},
		{"a chunk that is not four letters", riff(fmt16, chunk{"\x00\x01ab", make([]byte, 4), -1}, data), ErrMalformed},
	}
}

func TestWAVRefusesBadFiles(t *testing.T) {
	for _, c := range badWAVs() {
		t.Run(c.name, func(t *testing.T) {
			p, err := DecodeWAV(c.file, Limits{})
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if p.Samples != nil {
				t.Error("samples returned with the error")
			}
		})
	}
}

func TestWAVLimits(t *testing.T) {
	// 11 minutes of the cheapest WAV there is, 8-bit at 4 kHz: refused
	// before any sample is allocated.
	long := riff(ck("fmt ", fmtBody(wavPCM, 1, 4000, 8)), ck("data", make([]byte, 4000*660)))
	if _, err := DecodeWAV(long, Limits{}); !errors.Is(err, ErrTooLong) {
		t.Errorf("11 min with the default 10 min limit: %v", err)
	}
	if p, err := DecodeWAV(long, Limits{MaxDuration: 11 * time.Minute}); err != nil || p.Duration() != 11*time.Minute {
		t.Errorf("11 min with an 11 min limit: %s, %v", p.Duration(), err)
	}
	second := encodeWAV(t, tone(8000, 440, 1000, 1))
	if _, err := DecodeWAV(second, Limits{MaxDuration: 999 * time.Millisecond}); !errors.Is(err, ErrTooLong) {
		t.Errorf("1 s under a 999 ms limit: %v", err)
	}
	if _, err := DecodeWAV(second, Limits{MaxDuration: time.Second}); err != nil {
		t.Errorf("1 s under a 1 s limit: %v", err)
	}
	if _, err := DecodeWAV(second, Limits{MaxBytes: 1000}); !errors.Is(err, ErrTooLong) {
		t.Errorf("16 kB under a 1 kB limit: %v", err)
	}
}
