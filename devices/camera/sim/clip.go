package sim

import (
	"bytes"
	_ "embed" // the default clip
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/bits"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// defaultClip is the clip a Config without one loops. A package variable
// only because //go:embed needs one; DefaultClip hands out copies.
//
//go:embed testdata/baseline-640x360.h264
var defaultClip []byte

// DefaultClip returns the embedded clip: 2 s of ffmpeg's testsrc2
// pattern, 640x360 at 25 fps, H.264 Constrained Baseline, an IDR every
// second (testdata/README.md says how it was made).
func DefaultClip() []byte { return bytes.Clone(defaultClip) }

// maxClipFrames bounds a clip, whose access units are all kept in memory.
const maxClipFrames = 100_000

// ClipInfo describes a clip as its SPS does.
type ClipInfo struct {
	Codec         string // "H.264" or "H.265"
	Profile       string // "Constrained Baseline", "High", ... ("Main" for H.265)
	Width, Height int
	Frames        int  // access units per loop
	BFrames       bool // some frames are shown before others sent ahead of them
}

// String is what a person reads: "H.264 640x360".
func (c ClipInfo) String() string { return fmt.Sprintf("%s %dx%d", c.Codec, c.Width, c.Height) }

// clip is a parsed clip, ready to loop.
type clip struct {
	info          ClipInfo
	vps, sps, pps []byte     // the first of each, for the SDP (vps: H.265 only)
	aus           [][][]byte // access units in decode order, each a list of NALUs; the first is a keyframe
	// shift is, per access unit, how many frame intervals after its place
	// in decode order it is shown (negative for a B-frame): its RTP
	// timestamp is that of its presentation.
	shift []int
}

// ParseClip checks that b is Annex-B H.264 or H.265 the simulator can
// loop and describes it.
func ParseClip(b []byte) (ClipInfo, error) {
	c, err := parseClip(b)
	if err != nil {
		return ClipInfo{}, err
	}
	return c.info, nil
}

// isH265 tells an H.265 byte stream by its first NAL unit: an H.265 stream
// starts with a VPS (type 32) or a delimiter (35), whose header byte
// reads as the H.264 types 0 and 6 with the forbidden values around.
func isH265(nalus [][]byte) bool {
	n := nalus[0]
	if len(n) < 2 {
		return false
	}
	t := n[0] >> 1 & 0x3f
	return (t == 32 || t == 35 || t == 33) && n[1] == 1
}

// parseClip splits b into access units. Access units before the first
// IDR are dropped, since they cannot be decoded at the loop point either,
// and the latest SPS and PPS are put in front of every IDR that lacks
// them, as cameras do, so each IDR is a place to join.
func parseClip(b []byte) (*clip, error) {
	nalus, err := splitAnnexB(b)
	if err != nil {
		return nil, err
	}
	if isH265(nalus) {
		return parseH265(nalus)
	}
	c := &clip{}
	var cur [][]byte
	curVCL := false
	flush := func() {
		if len(cur) > 0 && curVCL {
			c.aus = append(c.aus, cur)
		}
		cur, curVCL = nil, false
	}
	for _, n := range nalus {
		typ := h264.NALUType(n[0] & 0x1f)
		switch {
		case typ == 0 || typ > h264.NALUTypeReserved23:
			// 0 and 24..31 are unspecified in H.264.
			return nil, fmt.Errorf("clip: NAL unit type %d: neither H.264 nor H.265", typ)
		case typ == h264.NALUTypeAccessUnitDelimiter || typ == h264.NALUTypeFillerData ||
			typ == h264.NALUTypeEndOfSequence || typ == h264.NALUTypeEndOfStream:
			// Marks of the byte stream, not of a looping live stream.
			if curVCL {
				flush()
			}
			continue
		case isVCL(typ):
			// A slice whose first_mb_in_slice is 0 (ue(v) starting with
			// a 1 bit) begins a new picture.
			if curVCL && len(n) > 1 && n[1]&0x80 != 0 {
				flush()
			}
			cur = append(cur, n)
			curVCL = true
		default:
			// SPS, PPS, SEI and the like precede the picture they go with.
			if curVCL {
				flush()
			}
			cur = append(cur, n)
		}
		if len(c.aus) > maxClipFrames {
			return nil, fmt.Errorf("clip: more than %d frames", maxClipFrames)
		}
	}
	flush()

	var sps, pps []byte
	var kept [][][]byte
	for _, au := range c.aus {
		hasSPS, hasPPS := false, false
		for _, n := range au {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				sps, hasSPS = n, true
				if c.sps == nil {
					c.sps = n
				}
			case h264.NALUTypePPS:
				pps, hasPPS = n, true
				if c.pps == nil {
					c.pps = n
				}
			}
		}
		idr := h264.IsRandomAccess(au)
		if len(kept) == 0 && !idr {
			continue
		}
		if idr && (!hasSPS || !hasPPS) {
			if sps == nil || pps == nil {
				return nil, errors.New("clip: an IDR comes before any SPS and PPS")
			}
			au = withParams(au, sps, pps, hasSPS, hasPPS)
		}
		kept = append(kept, au)
	}
	if len(kept) == 0 {
		return nil, errors.New("clip: no IDR frame")
	}
	c.aus = kept

	var s h264.SPS
	if err := s.Unmarshal(c.sps); err != nil {
		return nil, fmt.Errorf("clip: SPS: %w", err)
	}
	c.info = ClipInfo{
		Codec:   "H.264",
		Profile: profileName(s),
		Width:   s.Width(),
		Height:  s.Height(),
		Frames:  len(c.aus),
	}
	if err := c.presentation(&s); err != nil {
		return nil, err
	}
	return c, nil
}

