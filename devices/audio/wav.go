package audio

import (
	"encoding/binary"
	"fmt"
	"io"
)

// WAV format codes (the fmt chunk's first field).
const (
	wavPCM        = 0x0001
	wavALaw       = 0x0006
	wavULaw       = 0x0007
	wavExtensible = 0xFFFE
)

// wavSubtypeTail is the part of a WAVE_FORMAT_EXTENSIBLE sub-format GUID
// after its first two bytes, which carry the plain format code.
const wavSubtypeTail = "\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"

// wavStreaming is the data size a writer that could not seek back (a
// pipe) leaves in the header: read to the end of the file.
const wavStreaming = 0xFFFFFFFF

type wavFormat struct {
	code       uint16
	channels   int
	rate       int
	blockAlign int
	bits       int
}

// DecodeWAV decodes a RIFF/WAVE file: PCM 8-bit unsigned or 16-bit signed,
// G.711 A-law or μ-law, in the plain or WAVE_FORMAT_EXTENSIBLE fmt chunk;
// mono or stereo; MinRate to MaxRate. Chunks other than fmt and data are
// skipped. A data chunk shorter than its header claims is ErrTruncated:
// half an announcement is not played as if it were whole.
func DecodeWAV(b []byte, lim Limits) (PCM, error) {
	lim = lim.withDefaults()
	if int64(len(b)) > lim.MaxBytes {
		return PCM{}, fmt.Errorf("%w: WAV of %d bytes, limit %d", ErrTooLong, len(b), lim.MaxBytes)
	}
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return PCM{}, fmt.Errorf("%w: no RIFF/WAVE header", ErrUnknownFormat)
	}
	var (
		f    *wavFormat
		data []byte
	)
	// The RIFF size is ignored: writers get it wrong, and the chunks say
	// the same thing more precisely.
	r := b[12:]
	for len(r) > 0 && (f == nil || data == nil) {
		if len(r) < 8 {
			return PCM{}, fmt.Errorf("%w: WAV chunk header of %d bytes", ErrTruncated, len(r))
		}
		id, size := string(r[0:4]), binary.LittleEndian.Uint32(r[4:8])
		r = r[8:]
		if id == "data" && size == wavStreaming {
			size = uint32(len(r))
		}
		if uint64(size) > uint64(len(r)) {
			return PCM{}, fmt.Errorf("%w: WAV chunk %q claims %d bytes, %d remain", ErrTruncated, id, size, len(r))
		}
		body := r[:size]
		r = r[size:]
		if size%2 == 1 && len(r) > 0 { // chunks start on even offsets
			r = r[1:]
		}
		switch id {
		case "fmt ":
			var err error
			if f, err = parseWAVFormat(body); err != nil {
				return PCM{}, err
			}
		case "data":
			data = body
		}
	}
	if f == nil {
		return PCM{}, fmt.Errorf("%w: WAV has no fmt chunk", ErrMalformed)
	}
	if data == nil {
		return PCM{}, fmt.Errorf("%w: WAV has no data chunk", ErrMalformed)
	}
	frames := len(data) / f.blockAlign // a partial last frame is dropped
	if frames == 0 {
		return PCM{}, fmt.Errorf("%w: WAV holds no samples", ErrMalformed)
	}
	if int64(frames) > lim.maxFrames(f.rate) {
		return PCM{}, fmt.Errorf("%w: WAV of %d s, limit %s", ErrTooLong, frames/f.rate, lim.MaxDuration)
	}
	out := PCM{Rate: f.rate, Channels: f.channels, Samples: make([]int16, frames*f.channels)}
	switch {
	case f.code == wavALaw:
		for i := range out.Samples {
			out.Samples[i] = ALawToLinear(data[i])
		}
	case f.code == wavULaw:
		for i := range out.Samples {
			out.Samples[i] = ULawToLinear(data[i])
		}
	case f.bits == 8: // unsigned, silence at 128
		for i := range out.Samples {
			out.Samples[i] = int16(int(data[i])-128) << 8
		}
	default:
		for i := range out.Samples {
			out.Samples[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
		}
	}
	return out, nil
}

