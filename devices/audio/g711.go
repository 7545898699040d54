package audio

// G.711 (ITU-T, 1988) companding, what SIP and multicast paging speakers
// take at 8 kHz. Both laws cut the magnitude into eight segments, each
// twice as wide as the one below; a code is sign, segment (3 bits) and
// the 4 bits under the segment's leading one. Decoding returns the middle
// of the code's interval, so a round trip is off by at most half a step.
//
// μ-law works on 14-bit magnitudes with a bias of 33 (132 at 16-bit
// scale) that makes every segment start at a power of two; codes are sent
// inverted. A-law works on 13-bit magnitudes with no bias, its lowest two
// segments share one step, and every even bit is inverted (xor 0x55).

const (
	ulawBias = 0x84  // 33 at 14-bit scale, shifted to 16 bits
	ulawMax  = 32635 // the largest magnitude that still fits segment 7 once biased
	alawMax  = 0x0FFF
)

// LinearToULaw encodes one 16-bit sample as μ-law.
func LinearToULaw(s int16) byte {
	v, sign := int(s), 0
	if v < 0 {
		v, sign = -v, 0x80
	}
	v = min(v, ulawMax) + ulawBias
	// The segment is the position of the leading one above bit 7.
	seg := 0
	for t := v >> 8; t != 0 && seg < 7; t >>= 1 {
		seg++
	}
	mant := (v >> (seg + 3)) & 0x0F
	return ^byte(sign | seg<<4 | mant)
}

// ULawToLinear decodes one μ-law byte to a 16-bit sample.
func ULawToLinear(u byte) int16 {
	u = ^u
	seg := int(u>>4) & 0x07
	v := (int(u&0x0F)<<3 + ulawBias) << seg
	v -= ulawBias
	if u&0x80 != 0 {
		return int16(-v)
	}
	return int16(v)
}

// LinearToALaw encodes one 16-bit sample as A-law.
func LinearToALaw(s int16) byte {
	v := int(s) >> 3 // A-law keeps 13 bits
	sign := 0x80     // A-law's sign bit is set for positive values
	if v < 0 {
		// One's complement, as G.711 does, so -1 and 0 share the smallest
		// interval on either side.
		v, sign = -v-1, 0
	}
	v = min(v, alawMax)
	var code int
	if v < 0x20 {
		code = v >> 1 // segments 0 and 1 share a step of 2
	} else {
		seg := 1
		for t := v >> 6; t != 0; t >>= 1 {
			seg++
		}
		code = seg<<4 | (v>>seg)&0x0F
	}
	return byte(code|sign) ^ 0x55
}

// ALawToLinear decodes one A-law byte to a 16-bit sample.
func ALawToLinear(a byte) int16 {
	a ^= 0x55
	seg := int(a>>4) & 0x07
	v := int(a&0x0F)<<1 | 1 // the middle of the interval
	if seg > 0 {
		v = (v | 0x20) << (seg - 1) // put back the implicit leading one
	}
	v <<= 3
	if a&0x80 == 0 {
		return int16(-v)
	}
	return int16(v)
}

// EncodeULaw encodes src into dst, reusing dst when it is large enough,
// and returns it.
func EncodeULaw(dst []byte, src []int16) []byte {
	dst = resize(dst, len(src))
	for i, s := range src {
		dst[i] = LinearToULaw(s)
	}
	return dst
}

// EncodeALaw is EncodeULaw for A-law.
func EncodeALaw(dst []byte, src []int16) []byte {
	dst = resize(dst, len(src))
	for i, s := range src {
		dst[i] = LinearToALaw(s)
	}
	return dst
}

// DecodeULaw appends the samples of μ-law src to dst and returns it.
func DecodeULaw(dst []int16, src []byte) []int16 {
	for _, c := range src {
		dst = append(dst, ULawToLinear(c))
	}
	return dst
}

// DecodeALaw appends the samples of A-law src to dst and returns it.
func DecodeALaw(dst []int16, src []byte) []int16 {
	for _, c := range src {
		dst = append(dst, ALawToLinear(c))
	}
	return dst
}

func resize(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
