package whep

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/dalaba/dalaba/edge/rtcpeer"
)

// Errors Answer returns, wrapped; read them with errors.Is.
var (
	ErrBadRequest       = errors.New("invalid WHEP request")
	ErrBadOffer         = rtcpeer.ErrBadOffer
	ErrNoVideo          = errors.New("offer has no video to receive")
	ErrNoH264           = errors.New("offer has no H.264 with packetization-mode=1")
	ErrUnsupportedCodec = errors.New("camera codec not supported over WebRTC")
	ErrTooManySessions  = errors.New("too many WebRTC viewers")
	ErrOverBudget       = errors.New("over the box's viewing budget")
	ErrUnknownSession   = errors.New("no such session")
	ErrNotRunning       = errors.New("server not running")
)

// offered is one H.264 payload type of a viewer's offer.
type offered struct {
	PT      uint8
	Fmtp    string // the offer's fmtp line, kept whole for the answer
	Profile [3]byte
}

// parseOffer checks a viewer's offer and returns the H.264 payload types
// of its first video m-line that the box can send to: packetization-mode=1,
// since cameras fragment their frames in FU-A, in the offer's order (the
// viewer's preference).
func parseOffer(raw string) ([]offered, error) {
	sd, err := rtcpeer.ParseOffer(raw)
	if err != nil {
		return nil, err
	}
	var video *sdp.MediaDescription
	for _, m := range sd.MediaDescriptions {
		if strings.EqualFold(m.MediaName.Media, "video") && m.MediaName.Port.Value != 0 {
			video = m
			break
		}
	}
	if video == nil {
		return nil, ErrNoVideo
	}
	for _, a := range video.Attributes {
		if a.Key == "sendonly" || a.Key == "inactive" {
			return nil, fmt.Errorf("%w: the video m-line is %s", ErrNoVideo, a.Key)
		}
	}
	codecs, names, err := rtcpeer.Codecs(sd, video)
	if err != nil {
		return nil, err
	}
	var out []offered
	for _, c := range codecs {
		if !strings.EqualFold(c.Name, "H264") || c.ClockRate != 90000 {
			continue
		}
		params := fmtpParams(c.Fmtp)
		if params["packetization-mode"] != "1" {
			continue
		}
		prof, ok := parseProfileLevelID(params["profile-level-id"])
		if !ok {
			// RFC 6184: absent means Baseline level 1.0.
			prof = [3]byte{0x42, 0x00, 0x0a}
		}
		out = append(out, offered{PT: c.PT, Fmtp: c.Fmtp, Profile: prof})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w (offered: %s)", ErrNoH264, strings.Join(names, " "))
	}
	return out, nil
}

// fmtpParams splits "a=b;c=d" into a map with lower-case keys.
func fmtpParams(line string) map[string]string {
	m := map[string]string{}
	for p := range strings.SplitSeq(line, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok {
			m[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	return m
}
