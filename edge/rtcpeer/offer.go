package rtcpeer

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/pion/sdp/v3"
)

// ErrBadOffer is returned, wrapped, for an offer that is not SDP or whose
// payload types are not numbers 0-127.
var ErrBadOffer = errors.New("malformed SDP offer")

// ParseOffer parses a browser's SDP offer.
func ParseOffer(raw string) (*sdp.SessionDescription, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	return &sd, nil
}

// Codec is one payload type of an m-line with what the offer says of it
// (rtpmap and fmtp).
type Codec struct {
	PT uint8
	sdp.Codec
}

// Codecs lists the payload types of m that name a codec, in the offer's
// order (the browser's preference), and the names of those codecs, each
// once, for telling what was offered when none will do. A payload type
// without a codec (a dynamic one with no rtpmap) is left out; one that is
// not a number 0-127 is ErrBadOffer.
func Codecs(sd *sdp.SessionDescription, m *sdp.MediaDescription) ([]Codec, []string, error) {
	var out []Codec
	var names []string
	for _, f := range m.MediaName.Formats {
		pt, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: payload type %q", ErrBadOffer, f)
		}
		c, err := sd.GetCodecForPayloadType(uint8(pt))
		if err != nil {
			continue
		}
		if !slices.Contains(names, c.Name) {
			names = append(names, c.Name)
		}
		out = append(out, Codec{PT: uint8(pt), Codec: c})
	}
	return out, names, nil
}
