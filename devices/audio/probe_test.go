package audio

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// probeCases are every named file of the decoding tests, good and bad.
func probeCases(t testing.TB) []seed {
	var all []seed
	for _, c := range goodWAVs() {
		all = append(all, seed{"good WAV " + c.name, c.file})
	}
	for _, c := range badWAVs() {
		all = append(all, seed{"bad WAV " + c.name, c.file})
	}
	for _, c := range badMP3s(t) {
		all = append(all, seed{"bad MP3 " + c.name, c.file})
	}
	for _, f := range []string{"u8-mono-11k.wav", "s16-stereo-22k.wav", "mulaw-8k.wav", "float-8k.wav", "voice.mp3"} {
		all = append(all, seed{"fixture " + f, readFixture(t, f)})
	}
	return all
}

// checkProbe holds for any input: Probe accepts what Decode accepts, with
// the description of what Decode returned, and refuses what Decode refuses
// with the same error.
func checkProbe(t *testing.T, b []byte, lim Limits) {
	t.Helper()
	p, derr := Decode(b, lim)
	info, perr := Probe(bytes.NewReader(b), int64(len(b)), lim)
	if derr != nil || perr != nil {
		if derr == nil || perr == nil || derr.Error() != perr.Error() {
			t.Fatalf("Decode: %v\nProbe:  %v", derr, perr)
		}
		return
	}
	want := Info{Format: Sniff(b), Rate: p.Rate, Channels: p.Channels, Frames: int64(p.Frames())}
	if info != want || info.Duration() != p.Duration() {
		t.Fatalf("Probe = %+v (%s), Decode gave %+v (%s)", info, info.Duration(), want, p.Duration())
	}
}

func TestProbeAgreesWithDecode(t *testing.T) {
	for _, c := range probeCases(t) {
		t.Run(c.name, func(t *testing.T) { checkProbe(t, c.data, Limits{}) })
	}
	t.Run("limits", func(t *testing.T) {
		long := riff(ck("fmt ", fmtBody(wavPCM, 1, 4000, 8)), ck("data", make([]byte, 4000*660)))
		checkProbe(t, long, Limits{})
		checkProbe(t, long, Limits{MaxDuration: 11 * time.Minute})
		checkProbe(t, long, Limits{MaxBytes: 1000})
		voice := readFixture(t, "voice.mp3")
		checkProbe(t, voice, Limits{MaxDuration: 500 * time.Millisecond})
		checkProbe(t, voice, Limits{MaxBytes: 1000})
	})
}

// readCounter counts the bytes read through it.
type readCounter struct {
	r *bytes.Reader
	n int64
}

func (c *readCounter) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

func TestProbeReadsNoWAVSamples(t *testing.T) {
	// Nine minutes of 48 kHz stereo: 100 MB of samples if decoded.
	b := riff(ck("fmt ", fmtBody(wavPCM, 2, 48000, 16)), ck("LIST", []byte("INFO")), ck("data", make([]byte, 48000*4*540)))
	rc := &readCounter{r: bytes.NewReader(b)}
	info, err := Probe(rc, int64(len(b)), Limits{MaxBytes: int64(len(b))})
	if err != nil || info.Duration() != 9*time.Minute || info.Channels != 2 || info.Rate != 48000 {
		t.Fatalf("Probe = %+v, %v", info, err)
	}
	if rc.n > 200 {
		t.Errorf("Probe read %d bytes of a WAV to describe it; only its headers are needed", rc.n)
	}
}

func TestWAVRefusesAudioBeyondItsHeader(t *testing.T) {
	fmt16 := ck("fmt ", fmtBody(wavPCM, 1, 8000, 16))
	// A writer stopped before fixing up the header: 16 bytes claimed, 64
	// written.
	b := riff(fmt16, chunk{"data", bytes.Repeat([]byte{0x10, 0x20}, 32), 16})
	_, err := DecodeWAV(b, Limits{})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "48 bytes after its data chunk") || !strings.Contains(err.Error(), "16 bytes") {
		t.Fatalf("err = %v, want ErrMalformed naming the 48 bytes beyond the 16 claimed", err)
	}
	// The same audio with its tags after the data chunk is whole.
	p, err := DecodeWAV(riff(fmt16, ck("data", make([]byte, 64)), ck("LIST", []byte("INFOISFT\x04\x00\x00\x00test"))), Limits{})
	if err != nil || p.Frames() != 32 {
		t.Fatalf("data then LIST: %d frames, %v", p.Frames(), err)
	}
	if !slices.Equal(p.Samples, make([]int16, 32)) {
		t.Fatal("the tags were read as samples")
	}
}
