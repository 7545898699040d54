package rtcpeer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/dalaba/dalaba/protocol"
)

// Peers makes the PeerConnections of one server with its Config's
// transport settings and the ICE servers of the day. It is safe for
// concurrent use.
type Peers struct {
	cfg Config

	mu  sync.Mutex
	ice []protocol.ICEServer // the desired state's, over cfg.ICE
}

// NewPeers makes PeerConnections with cfg, whose defaults are filled and
// which is valid (Problems found none).
func NewPeers(cfg Config) *Peers {
	return &Peers{cfg: cfg}
}

// SetICE replaces the STUN and TURN servers new sessions gather with (a
// new desired state); nil goes back to Config.ICE.
func (p *Peers) SetICE(ice []protocol.ICEServer) {
	p.mu.Lock()
	p.ice = ice
	p.mu.Unlock()
}

// iceServers are the servers new sessions gather with, as pion takes them.
func (p *Peers) iceServers() []webrtc.ICEServer {
	p.mu.Lock()
	in := p.ice
	if in == nil {
		in = p.cfg.ICE
	}
	p.mu.Unlock()
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

// New makes the PeerConnection of one session. m holds the codec the
// server answers with and ir its own interceptors; RTCP sender and
// receiver reports are added to ir, since browsers want them for their
// stats, jitter buffer and congestion view. Candidates are UDP only, on
// the configured ports, loopback included if configured.
func (p *Peers) New(m *webrtc.MediaEngine, ir *interceptor.Registry) (*webrtc.PeerConnection, error) {
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, fmt.Errorf("rtcp reports: %w", err)
	}
	se := webrtc.SettingEngine{}
	// A zero keepalive would turn pion's keepalives off, not default
	// them: give its default, or less for a short timeout.
	d := p.cfg.DisconnectedTimeout
	se.SetICETimeouts(d, d, min(2*time.Second, d/2))
	if p.cfg.UDPPortMin != 0 {
		if err := se.SetEphemeralUDPPortRange(p.cfg.UDPPortMin, p.cfg.UDPPortMax); err != nil {
			return nil, fmt.Errorf("udp ports: %w", err)
		}
	}
	se.SetIncludeLoopbackCandidate(p.cfg.Loopback)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: p.iceServers()})
	if err != nil {
		return nil, fmt.Errorf("peer connection: %w", err)
	}
	return pc, nil
}

// Answer answers the offer pc has as its remote description and returns
// the answer once every ICE candidate is gathered: the answer carries them
// all, as the box's signalling has no trickle. ctx bounds the gathering.
func Answer(ctx context.Context, pc *webrtc.PeerConnection) (string, error) {
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
	case <-ctx.Done():
		return "", fmt.Errorf("gathering ICE candidates: %w", context.Cause(ctx))
	}
	return pc.LocalDescription().SDP, nil
}

// RTCPReader is an RTPSender or RTPReceiver: where a session's RTCP comes.
type RTCPReader interface {
	Read(b []byte) (int, interceptor.Attributes, error)
}

// DrainRTCP reads r until the read fails, as it does once the
// PeerConnection is closed. RTCP must be read for the interceptors (NACK,
// reports) to see it; what they do not take is of no use.
func DrainRTCP(r RTCPReader) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := r.Read(buf); err != nil {
			return
		}
	}
}
