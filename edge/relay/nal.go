package relay

// RTP payload formats of H.264 (RFC 6184) and H.265 (RFC 7798), as far as
// the relay looks into them: which NAL units begin in a packet, with their
// header and the first bytes of their body. Nothing is decoded beyond a
// slice header's first fields.

// Codecs the relay passes through.
const (
	CodecH264 = "H264"
	CodecH265 = "H265"
)

// H.264 NAL unit types (H.264 table 7-1) and RTP packet types.
const (
	h264NonIDR = 1
	h264IDR    = 5
	h264SEI    = 6
	h264SPS    = 7
	h264PPS    = 8
	h264AUD    = 9
	h264STAPA  = 24
	h264FUA    = 28
)

// H.265 NAL unit types (H.265 table 7-1) and RTP packet types.
const (
	h265IRAPFirst = 16 // BLA_W_LP
	h265IRAPLast  = 21 // CRA_NUT
	h265VPS       = 32
	h265SPS       = 33
	h265PPS       = 34
	h265AP        = 48
	h265FU        = 49
)

// nalStart is a NAL unit that begins in a packet.
type nalStart struct {
	typ  byte
	ref  bool   // H.264: nal_ref_idc is not 0; H.265: not a sub-layer non-reference picture
	body []byte // what follows the NAL header in this packet (the rest may be in later fragments)
}

// eachNALStart calls fn for every NAL unit that begins in payload: whole,
// aggregated, or as a first fragment.
func eachNALStart(h265 bool, pl []byte, fn func(nalStart)) {
	if h265 {
		eachH265Start(pl, fn)
		return
	}
	if len(pl) < 1 {
		return
	}
	switch typ := pl[0] & 0x1f; typ {
	case h264STAPA:
		for i := 1; i+2 < len(pl); {
			n := int(pl[i])<<8 | int(pl[i+1])
			i += 2
			if n == 0 || i+n > len(pl) {
				return
			}
			nal := pl[i : i+n]
			fn(nalStart{typ: nal[0] & 0x1f, ref: nal[0]&0x60 != 0, body: nal[1:]})
			i += n
		}
	case h264FUA:
		if len(pl) > 2 && pl[1]&0x80 != 0 {
			fn(nalStart{typ: pl[1] & 0x1f, ref: pl[0]&0x60 != 0, body: pl[2:]})
		}
	default:
		if typ >= 1 && typ <= 23 {
			fn(nalStart{typ: typ, ref: pl[0]&0x60 != 0, body: pl[1:]})
		}
	}
}

func eachH265Start(pl []byte, fn func(nalStart)) {
	if len(pl) < 3 {
		return
	}
	start := func(typ byte, body []byte) {
		// Types 0-14 even are sub-layer non-reference pictures.
		fn(nalStart{typ: typ, ref: typ > 14 || typ%2 == 1, body: body})
	}
	switch typ := pl[0] >> 1 & 0x3f; typ {
	case h265AP:
		for i := 2; i+2 < len(pl); {
			n := int(pl[i])<<8 | int(pl[i+1])
			i += 2
			if n < 2 || i+n > len(pl) {
				return
			}
			start(pl[i]>>1&0x3f, pl[i+2:i+n])
			i += n
		}
	case h265FU:
		if pl[2]&0x80 != 0 {
			start(pl[2]&0x3f, pl[3:])
		}
	default:
		start(typ, pl[2:])
	}
}

// isKeyNAL reports whether a NAL unit type is a picture a decoder can start
// from (an H.264 IDR, an H.265 IRAP).
func isKeyNAL(h265 bool, typ byte) bool {
	if h265 {
		return typ >= h265IRAPFirst && typ <= h265IRAPLast
	}
	return typ == h264IDR
}

// H.264 slice types (slice_type % 5, H.264 table 7-6).
const (
	sliceP = 0
	sliceB = 1
	sliceI = 2
)

// h264SliceType reads first_mb_in_slice and slice_type from the start of a
// slice's body; ok is false when the bytes run out. Emulation prevention
// bytes are skipped as they come.
func h264SliceType(body []byte) (first uint32, typ int, ok bool) {
	r := bitReader{b: body}
	first, ok1 := r.ue()
	st, ok2 := r.ue()
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	return first, int(st % 5), true
}

// bitReader reads an RBSP's bits, dropping emulation prevention bytes
// (0x000003).
type bitReader struct {
	b     []byte
	i     int // next byte
	bit   int // bits of b[i-1] still unread (0 = take b[i] next)
	cur   byte
	zeros int // zero bytes just read
}

func (r *bitReader) readBit() (uint32, bool) {
	if r.bit == 0 {
		if r.i >= len(r.b) {
			return 0, false
		}
		c := r.b[r.i]
		r.i++
		if r.zeros >= 2 && c == 3 {
			r.zeros = 0
			if r.i >= len(r.b) {
				return 0, false
			}
			c = r.b[r.i]
			r.i++
		}
		if c == 0 {
			r.zeros++
		} else {
			r.zeros = 0
		}
		r.cur, r.bit = c, 8
	}
	r.bit--
	return uint32(r.cur>>r.bit) & 1, true
}

// ue reads an unsigned Exp-Golomb code of at most 31 leading zeros.
func (r *bitReader) ue() (uint32, bool) {
	zeros := 0
	for {
		b, ok := r.readBit()
		if !ok {
			return 0, false
		}
		if b == 1 {
			break
		}
		zeros++
		if zeros > 31 {
			return 0, false
		}
	}
	var v uint32
	for range zeros {
		b, ok := r.readBit()
		if !ok {
			return 0, false
		}
		v = v<<1 | b
	}
	return 1<<zeros - 1 + v, true
}
