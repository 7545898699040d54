package whep

import (
	"bytes"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// A camera with B-frames says so in its SPS: max_num_reorder_frames in the
// VUI's bitstream restriction tells a decoder to hold that many frames
// back before showing one, to put them in display order. Once the feed
// has left the B-frames out there is nothing to reorder, and a browser
// that still holds frames back shows the picture late, and Chromium's
// WebRTC stalls on it when busy. So the feed sends such a camera's SPS
// with max_num_reorder_frames 0, changing nothing else: the bitstream
// restriction closes the SPS, so its fields are rewritten in place at the
// end of the RBSP, and the result is checked by parsing it back.

// noReorderSPS returns sps (a NAL unit, header included) with
// max_num_reorder_frames 0, or sps itself when it has none to clear or
// cannot be rewritten safely.
func noReorderSPS(sps []byte) []byte {
	var s h264.SPS
	if len(sps) < 2 || s.Unmarshal(sps) != nil || s.VUI == nil || s.VUI.BitstreamRestriction == nil ||
		s.VUI.BitstreamRestriction.MaxNumReorderFrames == 0 {
		return sps
	}
	r := *s.VUI.BitstreamRestriction
	rbsp := bitsOf(h264.EmulationPreventionRemove(sps[1:]))
	stop := bytes.LastIndexByte(rbsp, 1) // rbsp_stop_one_bit
	if stop < 0 {
		return sps
	}
	tail := func(reorder uint32) []byte {
		b := []byte{1} // bitstream_restriction_flag
		if r.MotionVectorsOverPicBoundariesFlag {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		for _, v := range []uint32{r.MaxBytesPerPicDenom, r.MaxBitsPerMbDenom, r.Log2MaxMvLengthHorizontal,
			r.Log2MaxMvLengthVertical, reorder, r.MaxDecFrameBuffering} {
			b = appendUE(b, v)
		}
		return b
	}
	old := tail(r.MaxNumReorderFrames)
	if stop < len(old) || !bytes.Equal(rbsp[stop-len(old):stop], old) {
		return sps
	}
	out := append(append(append([]byte(nil), rbsp[:stop-len(old)]...), tail(0)...), 1)
	for len(out)%8 != 0 {
		out = append(out, 0)
	}
	nal := append([]byte{sps[0]}, addEmulationPrevention(bytesOf(out))...)
	var check h264.SPS
	if check.Unmarshal(nal) != nil || check.VUI == nil || check.VUI.BitstreamRestriction == nil ||
		check.VUI.BitstreamRestriction.MaxNumReorderFrames != 0 || check.Width() != s.Width() || check.Height() != s.Height() ||
		check.ProfileIdc != s.ProfileIdc || check.VUI.BitstreamRestriction.MaxDecFrameBuffering != r.MaxDecFrameBuffering {
		return sps
	}
	return nal
}

// bitsOf spreads bytes into one byte per bit.
func bitsOf(b []byte) []byte {
	out := make([]byte, 0, 8*len(b))
	for _, c := range b {
		for i := 7; i >= 0; i-- {
			out = append(out, c>>i&1)
		}
	}
	return out
}

// bytesOf packs bits (a multiple of 8) into bytes.
func bytesOf(bits []byte) []byte {
	out := make([]byte, len(bits)/8)
	for i, b := range bits {
		out[i/8] |= b << (7 - i%8)
	}
	return out
}

// appendUE appends v as an unsigned Exp-Golomb code.
func appendUE(b []byte, v uint32) []byte {
	x := uint64(v) + 1
	n := 0
	for y := x; y > 1; y >>= 1 {
		n++
	}
	for range n {
		b = append(b, 0)
	}
	for i := n; i >= 0; i-- {
		b = append(b, byte(x>>i&1))
	}
	return b
}

// addEmulationPrevention inserts 0x03 where an RBSP has two zero bytes
// followed by a byte of 3 or less.
func addEmulationPrevention(rbsp []byte) []byte {
	out := make([]byte, 0, len(rbsp)+4)
	zeros := 0
	for _, c := range rbsp {
		if zeros >= 2 && c <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}
