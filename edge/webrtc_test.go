package edge

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/sdp/v3"

	"github.com/dalaba/dalaba/devices/speaker/speakersim"
	"github.com/dalaba/dalaba/protocol"
)

// A firewalled village pins the UDP ports of its WebRTC sessions in
// edge.yaml (webrtc.udp_port_min and udp_port_max): the box's answer to a
// page offers candidates on those ports alone.
func TestWebRTCSessionsKeepToTheConfiguredPorts(t *testing.T) {
	brokerURL := embeddedBroker(t)
	tw := newTownship(t, brokerURL, "ports-box")
	cfg := testConfig(t, brokerURL, "ports-box", tw.key.Public().(ed25519.PublicKey))
	lo := freeUDPPort(t)
	cfg.WebRTC.MaxViewers, cfg.WebRTC.MaxPages = 2, 2
	cfg.WebRTC.UDPPortMin, cfg.WebRTC.UDPPortMax = lo, lo+7
	startBox(t, cfg)

	horn, err := speakersim.New(speakersim.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	simCtx, stopSim := context.WithCancel(t.Context())
	simDone := make(chan error, 1)
	go func() { simDone <- horn.Run(simCtx) }()
	t.Cleanup(func() { stopSim(); <-simDone })
	spec, err := json.Marshal(protocol.Spec{Broadcast: &protocol.Broadcast{
		Speakers: []protocol.Speaker{{ID: "horn", Driver: protocol.DriverRTP, Addr: horn.Addr().String(), Codec: "PCMA"}},
		Zones:    []protocol.Zone{{ID: "square", Speakers: []string{"horn"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	d, err := protocol.SignDesired(tw.key, protocol.Desired{BoxID: "ports-box", Rev: 1, IssuedAt: now, ExpiresAt: now.Add(time.Hour), Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	tw.publish(protocol.KindDesired, d, true)
	t.Cleanup(func() {
		tw.cl.Publish(protocol.Topic("ports-box", protocol.KindDesired), 1, true, []byte{}).WaitTimeout(5 * time.Second)
	})
	var rep protocol.Reported
	tw.eventually("the desired state applied", func() bool { return tw.last(protocol.KindReported, &rep) && rep.AppliedRev == 1 })

	_, offer := browserMicrophone(t)
	var res protocol.CommandResult
	// The playout takes the applied state on its own goroutine: until then
	// the box has no zones, and says so.
	for i := 0; ; i++ {
		res = tw.pageCommand(fmt.Sprintf("page-%d", i), protocol.CmdPage, protocol.PageArgs{Zones: []string{"square"}, Offer: offer, Pager: "王主任"})
		if res.OK || !strings.Contains(res.Error, "no zones yet") || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !res.OK {
		t.Fatalf("paging.offer refused: %s", res.Error)
	}
	var page protocol.PageResult
	if err := json.Unmarshal(res.Data, &page); err != nil {
		t.Fatal(err)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(page.Answer); err != nil {
		t.Fatalf("answer: %v\n%s", err, page.Answer)
	}
	n := 0
	for _, m := range sd.MediaDescriptions {
		for _, a := range m.Attributes {
			if a.Key != "candidate" {
				continue
			}
			f := strings.Fields(a.Value) // foundation component proto priority address port typ ...
			port, err := strconv.Atoi(f[5])
			if err != nil || f[2] != "udp" || port < cfg.WebRTC.UDPPortMin || port > cfg.WebRTC.UDPPortMax {
				t.Errorf("candidate %q: want UDP on a port from %d to %d", a.Value, cfg.WebRTC.UDPPortMin, cfg.WebRTC.UDPPortMax)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatalf("the answer has no candidate:\n%s", page.Answer)
	}
}

// freeUDPPort is the first of eight UDP ports that were free just now.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		c, err := net.ListenPacket("udp4", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if port+7 > 65535 {
			continue
		}
		free := true
		for p := port; p <= port+7 && free; p++ {
			l, err := net.ListenPacket("udp4", "0.0.0.0:"+strconv.Itoa(p))
			if err != nil {
				free = false
				continue
			}
			l.Close()
		}
		if free {
			return port
		}
	}
	t.Fatal("no eight free UDP ports in a row")
	return 0
}
