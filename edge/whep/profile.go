package whep

import (
	"encoding/hex"
	"fmt"
)

// Profile negotiation. A camera sends what it encodes (often Main or
// High) and the box passes it through; a browser offers a few fixed
// profile-level-ids (42001f, 42e01f, 4d001f, 640032, ...) and decodes what
// its decoder can, whatever was negotiated: Chrome and Safari decode High
// on a 42e01f session. So the answer picks, among the offer's
// packetization-mode=1 payload types, in this order:
//
//  1. one whose profile (profile_idc and constraint flags) is the camera's;
//  2. the smallest profile that contains the camera's (Constrained
//     Baseline ⊂ Main ⊂ High), so the browser has prepared the right
//     decoder;
//  3. the richest profile offered, the browser's best decoder;
//
// ties going to the offer's order. The answer keeps the offer's fmtp line
// for that payload type verbatim (RFC 6184 wants the parameters used
// symmetrically), so the browser always accepts it; the level is not
// compared, since browsers decode higher levels than they announce.

// profileRank orders H.264 profiles by what a decoder of each handles;
// 0 is unknown.
func profileRank(p [3]byte) int {
	switch p[0] {
	case 0x42: // Baseline; constraint_set1 makes it Constrained Baseline
		if p[1]&0x40 != 0 {
			return 1
		}
		return 2
	case 0x4d: // Main
		return 3
	case 0x58: // Extended
		return 3
	case 0x64: // High
		return 4
	case 0x6e, 0x7a, 0xf4: // High 10, 4:2:2, 4:4:4
		return 5
	}
	return 0
}

// sameProfile reports whether a and b name one profile: profile_idc and
// the constraint flags that matter to a decoder, as pion and browsers
// compare them.
func sameProfile(a, b [3]byte) bool {
	return a[0] == b[0] && a[1] == b[1]
}

// choose picks the payload type to send a camera's stream with; offers is
// not empty.
func choose(camera [3]byte, offers []offered) offered {
	cam := profileRank(camera)
	best, bestScore := offers[0], -1
	for _, o := range offers {
		r := profileRank(o.Profile)
		var score int
		switch {
		case sameProfile(o.Profile, camera):
			score = 1000
		case cam > 0 && r >= cam:
			score = 500 - r // the tightest superset
		default:
			score = 100 + r // the best decoder the browser has
		}
		if score > bestScore {
			best, bestScore = o, score
		}
	}
	return best
}

// parseProfileLevelID reads "42e01f".
func parseProfileLevelID(s string) ([3]byte, bool) {
	var p [3]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 3 {
		return p, false
	}
	copy(p[:], b)
	return p, true
}

// spsProfile reads profile_idc, the constraint flags and level_idc of an
// SPS NAL unit (header byte included).
func spsProfile(sps []byte) ([3]byte, error) {
	var p [3]byte
	if len(sps) < 4 || sps[0]&0x1f != 7 {
		return p, fmt.Errorf("not an SPS (%d bytes)", len(sps))
	}
	copy(p[:], sps[1:4])
	return p, nil
}

// profileString is "640028" for logs.
func profileString(p [3]byte) string { return hex.EncodeToString(p[:]) }
