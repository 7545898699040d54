package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/hajimehoshi/go-mp3"
)

// DecodeMP3 decodes an MPEG-1/2 layer III file to 16-bit stereo PCM at the
// file's own rate (mono files come out with both channels equal). ID3v2
// tags are skipped. A cut-off last frame is dropped rather than refused:
// encoders and downloads leave one often and it is a few milliseconds.
//
// The decoder is a third-party pure-Go library; a panic inside it on
// hostile input is turned into ErrMalformed, and the ID3 tag is skipped
// here because the library would allocate whatever size a tag header
// claims.
func DecodeMP3(b []byte, lim Limits) (p PCM, err error) {
	lim = lim.withDefaults()
	if int64(len(b)) > lim.MaxBytes {
		return PCM{}, fmt.Errorf("%w: MP3 of %d bytes, limit %d", ErrTooLong, len(b), lim.MaxBytes)
	}
	body, err := skipID3(b)
	if err != nil {
		return PCM{}, err
	}
	if err := checkMPEG(body); err != nil {
		return PCM{}, err
	}
	defer func() {
		if r := recover(); r != nil {
			p, err = PCM{}, fmt.Errorf("%w: MP3 decoder failed: %v", ErrMalformed, r)
		}
	}()
	d, err := mp3.NewDecoder(bytes.NewReader(body))
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// The library searched to the end without a whole frame: if
			// the file starts with one, it was cut; otherwise it is not
			// MPEG audio at all.
			if len(body) == 0 || Sniff(body) == FormatMP3 {
				return PCM{}, fmt.Errorf("%w: MP3 ends before its first whole frame", ErrTruncated)
			}
			return PCM{}, fmt.Errorf("%w: no MPEG audio frame found", ErrMalformed)
		}
		return PCM{}, fmt.Errorf("%w: MP3: %v", ErrMalformed, err)
	}
	rate := d.SampleRate()
	if rate < MinRate || rate > MaxRate {
		return PCM{}, fmt.Errorf("%w: MP3 sample rate %d Hz", ErrUnsupported, rate)
	}
	const frameBytes = 4 // the decoder always gives 16-bit stereo
	limit := lim.maxFrames(rate) * frameBytes
	// Length is known up front because a bytes.Reader can seek: refuse a
	// long file before decoding any of it.
	if n := d.Length(); n > limit {
		return PCM{}, fmt.Errorf("%w: MP3 of %d s, limit %s", ErrTooLong, n/frameBytes/int64(rate), lim.MaxDuration)
	}
	raw, err := io.ReadAll(io.LimitReader(d, limit+1))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return PCM{}, fmt.Errorf("%w: MP3: %v", ErrMalformed, err)
	}
	if int64(len(raw)) > limit {
		return PCM{}, fmt.Errorf("%w: MP3 longer than %s", ErrTooLong, lim.MaxDuration)
	}
	raw = raw[:len(raw)-len(raw)%frameBytes]
	if len(raw) == 0 {
		return PCM{}, fmt.Errorf("%w: MP3 holds no audio", ErrMalformed)
	}
	out := PCM{Rate: rate, Channels: 2, Samples: make([]int16, len(raw)/2)}
	for i := range out.Samples {
		out.Samples[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	return out, nil
}

// skipID3 returns b after any ID3v2 tags at its start.
func skipID3(b []byte) ([]byte, error) {
	for len(b) >= 3 && string(b[:3]) == "ID3" {
		if len(b) < 10 {
			return nil, fmt.Errorf("%w: ID3 tag header", ErrTruncated)
		}
		sz := b[6:10]
		if (sz[0]|sz[1]|sz[2]|sz[3])&0x80 != 0 {
			return nil, fmt.Errorf("%w: ID3 tag size is not sync-safe", ErrMalformed)
		}
		n := 10 + (int(sz[0])<<21 | int(sz[1])<<14 | int(sz[2])<<7 | int(sz[3]))
		if b[5]&0x10 != 0 { // a footer repeats the header at the end
			n += 10
		}
		if n > len(b) {
			return nil, fmt.Errorf("%w: ID3 tag claims %d bytes, %d present", ErrTruncated, n, len(b))
		}
		b = b[n:]
	}
	return b, nil
}

// checkMPEG refuses, with a clear reason, the MPEG audio the decoder
// cannot handle, when body starts with a frame header: MPEG 2.5 (the 8,
// 11.025 and 12 kHz rates) and layers I and II.
func checkMPEG(body []byte) error {
	if Sniff(body) != FormatMP3 || len(body) < 2 {
		return nil
	}
	if body[1]&0x18 == 0 {
		return fmt.Errorf("%w: MPEG 2.5 audio (8-12 kHz MP3); re-encode at 16 kHz or more, or send WAV", ErrUnsupported)
	}
	if layer := body[1] & 0x06; layer != 0x02 {
		return fmt.Errorf("%w: MPEG layer %d audio (only layer III, MP3)", ErrUnsupported, 4-layer>>1)
	}
	return nil
}
