package whep

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/dalaba/dalaba/protocol"
)

// cuttable is a UDP socket that can go silent: writes are dropped, as
// when a viewer's laptop lid closes or its network goes away.
type cuttable struct {
	net.PacketConn
	cut atomic.Bool
}

func (c *cuttable) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.cut.Load() {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, addr)
}

// TestViewerVanishes: a viewer that goes silent without closing is ended
// by ICE after about twice DisconnectedTimeout.
func TestViewerVanishes(t *testing.T) {
	r := startRig(t, rigOpts{cfg: Config{DisconnectedTimeout: 500 * time.Millisecond}})
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cc := &cuttable{PacketConn: conn}
	mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: cc})
	t.Cleanup(func() { _ = mux.Close() }) // closes conn
	v, offer := newViewerWith(t, nil, func(se *webrtc.SettingEngine) {
		se.SetICEUDPMux(mux)
		// Keepalives often enough to hold a 500 ms timeout while alive.
		se.SetICETimeouts(5*time.Second, 5*time.Second, 100*time.Millisecond)
	})
	res, err := r.srv.Answer(t.Context(), protocol.WHEPArgs{Camera: "cam1", Offer: offer, Viewer: "lid"})
	if err != nil {
		t.Fatal(err)
	}
	v.accept(t, res.Answer)
	waitFor(t, "frames", func() bool { return len(v.received()) >= 3 })
	cc.cut.Store(true)
	cutAt := time.Now()
	waitFor(t, "the silent viewer's session ends", func() bool { return r.srv.Sessions() == 0 })
	t.Logf("ended %v after the viewer went silent", time.Since(cutAt).Round(10*time.Millisecond))
	if evs := r.viewingsSoFar(); len(evs) != 1 || evs[0].Viewer != "lid" || evs[0].Bytes == 0 {
		t.Errorf("viewings = %+v", evs)
	}
	waitFor(t, "relay readers back to 0", func() bool { return r.readers() == 0 })
}
