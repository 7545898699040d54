package whep

import (
	"fmt"
	"strings"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/dalaba/dalaba/protocol"
)

// newAPI builds the pion API of one session. Its MediaEngine knows one
// codec, the payload type chosen from the viewer's offer with the offer's
// own fmtp line, so pion answers with exactly that (a shared engine with
// fixed profiles would drop a browser's PTs whose profile it lacks).
func (s *Server) newAPI(pt offered) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: h264Capability(pt),
		PayloadType:        webrtc.PayloadType(pt.PT),
	}, webrtc.RTPCodecTypeVideo)
	if err != nil {
		return nil, fmt.Errorf("register H.264: %w", err)
	}
	// NACK: the box keeps recent packets and resends what a viewer lost.
	// Receiver/sender reports: browsers want them for their stats and
	// jitter buffer. No PLI answer is possible: the camera is shared and
	// its GOP is what it is.
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(m, ir); err != nil {
		return nil, fmt.Errorf("nack: %w", err)
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, fmt.Errorf("rtcp reports: %w", err)
	}
	se := webrtc.SettingEngine{}
	// A zero keepalive would turn pion's keepalives off, not default
	// them: give its default, or less for a short timeout.
	se.SetICETimeouts(s.cfg.DisconnectedTimeout, s.cfg.DisconnectedTimeout, min(2*time.Second, s.cfg.DisconnectedTimeout/2))
	if s.cfg.UDPPortMin != 0 {
		if err := se.SetEphemeralUDPPortRange(s.cfg.UDPPortMin, s.cfg.UDPPortMax); err != nil {
			return nil, fmt.Errorf("udp ports: %w", err)
		}
	}
	se.SetIncludeLoopbackCandidate(s.cfg.Loopback)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// h264Capability is the codec of the box's track: the viewer's choice.
func h264Capability(pt offered) webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: pt.Fmtp}
}

// iceServers converts the desired state's servers to pion's.
func iceServers(in []protocol.ICEServer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(in))
	for _, s := range in {
		srv := webrtc.ICEServer{URLs: s.URLs, Username: s.Username}
		if s.Credential != "" {
			srv.Credential = s.Credential
		}
		out = append(out, srv)
	}
	return out
}

// isH264 reports whether a negotiated codec is H.264.
func isH264(c webrtc.RTPCodecParameters) bool {
	return strings.EqualFold(c.MimeType, webrtc.MimeTypeH264)
}