// presentation works out when each access unit is shown from its picture
// order count (POC type 0, what cameras and x264 write): within a GOP,
// frames are shown in POC order.
func (c *clip) presentation(s *h264.SPS) error {
	c.shift = make([]int, len(c.aus))
	if s.PicOrderCntType != 0 {
		return nil // type 2: shown in decode order; type 1: not from cameras
	}
	maxLsb := int64(1) << (s.Log2MaxPicOrderCntLsbMinus4 + 4)
	var gop []int // indexes of the current GOP's AUs
	var pocs []int64
	var prevLsb, msb int64
	flush := func() {
		order := make([]int, len(gop))
		for i := range order {
			order[i] = i
		}
		// Sorted by POC: the k-th shown is shown at the GOP's start + k.
		for i := 1; i < len(order); i++ {
			for j := i; j > 0 && pocs[order[j]] < pocs[order[j-1]]; j-- {
				order[j], order[j-1] = order[j-1], order[j]
			}
		}
		for k, i := range order {
			c.shift[gop[i]] = k - i
			if k != i {
				c.info.BFrames = true
			}
		}
		gop, pocs = gop[:0], pocs[:0]
	}
	for i, au := range c.aus {
		lsb, idr, err := pocLsb(au, s)
		if err != nil {
			return fmt.Errorf("clip: frame %d: %w", i, err)
		}
		if idr {
			flush()
			prevLsb, msb = 0, 0
		}
		switch {
		case lsb < prevLsb && prevLsb-lsb >= maxLsb/2:
			msb += maxLsb
		case lsb > prevLsb && lsb-prevLsb > maxLsb/2:
			msb -= maxLsb
		}
		prevLsb = lsb
		gop = append(gop, i)
		pocs = append(pocs, msb+lsb)
	}
	flush()
	return nil
}

// pocLsb reads pic_order_cnt_lsb from an access unit's first slice.
func pocLsb(au [][]byte, s *h264.SPS) (int64, bool, error) {
	for _, n := range au {
		typ := h264.NALUType(n[0] & 0x1f)
		if !isVCL(typ) {
			continue
		}
		idr := typ == h264.NALUTypeIDR
		buf := h264.EmulationPreventionRemove(n[1:min(len(n), 32)])
		pos := 0
		for range 3 { // first_mb_in_slice, slice_type, pic_parameter_set_id
			if _, err := bits.ReadGolombUnsigned(buf, &pos); err != nil {
				return 0, false, fmt.Errorf("slice header: %w", err)
			}
		}
		if s.SeparateColourPlaneFlag {
			pos += 2
		}
		pos += int(s.Log2MaxFrameNumMinus4 + 4) // frame_num
		if !s.FrameMbsOnlyFlag {
			if field, err := bits.ReadFlag(buf, &pos); err != nil || field {
				return 0, false, errors.New("slice header: interlaced pictures are not looped")
			}
		}
		if idr {
			if _, err := bits.ReadGolombUnsigned(buf, &pos); err != nil { // idr_pic_id
				return 0, false, fmt.Errorf("slice header: %w", err)
			}
		}
		lsb, err := bits.ReadBits(buf, &pos, int(s.Log2MaxPicOrderCntLsbMinus4+4))
		if err != nil {
			return 0, false, fmt.Errorf("slice header: %w", err)
		}
		return int64(lsb), idr, nil
	}
	return 0, false, errors.New("no slice")
}

