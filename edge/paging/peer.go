package paging

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/dalaba/dalaba/devices/speaker"
	"github.com/dalaba/dalaba/edge/rtcpeer"
)

// newPeer makes the PeerConnection of one page. Its MediaEngine knows one
// codec, the G.711 payload type picked from the offer, so the answer
// offers the browser nothing else to send.
func (s *Server) newPeer(off offered) (*webrtc.PeerConnection, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: g711Capability(off.Law),
		PayloadType:        webrtc.PayloadType(off.PT),
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register %s: %w", off.Law, err)
	}
	// Receiver reports only (Peers adds them). No NACK: a resent 20 ms
	// frame would come too late to play.
	return s.peers.New(m, &interceptor.Registry{})
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
	pc, err := ss.srv.newPeer(ss.off)
	if err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			// Nothing was sent yet; wait for pion's goroutines so none
			// outlives the call.
			_ = pc.GracefulClose()
		}
	}()
	pc.OnConnectionStateChange(ss.OnState)
	pc.OnTrack(ss.onTrack)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: rawOffer}); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	if !receives(pc, ss.off.Law) {
		return "", fmt.Errorf("%w: %s not negotiated", ErrNoG711, ss.off.Law)
	}
	answer, err := rtcpeer.Answer(ss.Context(), pc)
	if err != nil {
		return "", err
	}
	ok = true
	ss.pc = pc
	return answer, nil
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
