package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/hajimehoshi/go-mp3"
)

// DecodeMP3 decodes an MP3 file to 16-bit stereo PCM at its own rate. A
// decoder panic on hostile input is turned into an error.
func DecodeMP3(b []byte) (p PCM, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = PCM{}, fmt.Errorf("%w: MP3 decoder: %v", ErrUnsupported, r)
		}
	}()
	d, err := mp3.NewDecoder(bytes.NewReader(b))
	if err != nil {
		return PCM{}, fmt.Errorf("%w: MP3: %v", ErrUnsupported, err)
	}
	rate := d.SampleRate()
	if rate < 4000 || rate > 192000 {
		return PCM{}, fmt.Errorf("%w: MP3 sample rate %d", ErrUnsupported, rate)
	}
	limit := int64(MaxSeconds) * int64(rate) * 4 // stereo 16-bit
	raw, err := io.ReadAll(io.LimitReader(d, limit+1))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return PCM{}, fmt.Errorf("%w: MP3: %v", ErrTruncated, err)
	}
	if int64(len(raw)) > limit {
		return PCM{}, fmt.Errorf("%w: MP3 over %d s", ErrTooLong, MaxSeconds)
	}
	if len(raw) < 4 {
		return PCM{}, fmt.Errorf("%w: MP3 holds no audio", ErrTruncated)
	}
	raw = raw[:len(raw)-len(raw)%4]
	out := PCM{Rate: rate, Channels: 2, Samples: make([]int16, len(raw)/2)}
	for i := range out.Samples {
		out.Samples[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	return out, nil
}

// Decode sniffs WAV or MP3 (an ID3 tag or an MPEG audio frame sync) and
// decodes it.
func Decode(b []byte) (PCM, error) {
	switch {
	case len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WAVE":
		return DecodeWAV(b)
	case len(b) >= 3 && string(b[0:3]) == "ID3",
		len(b) >= 2 && b[0] == 0xFF && b[1]&0xE0 == 0xE0:
		return DecodeMP3(b)
	}
	return PCM{}, ErrUnknownFormat
}