// parseH265 splits an H.265 stream into access units, as parseClip does an
// H.264 one: from the first IRAP picture, the parameter sets in front of
// every IRAP that lacks them. Its frames are shown in decode order (the
// clips are made without B-frames).
func parseH265(nalus [][]byte) (*clip, error) {
	c := &clip{}
	var cur [][]byte
	curVCL := false
	flush := func() {
		if len(cur) > 0 && curVCL {
			c.aus = append(c.aus, cur)
		}
		cur, curVCL = nil, false
	}
	for _, n := range nalus {
		if len(n) < 3 {
			continue
		}
		typ := h265.NALUType(n[0] >> 1 & 0x3f)
		switch {
		case typ == h265.NALUType_AUD_NUT || typ == h265.NALUType_EOS_NUT || typ == h265.NALUType_EOB_NUT || typ == h265.NALUType_FD_NUT:
			if curVCL {
				flush()
			}
			continue
		case typ < 32:
			if curVCL && n[2]&0x80 != 0 { // first_slice_segment_in_pic_flag
				flush()
			}
			cur = append(cur, n)
			curVCL = true
		case typ == h265.NALUType_SUFFIX_SEI_NUT:
			cur = append(cur, n)
		default:
			if curVCL {
				flush()
			}
			cur = append(cur, n)
		}
		if len(c.aus) > maxClipFrames {
			return nil, fmt.Errorf("clip: more than %d frames", maxClipFrames)
		}
	}
	flush()
	var vps, sps, pps []byte
	var kept [][][]byte
	for _, au := range c.aus {
		var has [3]bool
		for _, n := range au {
			switch h265.NALUType(n[0] >> 1 & 0x3f) {
			case h265.NALUType_VPS_NUT:
				vps, has[0] = n, true
			case h265.NALUType_SPS_NUT:
				sps, has[1] = n, true
			case h265.NALUType_PPS_NUT:
				pps, has[2] = n, true
			}
		}
		if c.vps == nil && vps != nil {
			c.vps = vps
		}
		if c.sps == nil && sps != nil {
			c.sps = sps
		}
		if c.pps == nil && pps != nil {
			c.pps = pps
		}
		irap := h265.IsRandomAccess(au)
		if len(kept) == 0 && !irap {
			continue
		}
		if irap && (!has[0] || !has[1] || !has[2]) {
			if vps == nil || sps == nil || pps == nil {
				return nil, errors.New("clip: an IRAP picture comes before any VPS, SPS and PPS")
			}
			var front [][]byte
			for i, p := range [][]byte{vps, sps, pps} {
				if !has[i] {
					front = append(front, p)
				}
			}
			au = append(front, au...)
		}
		kept = append(kept, au)
	}
	if len(kept) == 0 {
		return nil, errors.New("clip: no IRAP frame")
	}
	c.aus = kept
	c.shift = make([]int, len(kept))
	var s h265.SPS
	if err := s.Unmarshal(c.sps); err != nil {
		return nil, fmt.Errorf("clip: SPS: %w", err)
	}
	c.info = ClipInfo{Codec: "H.265", Profile: "Main", Width: s.Width(), Height: s.Height(), Frames: len(kept)}
	return c, nil
}

// withParams returns au with the SPS and PPS it lacks in front.
func withParams(au [][]byte, sps, pps []byte, hasSPS, hasPPS bool) [][]byte {
	out := make([][]byte, 0, len(au)+2)
	if !hasSPS {
		out = append(out, sps)
	}
	if !hasPPS {
		out = append(out, pps)
	}
	return append(out, au...)
}

func isVCL(t h264.NALUType) bool { return t >= h264.NALUTypeNonIDR && t <= h264.NALUTypeIDR }

// splitAnnexB splits a byte stream into its NAL units, without the start
// codes and the zero bytes that may trail them.
func splitAnnexB(b []byte) ([][]byte, error) {
	start := func(b []byte) int { // length of the start code b begins with, or 0
		switch {
		case len(b) >= 3 && b[0] == 0 && b[1] == 0 && b[2] == 1:
			return 3
		case len(b) >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 1:
			return 4
		}
		return 0
	}
	n := start(b)
	if n == 0 {
		return nil, errors.New("clip: not an Annex-B byte stream (no start code at the beginning)")
	}
	b = b[n:]
	var nalus [][]byte
	for len(b) > 0 {
		i := bytes.Index(b, []byte{0, 0, 1})
		end, next := len(b), len(b)
		if i >= 0 {
			end, next = i, i+3
		}
		nalu := bytes.TrimRight(b[:end], "\x00")
		if len(nalu) > 0 {
			if nalu[0]&0x80 != 0 {
				return nil, errors.New("clip: a NAL unit has its forbidden bit set")
			}
			nalus = append(nalus, nalu)
		}
		b = b[next:]
	}
	if len(nalus) == 0 {
		return nil, errors.New("clip: no NAL units")
	}
	return nalus, nil
}

// profileName names an SPS's profile as ffprobe does.
func profileName(s h264.SPS) string {
	switch s.ProfileIdc {
	case 66:
		if s.ConstraintSet1Flag {
			return "Constrained Baseline"
		}
		return "Baseline"
	case 77:
		return "Main"
	case 88:
		return "Extended"
	case 100:
		return "High"
	case 110:
		return "High 10"
	case 122:
		return "High 4:2:2"
	case 244:
		return "High 4:4:4 Predictive"
	}
	return fmt.Sprintf("profile %d", s.ProfileIdc)
}
