package audio

import (
	"bytes"
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
// skipped, before the data chunk or after it (a LIST of tags). A data chunk
// shorter than its header claims is ErrTruncated: half an announcement is
// not played as if it were whole. Bytes that are not a chunk, such as audio
// beyond what the data chunk's header claims, are ErrMalformed: the file is
// refused rather than cut to its header, since the header or the bytes
// after it are wrong and only the person who made the file knows which.
func DecodeWAV(b []byte, lim Limits) (PCM, error) {
	lim = lim.withDefaults()
	l, err := wavLayout(bytes.NewReader(b), int64(len(b)), lim)
	if err != nil {
		return PCM{}, err
	}
	f, data := l.format, b[l.dataOff:l.dataOff+l.frames*int64(l.format.blockAlign)]
	out := PCM{Rate: f.rate, Channels: f.channels, Samples: make([]int16, l.frames*int64(f.channels))}
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

// wavFile is where a WAV file's samples are and what they are.
type wavFile struct {
	format  *wavFormat
	dataOff int64 // of the data chunk's body
	frames  int64 // whole frames in it; a partial last frame is dropped
}

// maxFmtRead is as much of a fmt chunk as parseWAVFormat looks at; a
// longer one (a writer's extension) is read no further.
const maxFmtRead = 40

// wavLayout walks every chunk of the RIFF/WAVE file in r, size bytes long,
// without reading the samples, and checks it against lim. The chunks must
// tile the file to its end (an odd chunk's pad byte may be missing at the
// very end): that is how a header claiming less than the file carries is
// caught. The RIFF size is ignored: writers get it wrong, and the chunks
// say the same thing more precisely.
func wavLayout(r io.ReaderAt, size int64, lim Limits) (wavFile, error) {
	if size > lim.MaxBytes {
		return wavFile{}, fmt.Errorf("%w: WAV of %d bytes, limit %d", ErrTooLong, size, lim.MaxBytes)
	}
	var hdr [12]byte
	if size < 12 {
		return wavFile{}, fmt.Errorf("%w: no RIFF/WAVE header", ErrUnknownFormat)
	}
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return wavFile{}, fmt.Errorf("%w: reading the WAV header: %v", ErrMalformed, err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return wavFile{}, fmt.Errorf("%w: no RIFF/WAVE header", ErrUnknownFormat)
	}
	var (
		l       wavFile
		dataLen int64 = -1
	)
	for off := int64(12); off < size; {
		rem := size - off
		if rem < 8 {
			if dataLen >= 0 {
				return wavFile{}, junkAfterData(rem, dataLen)
			}
			return wavFile{}, fmt.Errorf("%w: WAV chunk header of %d bytes", ErrTruncated, rem)
		}
		var ch [8]byte
		if _, err := r.ReadAt(ch[:], off); err != nil {
			return wavFile{}, fmt.Errorf("%w: reading a WAV chunk header: %v", ErrMalformed, err)
		}
		id, n := string(ch[0:4]), int64(binary.LittleEndian.Uint32(ch[4:8]))
		if !isFourCC(id) {
			if dataLen >= 0 {
				return wavFile{}, junkAfterData(rem, dataLen)
			}
			return wavFile{}, fmt.Errorf("%w: WAV chunk at byte %d is named %q, not four letters", ErrMalformed, off, id)
		}
		body := off + 8
		if id == "data" && n == wavStreaming {
			n = size - body
		}
		if n > size-body {
			return wavFile{}, fmt.Errorf("%w: WAV chunk %q claims %d bytes, %d remain", ErrTruncated, id, n, size-body)
		}
		switch id {
		case "fmt ":
			if l.format != nil {
				return wavFile{}, fmt.Errorf("%w: WAV has two fmt chunks", ErrMalformed)
			}
			b := make([]byte, min(n, maxFmtRead))
			if _, err := r.ReadAt(b, body); err != nil {
				return wavFile{}, fmt.Errorf("%w: reading the WAV fmt chunk: %v", ErrMalformed, err)
			}
			f, err := parseWAVFormat(b, n)
			if err != nil {
				return wavFile{}, err
			}
			l.format = f
		case "data":
			if dataLen >= 0 {
				return wavFile{}, fmt.Errorf("%w: WAV has two data chunks", ErrMalformed)
			}
			l.dataOff, dataLen = body, n
		}
		off = body + n
		if n%2 == 1 && off < size { // chunks start on even offsets
			off++
		}
	}
	if l.format == nil {
		return wavFile{}, fmt.Errorf("%w: WAV has no fmt chunk", ErrMalformed)
	}
	if dataLen < 0 {
		return wavFile{}, fmt.Errorf("%w: WAV has no data chunk", ErrMalformed)
	}
	l.frames = dataLen / int64(l.format.blockAlign)
	if l.frames == 0 {
		return wavFile{}, fmt.Errorf("%w: WAV holds no samples", ErrMalformed)
	}
	if l.frames > lim.maxFrames(l.format.rate) {
		return wavFile{}, fmt.Errorf("%w: WAV of %d s, limit %s", ErrTooLong, l.frames/int64(l.format.rate), lim.MaxDuration)
	}
	return l, nil
}

// junkAfterData says what is wrong with a file whose data chunk is
// followed by bytes that are no chunk: most often the header claims less
// audio than the writer wrote.
func junkAfterData(n, dataLen int64) error {
	return fmt.Errorf("%w: WAV carries %d bytes after its data chunk that are not a chunk; "+
		"the header says the audio is %d bytes, which does not cover the file (re-export it)", ErrMalformed, n, dataLen)
}

// isFourCC tells a chunk id (four printable ASCII characters) from junk.
func isFourCC(id string) bool {
	for i := range len(id) {
		if id[i] < 0x20 || id[i] > 0x7E {
			return false
		}
	}
	return len(id) == 4
}

// parseWAVFormat reads a fmt chunk of size bytes from body, its first
// bytes.
func parseWAVFormat(body []byte, size int64) (*wavFormat, error) {
	if len(body) < 16 {
		return nil, fmt.Errorf("%w: WAV fmt chunk of %d bytes", ErrTruncated, size)
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
			return nil, fmt.Errorf("%w: WAV extensible fmt chunk of %d bytes", ErrTruncated, size)
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
