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

// offered is one H.264 (or H.265) payload type of a viewer's offer.
type offered struct {
	PT      uint8
	Fmtp    string // the offer's fmtp line, kept whole for the answer
	Profile [3]byte
}

// offer is what a viewer's offer lets the box send.
type offer struct {
	h264  []offered // packetization-mode=1, in the offer's order
	h265  []offered // in the offer's order; browsers that decode H.265 only
	audio []offered // PCMA and PCMU of the first audio m-line the viewer receives
}

// parseOffer checks a viewer's offer and returns the payload types of its
// first video m-line that the box can send to: H.264 with
// packetization-mode=1, since cameras fragment their frames in FU-A, and
// H.265, in the offer's order (the viewer's preference); and the G.711
// payload types of its first audio m-line, if it receives one.
func parseOffer(raw string) (offer, error) {
	sd, err := rtcpeer.ParseOffer(raw)
	if err != nil {
		return offer{}, err
	}
	var o offer
	for _, m := range sd.MediaDescriptions {
		if !strings.EqualFold(m.MediaName.Media, "audio") || m.MediaName.Port.Value == 0 || direction(m) == "sendonly" || direction(m) == "inactive" {
			continue
		}
		codecs, _, err := rtcpeer.Codecs(sd, m)
		if err != nil {
			return offer{}, err
		}
		for _, c := range codecs {
			if (strings.EqualFold(c.Name, "PCMA") || strings.EqualFold(c.Name, "PCMU")) && c.ClockRate == 8000 {
				o.audio = append(o.audio, offered{PT: c.PT, Fmtp: strings.ToUpper(c.Name)})
			}
		}
		break
	}
	var err2 error
	o.h264, o.h265, err2 = videoOffers(sd)
	if err2 != nil {
		return offer{}, err2
	}
	return o, nil
}

// direction is an m-line's direction attribute, "" when it has none.
func direction(m *sdp.MediaDescription) string {
	for _, a := range m.Attributes {
		switch a.Key {
		case "sendonly", "recvonly", "sendrecv", "inactive":
			return a.Key
		}
	}
	return ""
}

// videoOffers are the H.264 and H.265 payload types of the first video
// m-line.
func videoOffers(sd *sdp.SessionDescription) ([]offered, []offered, error) {
	var video *sdp.MediaDescription
	for _, m := range sd.MediaDescriptions {
		if strings.EqualFold(m.MediaName.Media, "video") && m.MediaName.Port.Value != 0 {
			video = m
			break
		}
	}
	if video == nil {
		return nil, nil, ErrNoVideo
	}
	if d := direction(video); d == "sendonly" || d == "inactive" {
		return nil, nil, fmt.Errorf("%w: the video m-line is %s", ErrNoVideo, d)
	}
	codecs, names, err := rtcpeer.Codecs(sd, video)
	if err != nil {
		return nil, nil, err
	}
	var out, hevc []offered
	for _, c := range codecs {
		if strings.EqualFold(c.Name, "H265") && c.ClockRate == 90000 {
			hevc = append(hevc, offered{PT: c.PT, Fmtp: c.Fmtp})
			continue
		}
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
	if len(out) == 0 && len(hevc) == 0 {
		return nil, nil, fmt.Errorf("%w (offered: %s)", ErrNoH264, strings.Join(names, " "))
	}
	return out, hevc, nil
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
