package whep

import (
	"fmt"
	"strings"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// newPeer makes the PeerConnection of one session. Its MediaEngine knows
// the codecs chosen from the viewer's offer, each on the offer's payload
// type with the offer's own fmtp line, so pion answers with exactly those
// (a shared engine with fixed profiles would drop a browser's PTs whose
// profile it lacks): the video, and the camera's G.711 if audio is set.
func (s *Server) newPeer(h265 bool, video offered, audio *offered) (*webrtc.PeerConnection, error) {
	m := &webrtc.MediaEngine{}
	err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: videoCapability(h265, video),
		PayloadType:        webrtc.PayloadType(video.PT),
	}, webrtc.RTPCodecTypeVideo)
	if err != nil {
		return nil, fmt.Errorf("register video codec: %w", err)
	}
	if audio != nil {
		err := m.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: audioCapability(*audio),
			PayloadType:        webrtc.PayloadType(audio.PT),
		}, webrtc.RTPCodecTypeAudio)
		if err != nil {
			return nil, fmt.Errorf("register audio codec: %w", err)
		}
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

// videoCapability is the codec of the box's video track: the viewer's
// choice.
func videoCapability(h265 bool, pt offered) webrtc.RTPCodecCapability {
	mime := webrtc.MimeTypeH264
	if h265 {
		mime = webrtc.MimeTypeH265
	}
	return webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000, SDPFmtpLine: pt.Fmtp}
}

// audioCapability is the codec of the box's audio track; offered.Fmtp
// holds the law's name for audio.
func audioCapability(pt offered) webrtc.RTPCodecCapability {
	mime := webrtc.MimeTypePCMA
	if pt.Fmtp == "PCMU" {
		mime = webrtc.MimeTypePCMU
	}
	return webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 8000, Channels: 1}
}

// isVideo reports whether a negotiated codec is the one meant.
func isVideo(c webrtc.RTPCodecParameters, h265 bool) bool {
	if h265 {
		return strings.EqualFold(c.MimeType, webrtc.MimeTypeH265)
	}
	return strings.EqualFold(c.MimeType, webrtc.MimeTypeH264)
}
