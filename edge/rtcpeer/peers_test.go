package rtcpeer

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/dalaba/dalaba/edge/rtcpeer/rtcpeertest"
	"github.com/dalaba/dalaba/protocol"
)

var pcmu = webrtc.RTPCodecParameters{
	RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000},
	PayloadType:        0,
}

// engine is a MediaEngine that knows PCMU alone.
func engine(t *testing.T) *webrtc.MediaEngine {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(pcmu, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	return m
}

// freeUDPPort is a UDP port nothing listens on just now.
func freeUDPPort(t *testing.T) uint16 {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return uint16(port)
}

// TestPeersAnswer: a browser sending audio is answered by a box's
// PeerConnection from Peers with every candidate in the answer, on the
// configured port, and the two connect; the session sees it, and sees the
// box's end close.
func TestPeersAnswer(t *testing.T) {
	port := freeUDPPort(t)
	peers := NewPeers(Config{DisconnectedTimeout: DefaultDisconnectedTimeout, Loopback: true, UDPPortMin: port, UDPPortMax: port})

	browser := rtcpeertest.NewPeer(t, engine(t), nil)
	track, err := webrtc.NewTrackLocalStaticSample(pcmu.RTPCodecCapability, "mic", "pager")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := browser.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	offer := rtcpeertest.Offer(t, browser)

	box, err := peers.New(engine(t), &interceptor.Registry{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = box.GracefulClose() })
	s := NewSession(t.Context(), "s1", slog.New(slog.DiscardHandler))
	box.OnConnectionStateChange(s.OnState)
	got := make(chan *webrtc.TrackRemote, 1)
	box.OnTrack(func(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		go DrainRTCP(r)
		got <- tr
	})
	if err := box.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		t.Fatal(err)
	}
	answer, err := Answer(t.Context(), box)
	if err != nil {
		t.Fatal(err)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(answer); err != nil {
		t.Fatalf("answer: %v\n%s", err, answer)
	}
	var loopback bool
	for _, a := range sd.MediaDescriptions[0].Attributes {
		if a.Key != "candidate" {
			continue
		}
		f := strings.Fields(a.Value) // foundation component proto priority address port typ ...
		if f[2] != "udp" || f[5] != strconv.Itoa(int(port)) {
			t.Errorf("candidate %q: want UDP on port %d", a.Value, port)
		}
		loopback = loopback || f[4] == "127.0.0.1"
	}
	if !loopback {
		t.Fatalf("answer has no loopback candidate:\n%s", answer)
	}
	rtcpeertest.Accept(t, browser, answer)

	select {
	case <-s.Connected():
	case <-time.After(10 * time.Second):
		t.Fatal("the browser did not connect")
	}
	// Audio flows, so the interceptors Peers set up are in the path.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if err := track.WriteSample(media.Sample{Data: make([]byte, 160), Duration: 20 * time.Millisecond}); err != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	select {
	case tr := <-got:
		if _, _, err := tr.ReadRTP(); err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no track reached the box")
	}
	select {
	case <-s.Failed():
		t.Fatal("Failed before anything failed")
	default:
	}
	if err := box.GracefulClose(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Failed():
	case <-time.After(10 * time.Second):
		t.Fatal("closing the box's end did not show as Failed")
	}
}

// TestPeersICE: new PeerConnections gather with the desired state's ICE
// servers once set, and with the config's again after SetICE(nil).
func TestPeersICE(t *testing.T) {
	cfgICE := []protocol.ICEServer{{URLs: []string{"stun:stun.example.cn:3478"}}}
	peers := NewPeers(Config{ICE: cfgICE, DisconnectedTimeout: time.Second})
	urls := func() []webrtc.ICEServer {
		t.Helper()
		pc, err := peers.New(engine(t), &interceptor.Registry{})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = pc.Close() }()
		return pc.GetConfiguration().ICEServers
	}
	if got := urls(); len(got) != 1 || got[0].URLs[0] != "stun:stun.example.cn:3478" {
		t.Errorf("from the config: %+v", got)
	}
	peers.SetICE([]protocol.ICEServer{
		{URLs: []string{"turn:turn.example.cn:3478?transport=udp"}, Username: "box", Credential: "secret"},
		{URLs: []string{"stun:stun2.example.cn:3478"}},
	})
	got := urls()
	if len(got) != 2 || got[0].URLs[0] != "turn:turn.example.cn:3478?transport=udp" || got[0].Username != "box" ||
		got[0].Credential != "secret" || got[1].Credential != nil {
		t.Errorf("from the desired state: %+v", got)
	}
	peers.SetICE(nil)
	if got := urls(); len(got) != 1 || got[0].URLs[0] != "stun:stun.example.cn:3478" {
		t.Errorf("back to the config: %+v", got)
	}
}