func parseWAVFormat(body []byte) (*wavFormat, error) {
	if len(body) < 16 {
		return nil, fmt.Errorf("%w: WAV fmt chunk of %d bytes", ErrTruncated, len(body))
	}
	le := binary.LittleEndian
	f := &wavFormat{
		code:       le.Uint16(body[0:2]),
		channels:   int(le.Uint16(body[2:4])),
		rate:       int(le.Uint32(body[4:8])),
		blockAlign: int(le.Uint16(body[12:14])),
		bits:       int(le.Uint16(body[14:16])),
	}
	if f.code == wavExtensible {
		// cbSize, valid bits, channel mask, then the sub-format GUID.
		if len(body) < 40 {
			return nil, fmt.Errorf("%w: WAV extensible fmt chunk of %d bytes", ErrTruncated, len(body))
		}
		sub := le.Uint16(body[24:26])
		if string(body[26:40]) != wavSubtypeTail {
			return nil, fmt.Errorf("%w: WAV extensible sub-format is not a standard format code", ErrUnsupported)
		}
		f.code = sub
	}
	switch f.code {
	case wavPCM:
		if f.bits != 8 && f.bits != 16 {
			return nil, fmt.Errorf("%w: WAV of %d-bit PCM (8 or 16 only)", ErrUnsupported, f.bits)
		}
	case wavALaw, wavULaw:
		if f.bits != 8 {
			return nil, fmt.Errorf("%w: WAV G.711 of %d bits per sample", ErrMalformed, f.bits)
		}
	default:
		return nil, fmt.Errorf("%w: WAV codec %s", ErrUnsupported, wavCodecName(f.code))
	}
	if f.channels != 1 && f.channels != 2 {
		return nil, fmt.Errorf("%w: WAV of %d channels (mono or stereo only)", ErrUnsupported, f.channels)
	}
	if f.rate < MinRate || f.rate > MaxRate {
		return nil, fmt.Errorf("%w: WAV sample rate %d Hz (%d-%d)", ErrUnsupported, f.rate, MinRate, MaxRate)
	}
	if want := f.channels * f.bits / 8; f.blockAlign != want {
		return nil, fmt.Errorf("%w: WAV block align %d, want %d for %d ch of %d bits", ErrMalformed, f.blockAlign, want, f.channels, f.bits)
	}
	return f, nil
}

// wavCodecName names the codes people actually meet, so the error tells
// an operator what to convert from.
func wavCodecName(code uint16) string {
	names := map[uint16]string{
		0x0002: "Microsoft ADPCM",
		0x0003: "IEEE float",
		0x0011: "IMA ADPCM",
		0x0031: "GSM 6.10",
		0x0050: "MPEG",
		0x0055: "MPEG layer 3",
	}
	if n, ok := names[code]; ok {
		return fmt.Sprintf("%#04x (%s)", code, n)
	}
	return fmt.Sprintf("%#04x", code)
}

// EncodeWAV writes p as a 16-bit PCM WAV file.
func EncodeWAV(w io.Writer, p PCM) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("audio: encode WAV: %w", err)
	}
	dataLen := 2 * int64(len(p.Samples))
	if dataLen > 1<<32-1-44 {
		return fmt.Errorf("audio: encode WAV: %d bytes of samples do not fit a RIFF file", dataLen)
	}
	b := make([]byte, 44+dataLen)
	le := binary.LittleEndian
	copy(b[0:], "RIFF")
	le.PutUint32(b[4:], uint32(36+dataLen))
	copy(b[8:], "WAVEfmt ")
	le.PutUint32(b[16:], 16)
	le.PutUint16(b[20:], wavPCM)
	le.PutUint16(b[22:], uint16(p.Channels))
	le.PutUint32(b[24:], uint32(p.Rate))
	le.PutUint32(b[28:], uint32(p.Rate*p.Channels*2))
	le.PutUint16(b[32:], uint16(p.Channels*2))
	le.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	le.PutUint32(b[40:], uint32(dataLen))
	for i, s := range p.Samples {
		le.PutUint16(b[44+2*i:], uint16(s))
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("audio: encode WAV: %w", err)
	}
	return nil
}
