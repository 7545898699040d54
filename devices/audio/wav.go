package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Decoding errors callers branch on.
var (
	ErrUnknownFormat = errors.New("audio: not WAV or MP3")
	ErrUnsupported   = errors.New("audio: unsupported encoding")
	ErrTruncated     = errors.New("audio: truncated")
	ErrTooLong       = errors.New("audio: longer than allowed")
)

// MaxSeconds bounds what a decoder accepts, so a hostile header cannot make
// the box allocate without limit: 30 minutes is longer than any
// announcement.
const MaxSeconds = 30 * 60

const (
	formatPCM        = 1
	formatExtensible = 0xFFFE
)

// DecodeWAV reads a RIFF/WAVE file of 8-bit unsigned or 16-bit signed PCM,
// mono or stereo. Unknown chunks are skipped.
func DecodeWAV(b []byte) (PCM, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return PCM{}, fmt.Errorf("%w: no RIFF/WAVE header", ErrUnknownFormat)
	}
	var (
		haveFmt          bool
		format, channels uint16
		rate             uint32
		bits, blockAlign uint16
		data             []byte
	)
	r := b[12:]
	for len(r) >= 8 {
		id, size := string(r[0:4]), binary.LittleEndian.Uint32(r[4:8])
		r = r[8:]
		if uint64(size) > uint64(len(r)) {
			if id == "data" && haveFmt { // a truncated data chunk: keep what is there
				data = r[:len(r)-len(r)%max(int(blockAlign), 1)]
				r = nil
				break
			}
			return PCM{}, fmt.Errorf("%w: chunk %q claims %d bytes, %d left", ErrTruncated, id, size, len(r))
		}
		body := r[:size]
		r = r[size:]
		if size%2 == 1 && len(r) > 0 { // chunks are word-aligned
			r = r[1:]
		}
		switch id {
		case "fmt ":
			if len(body) < 16 {
				return PCM{}, fmt.Errorf("%w: fmt chunk of %d bytes", ErrTruncated, len(body))
			}
			format = binary.LittleEndian.Uint16(body[0:2])
			channels = binary.LittleEndian.Uint16(body[2:4])
			rate = binary.LittleEndian.Uint32(body[4:8])
			blockAlign = binary.LittleEndian.Uint16(body[12:14])
			bits = binary.LittleEndian.Uint16(body[14:16])
			if format == formatExtensible {
				if len(body) < 26 {
					return PCM{}, fmt.Errorf("%w: extensible fmt chunk of %d bytes", ErrTruncated, len(body))
				}
				format = binary.LittleEndian.Uint16(body[24:26]) // the sub-format GUID starts with the format code
			}
			haveFmt = true
		case "data":
			data = body
		}
		if data != nil && haveFmt {
			break
		}
	}
	if !haveFmt {
		return PCM{}, fmt.Errorf("%w: no fmt chunk", ErrTruncated)
	}
	if data == nil {
		return PCM{}, fmt.Errorf("%w: no data chunk", ErrTruncated)
	}
	if format != formatPCM {
		return PCM{}, fmt.Errorf("%w: WAV format code %#x (only PCM)", ErrUnsupported, format)
	}
	if channels != 1 && channels != 2 {
		return PCM{}, fmt.Errorf("%w: %d channels", ErrUnsupported, channels)
	}
	if rate < 4000 || rate > 192000 {
		return PCM{}, fmt.Errorf("%w: sample rate %d Hz", ErrUnsupported, rate)
	}
	if bits != 8 && bits != 16 {
		return PCM{}, fmt.Errorf("%w: %d-bit samples (8 or 16 only)", ErrUnsupported, bits)
	}
	bytesPer := int(bits / 8)
	n := len(data) / bytesPer
	n -= n % int(channels)
	if n/int(channels) > MaxSeconds*int(rate) {
		return PCM{}, fmt.Errorf("%w: %d s", ErrTooLong, n/int(channels)/int(rate))
	}
	out := PCM{Rate: int(rate), Channels: int(channels), Samples: make([]int16, n)}
	for i := range out.Samples {
		if bits == 8 {
			out.Samples[i] = (int16(data[i]) - 128) << 8
		} else {
			out.Samples[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
		}
	}
	return out, nil
}

// EncodeWAV writes p as a 16-bit PCM WAV file.
func EncodeWAV(w io.Writer, p PCM) error {
	if err := p.Validate(); err != nil {
		return err
	}
	var buf bytes.Buffer
	dataLen := uint32(2 * len(p.Samples))
	buf.WriteString("RIFF")
	binary.Write(&buf, binary.LittleEndian, 36+dataLen)
	buf.WriteString("WAVEfmt ")
	binary.Write(&buf, binary.LittleEndian, struct {
		Size                   uint32
		Format, Channels       uint16
		Rate, ByteRate         uint32
		BlockAlign, BitsPerSam uint16
	}{16, formatPCM, uint16(p.Channels), uint32(p.Rate), uint32(p.Rate * p.Channels * 2), uint16(p.Channels * 2), 16})
	buf.WriteString("data")
	binary.Write(&buf, binary.LittleEndian, dataLen)
	binary.Write(&buf, binary.LittleEndian, p.Samples)
	_, err := w.Write(buf.Bytes())
	return err
}
