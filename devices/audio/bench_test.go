package audio

import "testing"

// BenchmarkResample44kTo8k converts one second of 44.1 kHz mono to 8 kHz:
// ns/op is the cost per second of audio.
func BenchmarkResample44kTo8k(b *testing.B) {
	in := tone(44100, 1000, 10000, 1)
	for b.Loop() {
		if _, err := Resample(in, 8000); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(2 * len(in.Samples)))
}

// BenchmarkG711Encode encodes one second of 8 kHz audio as μ-law.
func BenchmarkG711Encode(b *testing.B) {
	in := tone(8000, 1000, 10000, 1).Samples
	dst := make([]byte, len(in))
	for b.Loop() {
		dst = EncodeULaw(dst, in)
	}
	b.SetBytes(int64(2 * len(in)))
}

// BenchmarkDecodeMP3 decodes the one-second fixture.
func BenchmarkDecodeMP3(b *testing.B) {
	mp3 := readFixture(b, "voice.mp3")
	for b.Loop() {
		if _, err := DecodeMP3(mp3, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
