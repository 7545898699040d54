package edge

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker/speakersim"
	"github.com/dalaba/dalaba/protocol"
)

// pageCommand sends a signed paging command and returns its result.
func (tw *township) pageCommand(id, typ string, args any) protocol.CommandResult {
	tw.t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		tw.t.Fatal(err)
	}
	now := time.Now()
	p, err := protocol.SignCommand(tw.key, protocol.Command{ID: id, BoxID: tw.box, Type: typ, IssuedAt: now, ExpiresAt: now.Add(time.Minute), Args: raw})
	if err != nil {
		tw.t.Fatal(err)
	}
	tw.publish(protocol.KindCmd, p, false)
	var res protocol.CommandResult
	tw.eventually("the result of "+id, func() bool {
		tw.mu.Lock()
		defer tw.mu.Unlock()
		for _, m := range tw.msgs[protocol.KindCmdResult] {
			if json.Unmarshal(m, &res) == nil && res.ID == id {
				return true
			}
		}
		return false
	})
	return res
}

// An official's browser pages the square: the township carries its offer
// to the box as a signed command, the box answers with PCMA, the square's
// horn hears the microphone, a second page for the square is refused, and
// once the browser hangs up the play log reaches the township.
func TestPagingCommand(t *testing.T) {
	brokerURL := embeddedBroker(t)
	tw := newTownship(t, brokerURL, "page-box")
	cfg := testConfig(t, brokerURL, "page-box", tw.key.Public().(ed25519.PublicKey))
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
		Zones:    []protocol.Zone{{ID: "square", Name: "广场", Speakers: []string{"horn"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	d, err := protocol.SignDesired(tw.key, protocol.Desired{BoxID: "page-box", Rev: 1, IssuedAt: now, ExpiresAt: now.Add(time.Hour), Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	tw.publish(protocol.KindDesired, d, true)
	t.Cleanup(func() {
		tw.cl.Publish(protocol.Topic("page-box", protocol.KindDesired), 1, true, []byte{}).WaitTimeout(5 * time.Second)
	})
	var rep protocol.Reported
	tw.eventually("the desired state applied", func() bool { return tw.last(protocol.KindReported, &rep) && rep.AppliedRev == 1 })

	pc, offer := browserMicrophone(t)
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
	if err := json.Unmarshal(res.Data, &page); err != nil || page.Codec != "PCMA" || page.Session == "" {
		t.Fatalf("paging.offer result %s: %v", res.Data, err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: page.Answer}); err != nil {
		t.Fatal(err)
	}

	// Refused while the square is paged, and for a zone the box lacks.
	_, offer2 := browserMicrophone(t)
	if r := tw.pageCommand("page-busy", protocol.CmdPage, protocol.PageArgs{Offer: offer2, Pager: "李书记"}); r.OK || !strings.Contains(r.Error, "already being paged") {
		t.Errorf("a second page of the square: %+v", r)
	}
	if r := tw.pageCommand("page-moon", protocol.CmdPage, protocol.PageArgs{Zones: []string{"moon"}, Offer: offer2}); r.OK || !strings.Contains(r.Error, `unknown zone "moon"`) {
		t.Errorf("a page of an unknown zone: %+v", r)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	mic := pc.GetSenders()[0].Track().(*webrtc.TrackLocalStaticSample)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for n := 0; horn.Heard() < 8000; n++ { // a second on the air
		select {
		case <-ctx.Done():
			t.Fatalf("the horn heard %d samples; stats %+v", horn.Heard(), horn.Stats())
		case <-tick.C:
		}
		samples := make([]int16, 160)
		for i := range samples {
			samples[i] = int16(12000 * math.Sin(2*math.Pi*1000*float64(n*160+i)/8000))
		}
		if err := mic.WriteSample(media.Sample{Data: audio.EncodeALaw(nil, samples), Duration: 20 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pc.GracefulClose(); err != nil { // the official hangs up
		t.Fatal(err)
	}
	var played protocol.PlayLog
	tw.eventually("the page in the play log", func() bool {
		for _, e := range tw.eventsOfType(protocol.EventPlayed) {
			if json.Unmarshal(e.Data, &played) == nil && played.ItemID == "page:"+page.Session {
				return true
			}
		}
		return false
	})
	if played.Result != "played" || played.Priority != protocol.PlayPaging || played.Name != "王主任" || played.CommandID == "" ||
		strings.Join(played.Zones, ",") != "square" || strings.Join(played.Speakers, ",") != "horn" {
		t.Errorf("play log %+v", played)
	}
	if st := horn.Stats(); st.PayloadType != 8 || st.Lost != 0 {
		t.Errorf("the horn's stats %+v", st)
	}
}

// browserMicrophone is a browser about to page: a PeerConnection offering
// Opus, PCMU and PCMA, with an A-law microphone track (what a browser's
// encoder does once the answer picks PCMA).
func browserMicrophone(t *testing.T) (*webrtc.PeerConnection, string) {
	t.Helper()
	m := &webrtc.MediaEngine{}
	for _, c := range []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, PayloadType: 0},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000}, PayloadType: 8},
	} {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.GracefulClose() }) // closing twice is fine
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000}, "mic", "official")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return pc, pc.LocalDescription().SDP
}
