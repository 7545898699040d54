// Package rtcpeertest is the browser's end of the box's WebRTC tests: a
// pion PeerConnection on loopback that offers, with every candidate
// gathered, and takes the box's answer, as the township's browsers do
// through WHEP and WHIP-style signalling. Only tests import it.
package rtcpeertest

import (
	"testing"

	"github.com/pion/webrtc/v4"
)

// NewPeer makes a browser's PeerConnection knowing m's codecs, with host
// candidates on the loopback interface only (UDP over IPv4), so that it
// reaches a box answering with loopback candidates and nothing else; set,
// if not nil, changes its settings last. It is closed at the test's end.
func NewPeer(t testing.TB, m *webrtc.MediaEngine, set func(*webrtc.SettingEngine)) *webrtc.PeerConnection {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if set != nil {
		set(&se)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.GracefulClose() }) // closing twice is fine
	return pc
}

// Offer makes pc's offer for the tracks and transceivers it has and
// returns it once every candidate is gathered: no trickle.
func Offer(t testing.TB, pc *webrtc.PeerConnection) string {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}

// Accept takes the box's answer.
func Accept(t testing.TB, pc *webrtc.PeerConnection, answer string) {
	t.Helper()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatalf("set answer: %v", err)
	}
}
