package e2e

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/dalaba/dalaba/protocol"
)

// browser is a WebRTC viewer as a browser is one: it offers a few fixed
// H.264 profiles and rebuilds access units from what arrives.
type browser struct {
	pc  *webrtc.PeerConnection
	mu  sync.Mutex
	aus [][]byte // Annex-B access units
}

func newBrowser(t *testing.T) (*browser, string) {
	t.Helper()
	m := &webrtc.MediaEngine{}
	for pt, fmtp := range map[uint8]string{
		106: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
		112: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f",
		116: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032",
	} {
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{PayloadType: webrtc.PayloadType(pt), RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: fmtp}}, webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.GracefulClose() })
	b := &browser{pc: pc}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		dep := &codecs.H264Packet{}
		var cur []byte
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if nal, err := dep.Unmarshal(p.Payload); err == nil {
				cur = append(cur, nal...)
			}
			if p.Marker && len(cur) > 0 {
				b.mu.Lock()
				b.aus = append(b.aus, cur)
				b.mu.Unlock()
				cur = nil
			}
		}
	})
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
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
	return b, pc.LocalDescription().SDP
}

// watch posts the browser's offer to the township's WHEP endpoint and
// takes the box's answer.
func (b *browser) watch(t *testing.T, c *cloud, box, cam, offer string) (session string) {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+c.HTTP+"/api/v1/boxes/"+box+"/cameras/"+cam+"/whep", bytes.NewReader([]byte(offer)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Content-Type") != "application/sdp" {
		t.Fatalf("WHEP: %d %s", resp.StatusCode, answer)
	}
	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		t.Fatalf("the box's answer: %v\n%s", err, answer)
	}
	return resp.Header.Get("Location")
}

// keyframes counts the access units holding an IDR, and whether the first
// one carries its SPS and PPS, as a decoder needs.
func (b *browser) keyframes() (aus, idrs int, firstDecodable bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, au := range b.aus {
		types := map[byte]bool{}
		for _, nal := range bytes.Split(au, []byte{0, 0, 1}) {
			nal = bytes.TrimRight(nal, "\x00")
			if len(nal) > 0 {
				types[nal[0]&0x1f] = true
			}
		}
		if types[5] {
			idrs++
		}
		if i == 0 {
			firstDecodable = types[5] && types[7] && types[8]
		}
	}
	return len(b.aus), idrs, firstDecodable
}

// A township official watches a village camera in the browser: the offer
// goes to the township's WHEP endpoint, on to the box over MQTT as a
// signed command, and the box answers with the camera's H.264 (High
// profile, though the browser offers a few fixed profiles), pulled once
// however many watch.
func TestCameraOverWHEP(t *testing.T) {
	c, id, cam := cameraVillage(t)
	var viewers []*browser
	var sessions []string
	for range 2 {
		b, offer := newBrowser(t)
		sessions = append(sessions, b.watch(t, c, id, "gate", offer))
		viewers = append(viewers, b)
	}
	for i, b := range viewers {
		eventually(t, 15*time.Second, "viewer receives keyframes", func() bool {
			aus, idrs, _ := b.keyframes()
			return aus >= 25 && idrs >= 1
		})
		if _, _, ok := b.keyframes(); !ok {
			t.Errorf("viewer %d: the first access unit is not an IDR with its SPS and PPS", i)
		}
	}
	if st := cam.Stats(); st.Sessions != 1 {
		t.Fatalf("the camera served %d sessions for two viewers, want one pull", st.Sessions)
	}

	// Ending the viewings is recorded: who watched, over WebRTC.
	for _, s := range sessions {
		req, _ := http.NewRequest("DELETE", "http://"+c.HTTP+s, nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("DELETE %s: %v %v", s, err, resp)
		}
		resp.Body.Close()
	}
	eventually(t, 15*time.Second, "two camera.viewed events at the township", func() bool {
		n := 0
		for _, ev := range c.events(t, id) {
			if ev.Type == protocol.EventCameraViewed && bytes.Contains(ev.Data, []byte(`"via":"webrtc"`)) && bytes.Contains(ev.Data, []byte(`"viewer":"admin"`)) {
				n++
			}
		}
		return n == 2
	})

	// A budget of one 4 Mbit/s viewer: the second is refused, clearly.
	var put struct {
		DesiredRev uint64 `json:"desired_rev"`
	}
	c.do(t, "PUT", "/api/v1/boxes/"+id+"/cameras", protocol.Cameras{
		Cameras: []protocol.Camera{{ID: "gate", URL: cam.URL(), BitrateKbps: 4000}}, BudgetKbps: 4000}, &put, http.StatusOK)
	eventually(t, 15*time.Second, "box applies the budget", func() bool { return c.box(t, id).AppliedRev == put.DesiredRev })
	first, offer := newBrowser(t)
	first.watch(t, c, id, "gate", offer)
	_, offer2 := newBrowser(t)
	req, _ := http.NewRequest("POST", "http://"+c.HTTP+"/api/v1/boxes/"+id+"/cameras/gate/whep", bytes.NewReader([]byte(offer2)))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || !bytes.Contains(body, []byte("budget")) {
		t.Fatalf("a viewer past the budget: %d %s; want 409 naming the budget", resp.StatusCode, body)
	}
}
