package audio

// G.711 (ITU-T) companding: what SIP and multicast paging speakers take at
// 8 kHz. Written from the recommendation's segment tables: a 16-bit sample
// is reduced to 14 (μ-law) or 13 (A-law) bits, its segment is the position
// of the highest set bit, and the four bits below it are the mantissa.

const (
	ulawBias = 0x84 // 132: shifts segment boundaries to powers of two
	ulawClip = 32635
)

// LinearToULaw encodes one sample as μ-law.
func LinearToULaw(s int16) byte {
	v := int(s)
	sign := 0
	if v < 0 {
		v = -v
		sign = 0x80
	}
	v = min(v, ulawClip) + ulawBias
	seg := 7
	for mask := 0x4000; v&mask == 0 && seg > 0; mask >>= 1 {
		seg--
	}
	mant := (v >> (seg + 3)) & 0x0F
	return ^byte(sign | seg<<4 | mant)
}

// ULawToLinear decodes one μ-law byte.
func ULawToLinear(u byte) int16 {
	u = ^u
	seg := int(u>>4) & 7
	v := ((int(u&0x0F) << 3) + ulawBias) << seg
	v -= ulawBias
	if u&0x80 != 0 {
		return int16(-v)
	}
	return int16(v)
}

// LinearToALaw encodes one sample as A-law.
func LinearToALaw(s int16) byte {
	v := int(s) >> 3 // 13 bits
	sign := 0x80
	if v < 0 {
		v = -v - 1
		sign = 0
	}
	v = min(v, 0x0FFF)
	var out int
	if v < 32 {
		out = v >> 1
	} else {
		seg := 1
		for t := v >> 6; t != 0; t >>= 1 {
			seg++
		}
		out = seg<<4 | (v>>seg)&0x0F
	}
	return byte(out|sign) ^ 0x55
}

// ALawToLinear decodes one A-law byte.
func ALawToLinear(a byte) int16 {
	a ^= 0x55
	seg := int(a>>4) & 7
	v := int(a&0x0F)<<1 | 1
	if seg > 0 {
		v = (v | 0x20) << (seg - 1)
	}
	v <<= 3
	if a&0x80 == 0 {
		return int16(-v)
	}
	return int16(v)
}

// EncodeULaw and EncodeALaw encode a whole buffer; dst is reused if large
// enough.
func EncodeULaw(dst []byte, src []int16) []byte {
	dst = grow(dst, len(src))
	for i, s := range src {
		dst[i] = LinearToULaw(s)
	}
	return dst
}

// EncodeALaw: see EncodeULaw.
func EncodeALaw(dst []byte, src []int16) []byte {
	dst = grow(dst, len(src))
	for i, s := range src {
		dst[i] = LinearToALaw(s)
	}
	return dst
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
