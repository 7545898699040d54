package whep

import (
	"fmt"
	"strings"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// newPeer makes the PeerConnection of one session. Its MediaEngine knows
// one codec, the payload type chosen from the viewer's offer with the
// offer's own fmtp line, so pion answers with exactly that (a shared engine
// with fixed profiles would drop a browser's PTs whose profile it lacks).
func (s *Server) newPeer(pt offered) (*webrtc.PeerConnection, error) {
	m := &webrtc.MediaEngine{}
	err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: h264Capability(pt),
		PayloadType:        webrtc.PayloadType(pt.PT),
	}, webrtc.RTPCodecTypeVideo)
	if err != nil {
		return nil, fmt.Errorf("register H.264: %w", err)
	}
	// NACK: the box keeps recent packets and resends what a viewer lost
	// (Peers adds the RTCP reports). No PLI answer is possible: the camera
	// is shared and its GOP is what it is.
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(m, ir); err != nil {
		return nil, fmt.Errorf("nack: %w", err)
	}
	return s.peers.New(m, ir)
}

// h264Capability is the codec of the box's track: the viewer's choice.
func h264Capability(pt offered) webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: pt.Fmtp}
}

// isH264 reports whether a negotiated codec is H.264.
func isH264(c webrtc.RTPCodecParameters) bool {
	return strings.EqualFold(c.MimeType, webrtc.MimeTypeH264)
}
