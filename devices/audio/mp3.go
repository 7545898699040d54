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
func DecodeMP3(b []byte, lim Limits) (PCM, error) {
	var raw bytes.Buffer
	rate, n, err := streamMP3(bytes.NewReader(b), int64(len(b)), lim.withDefaults(), &raw)
	if err != nil {
		return PCM{}, err
	}
	out := PCM{Rate: rate, Channels: 2, Samples: make([]int16, n/2)}
	for i := range out.Samples {
		out.Samples[i] = int16(binary.LittleEndian.Uint16(raw.Bytes()[2*i:]))
	}
	return out, nil
}

// mp3FrameBytes is one decoded frame: the decoder always gives 16-bit
// stereo.
const mp3FrameBytes = 4

// streamMP3 decodes the MP3 file in r, size bytes long, into w and returns
// its rate and how many bytes of whole frames it wrote (w may have been
// given a few more, of a partial last frame). Every check DecodeMP3 makes
// is made here, so that a caller keeping nothing (Probe) refuses what
// DecodeMP3 refuses.
func streamMP3(r io.ReaderAt, size int64, lim Limits, w io.Writer) (rate int, n int64, err error) {
	if size > lim.MaxBytes {
		return 0, 0, fmt.Errorf("%w: MP3 of %d bytes, limit %d", ErrTooLong, size, lim.MaxBytes)
	}
	off, err := skipID3(r, size)
	if err != nil {
		return 0, 0, err
	}
	var head [4]byte
	nh, _ := r.ReadAt(head[:], off) // fewer bytes than asked is what the checks below are about
	if err := checkMPEG(head[:nh]); err != nil {
		return 0, 0, err
	}
	defer func() {
		if p := recover(); p != nil {
			rate, n, err = 0, 0, fmt.Errorf("%w: MP3 decoder failed: %v", ErrMalformed, p)
		}
	}()
	d, err := mp3.NewDecoder(io.NewSectionReader(r, off, size-off))
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// The library searched to the end without a whole frame: if
			// the file starts with one, it was cut; otherwise it is not
			// MPEG audio at all.
			if nh == 0 || Sniff(head[:nh]) == FormatMP3 {
				return 0, 0, fmt.Errorf("%w: MP3 ends before its first whole frame", ErrTruncated)
			}
			return 0, 0, fmt.Errorf("%w: no MPEG audio frame found", ErrMalformed)
		}
		return 0, 0, fmt.Errorf("%w: MP3: %v", ErrMalformed, err)
	}
	rate = d.SampleRate()
	if rate < MinRate || rate > MaxRate {
		return 0, 0, fmt.Errorf("%w: MP3 sample rate %d Hz", ErrUnsupported, rate)
	}
	limit := lim.maxFrames(rate) * mp3FrameBytes
	// Length is known up front because the source can seek: refuse a
	// long file before decoding any of it.
	if l := d.Length(); l > limit {
		return 0, 0, fmt.Errorf("%w: MP3 of %d s, limit %s", ErrTooLong, l/mp3FrameBytes/int64(rate), lim.MaxDuration)
	}
	n, err = io.Copy(w, io.LimitReader(d, limit+1))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return 0, 0, fmt.Errorf("%w: MP3: %v", ErrMalformed, err)
	}
	if n > limit {
		return 0, 0, fmt.Errorf("%w: MP3 longer than %s", ErrTooLong, lim.MaxDuration)
	}
	n -= n % mp3FrameBytes
	if n == 0 {
		return 0, 0, fmt.Errorf("%w: MP3 holds no audio", ErrMalformed)
	}
	return rate, n, nil
}

// skipID3 returns the offset in r, size bytes long, after any ID3v2 tags
// at its start.
func skipID3(r io.ReaderAt, size int64) (int64, error) {
	var off int64
	for {
		var h [10]byte
		n, _ := r.ReadAt(h[:], off) // a short read is judged by what it got
		if n < 3 || string(h[:3]) != "ID3" {
			return off, nil
		}
		if n < 10 {
			return 0, fmt.Errorf("%w: ID3 tag header", ErrTruncated)
		}
		sz := h[6:10]
		if (sz[0]|sz[1]|sz[2]|sz[3])&0x80 != 0 {
			return 0, fmt.Errorf("%w: ID3 tag size is not sync-safe", ErrMalformed)
		}
		tag := 10 + (int64(sz[0])<<21 | int64(sz[1])<<14 | int64(sz[2])<<7 | int64(sz[3]))
		if h[5]&0x10 != 0 { // a footer repeats the header at the end
			tag += 10
		}
		if tag > size-off {
			return 0, fmt.Errorf("%w: ID3 tag claims %d bytes, %d present", ErrTruncated, tag, size-off)
		}
		off += tag
	}
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
