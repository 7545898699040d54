package audio

import (
	"fmt"
	"io"
)

// Format is an encoded audio format Sniff recognises.
type Format int

// The formats.
const (
	FormatUnknown Format = iota
	FormatWAV
	FormatMP3
)

func (f Format) String() string {
	switch f {
	case FormatWAV:
		return "WAV"
	case FormatMP3:
		return "MP3"
	}
	return "unknown"
}

// Sniff says what b looks like from its first bytes: a RIFF/WAVE header,
// or an ID3v2 tag or MPEG audio frame sync for MP3.
func Sniff(b []byte) Format {
	switch {
	case len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WAVE":
		return FormatWAV
	case len(b) >= 3 && string(b[0:3]) == "ID3":
		return FormatMP3
	case len(b) >= 2 && b[0] == 0xFF && b[1]&0xE0 == 0xE0:
		// Eleven sync bits, then a version that is not the reserved 01 and
		// a layer that is not the reserved 00.
		if b[1]&0x18 != 0x08 && b[1]&0x06 != 0 {
			return FormatMP3
		}
	}
	return FormatUnknown
}

// Decode sniffs b and decodes it as WAV or MP3; anything else is
// ErrUnknownFormat.
func Decode(b []byte, lim Limits) (PCM, error) {
	switch Sniff(b) {
	case FormatWAV:
		return DecodeWAV(b, lim)
	case FormatMP3:
		return DecodeMP3(b, lim)
	}
	return PCM{}, ErrUnknownFormat
}

// DecodeReader reads r to its end, at most lim.MaxBytes, and decodes what
// it read as Decode does.
func DecodeReader(r io.Reader, lim Limits) (PCM, error) {
	lim = lim.withDefaults()
	b, err := io.ReadAll(io.LimitReader(r, lim.MaxBytes+1))
	if err != nil {
		return PCM{}, fmt.Errorf("audio: read: %w", err)
	}
	if int64(len(b)) > lim.MaxBytes {
		return PCM{}, fmt.Errorf("%w: input over %d bytes", ErrTooLong, lim.MaxBytes)
	}
	return Decode(b, lim)
}
