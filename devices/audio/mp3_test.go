package audio

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// voice.mp3 is one second of a voice-like signal (a 250-750 Hz glide with
// two steady partials, swelling three times a second), made by ffmpeg with
// LAME at 32 kb/s, 16 kHz mono, behind an ID3v2 tag and a LAME info frame.
func TestMP3Fixture(t *testing.T) {
	b := readFixture(t, "voice.mp3")
	if Sniff(b) != FormatMP3 {
		t.Fatalf("sniffed as %s", Sniff(b))
	}
	p, err := Decode(b, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Rate != 16000 || p.Channels != 2 {
		t.Fatalf("%d Hz %d ch, want 16000 Hz stereo", p.Rate, p.Channels)
	}
	// LAME pads the start and end, so a little more than a second.
	if d := p.Duration(); d < time.Second || d > 1300*time.Millisecond {
		t.Fatalf("%s long", d)
	}
	for i := 0; i < len(p.Samples); i += 2 {
		if p.Samples[i] != p.Samples[i+1] {
			t.Fatalf("mono source decoded with different channels at frame %d", i/2)
		}
	}
	// The signal peaks near 0.53 of full scale and averages far above the
	// codec's noise.
	if r := rms(p.Mono().Samples); r < 4000 || r > 12000 {
		t.Errorf("rms %.0f", r)
	}
	if _, err := DecodeMP3(b, Limits{MaxDuration: 500 * time.Millisecond}); !errors.Is(err, ErrTooLong) {
		t.Errorf("1 s under a 500 ms limit: %v", err)
	}
	if _, err := DecodeMP3(b, Limits{MaxBytes: 1000}); !errors.Is(err, ErrTooLong) {
		t.Errorf("4.5 kB under a 1 kB limit: %v", err)
	}
	// Without its tag, and cut mid-frame, it still decodes: a cut last
	// frame is dropped.
	off, err := skipID3(bytes.NewReader(b), int64(len(b)))
	if err != nil || off != 20 {
		t.Fatalf("the tag ends at %d, want 20: %v", off, err)
	}
	bare := b[off:]
	cut, err := Decode(bare[:len(bare)*2/3], Limits{})
	if err != nil {
		t.Fatalf("two thirds of the file: %v", err)
	}
	if cut.Duration() >= p.Duration() || cut.Duration() < p.Duration()/2 {
		t.Errorf("two thirds of the file decoded to %s of %s", cut.Duration(), p.Duration())
	}
}

func badMP3s(t testing.TB) []struct {
	name string
	file []byte
	want error
} {
	voice := readFixture(t, "voice.mp3")
	return []struct {
		name string
		file []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"text", []byte("this is not audio at all, it is text"), ErrMalformed},
		{"sync then junk", []byte{0xFF, 0xFB, 0x90, 0x00, 1, 2, 3, 4, 5, 6, 7, 8}, ErrTruncated},
		{"ID3 only", []byte("ID3\x04\x00\x00\x00\x00\x00\x00"), ErrTruncated},
		{"ID3 short header", []byte("ID3\x04\x00"), ErrTruncated},
		// The library would allocate the 256 MB such a header claims.
		{"ID3 claims 256 MB", []byte("ID3\x04\x00\x00\x7f\x7f\x7f\x7f" + strings.Repeat("\x00", 100)), ErrTruncated},
		{"ID3 size not sync-safe", []byte("ID3\x04\x00\x00\xff\x00\x00\x00"), ErrMalformed},
		{"tag then junk", append([]byte("ID3\x04\x00\x00\x00\x00\x00\x02\x00\x00"), bytes.Repeat([]byte{0x55}, 2000)...), ErrMalformed},
		{"cut in its first frame", voice[:100], ErrTruncated},
		{"MPEG 2.5 (8 kHz)", []byte{0xFF, 0xE3, 0x18, 0xC4, 0, 0, 0, 0}, ErrUnsupported},
		{"MPEG-1 layer II", []byte{0xFF, 0xFD, 0x90, 0x00, 0, 0, 0, 0}, ErrUnsupported},
		{"MPEG-1 layer I", []byte{0xFF, 0xFF, 0x90, 0x00, 0, 0, 0, 0}, ErrUnsupported},
	}
}

func TestMP3RefusesBadFiles(t *testing.T) {
	for _, c := range badMP3s(t) {
		t.Run(c.name, func(t *testing.T) {
			p, err := DecodeMP3(c.file, Limits{})
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if p.Samples != nil {
				t.Error("samples returned with the error")
			}
		})
	}
}

func TestDecodeSniffs(t *testing.T) {
	wav := encodeWAV(t, tone(8000, 440, 1000, 0.1))
	mp3 := readFixture(t, "voice.mp3")
	cases := []struct {
		name   string
		b      []byte
		format Format
		err    error
	}{
		{"WAV", wav, FormatWAV, nil},
		{"MP3 with ID3", mp3, FormatMP3, nil},
		{"MP3 frame sync", mp3[20:], FormatMP3, nil},
		{"empty", nil, FormatUnknown, ErrUnknownFormat},
		{"text", []byte("hello"), FormatUnknown, ErrUnknownFormat},
		{"Ogg", []byte("OggS\x00\x02\x00\x00"), FormatUnknown, ErrUnknownFormat},
		{"sync with reserved version", []byte{0xFF, 0xEB, 0x90, 0x00}, FormatUnknown, ErrUnknownFormat},
		{"sync with reserved layer", []byte{0xFF, 0xF9, 0x90, 0x00}, FormatUnknown, ErrUnknownFormat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if f := Sniff(c.b); f != c.format {
				t.Fatalf("sniffed %s, want %s", f, c.format)
			}
			p, err := Decode(c.b, Limits{})
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				return
			}
			if err != nil || p.Frames() == 0 {
				t.Fatalf("%d frames, %v", p.Frames(), err)
			}
			q, err := DecodeReader(iotest.HalfReader(bytes.NewReader(c.b)), Limits{})
			if err != nil || q.Frames() != p.Frames() {
				t.Fatalf("from a reader: %d frames, %v", q.Frames(), err)
			}
		})
	}
	if _, err := DecodeReader(bytes.NewReader(wav), Limits{MaxBytes: 100}); !errors.Is(err, ErrTooLong) {
		t.Errorf("a reader past MaxBytes: %v", err)
	}
	if _, err := DecodeReader(iotest.ErrReader(errors.New("disk gone")), Limits{}); err == nil || !strings.Contains(err.Error(), "disk gone") {
		t.Errorf("a failing reader: %v", err)
	}
}
