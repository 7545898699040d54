package sim

import (
	"bytes"
	_ "embed" // the default clip
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
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
	Codec         string // "H.264"
	Profile       string // "Constrained Baseline", "High", ...
	Width, Height int
	Frames        int // access units per loop
}

// String is what a person reads: "H.264 640x360".
func (c ClipInfo) String() string { return fmt.Sprintf("%s %dx%d", c.Codec, c.Width, c.Height) }

// clip is a parsed clip, ready to loop.
type clip struct {
	info     ClipInfo
	sps, pps []byte     // the first of each, for the SDP
	aus      [][][]byte // access units, each a list of NALUs; the first is an IDR
}

// ParseClip checks that b is Annex-B H.264 the simulator can loop and
// describes it.
func ParseClip(b []byte) (ClipInfo, error) {
	c, err := parseClip(b)
	if err != nil {
		return ClipInfo{}, err
	}
	return c.info, nil
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
			// 0 and 24..31 are unspecified in H.264; an H.265 stream
			// starts with one (its VPS reads as type 0).
			return nil, fmt.Errorf("clip: NAL unit type %d: not H.264 (an H.265 clip?)", typ)
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
