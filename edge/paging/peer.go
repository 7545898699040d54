package paging

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/dalaba/dalaba/devices/speaker"
	"github.com/dalaba/dalaba/protocol"
)

// newAPI builds the pion API of one page. Its MediaEngine knows one codec,
// the G.711 payload type picked from the offer, so the answer offers the
// browser nothing else to send.
func (s *Server) newAPI(off offered) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: g711Capability(off.Law),
		PayloadType:        webrtc.PayloadType(off.PT),
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register %s: %w", off.Law, err)
	}
	// Receiver reports: the browser's stats and congestion view want
	// them. No NACK: a resent 20 ms frame would come too late to play.
	ir := &interceptor.Registry{}
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

func g711Capability(law speaker.Law) webrtc.RTPCodecCapability {
	mime := webrtc.MimeTypePCMU
	if law == speaker.ALaw {
		mime = webrtc.MimeTypePCMA
	}
	return webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 8000}
}

// open negotiates the session's PeerConnection from the offer and gathers
// its candidates; it returns the answer. On error nothing is left.
func (ss *session) open(rawOffer string) (string, error) {
	api, err := ss.srv.newAPI(ss.off)
	if err != nil {
		return "", err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: iceServers(ss.srv.iceServers())})
	if err != nil {
		return "", fmt.Errorf("peer connection: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			// Nothing was sent yet; wait for pion's goroutines so none
			// outlives the call.
			_ = pc.GracefulClose()
		}
	}()
	pc.OnConnectionStateChange(ss.onState)
	pc.OnTrack(ss.onTrack)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: rawOffer}); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	if !receives(pc, ss.off.Law) {
		return "", fmt.Errorf("%w: %s not negotiated", ErrNoG711, ss.off.Law)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("create answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("set answer: %w", err)
	}
	select {
	case <-gathered:
	case <-ss.ctx.Done():
		return "", fmt.Errorf("gathering ICE candidates: %w", context.Cause(ss.ctx))
	}
	ok = true
	ss.pc = pc
	return pc.LocalDescription().SDP, nil
}

// receives reports whether pc will receive audio in law.
func receives(pc *webrtc.PeerConnection, law speaker.Law) bool {
	for _, t := range pc.GetTransceivers() {
		if t.Kind() != webrtc.RTPCodecTypeAudio || t.Receiver() == nil {
			continue
		}
		if d := t.Direction(); d != webrtc.RTPTransceiverDirectionRecvonly && d != webrtc.RTPTransceiverDirectionSendrecv {
			continue
		}
		if slices.ContainsFunc(t.Receiver().GetParameters().Codecs, func(c webrtc.RTPCodecParameters) bool {
			return strings.EqualFold(c.MimeType, g711Capability(law).MimeType)
		}) {
			return true
		}
	}
	return false
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
