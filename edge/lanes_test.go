package edge

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker/speakersim"
	"github.com/dalaba/dalaba/edge/rtcpeer/rtcpeertest"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// mustHold is the bound: with slow commands pending, a stop and an
// emergency play take effect at the speaker within 200 ms of the
// township publishing them. It is the bound itself, not a margin on a
// typical figure (tens of milliseconds, under the race detector).
const mustHold = 200 * time.Millisecond

// clipWAV is a tone of d at 8 kHz, as a WAV file, and its sha256.
func clipWAV(t testing.TB, freq float64, d time.Duration) ([]byte, string) {
	t.Helper()
	n := int(d.Seconds() * 8000)
	p := audio.PCM{Rate: 8000, Channels: 1, Samples: make([]int16, n)}
	for i := range n {
		p.Samples[i] = int16(12000 * math.Sin(2*math.Pi*freq*float64(i)/8000))
	}
	var b bytes.Buffer
	if err := audio.EncodeWAV(&b, p); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b.Bytes())
	return b.Bytes(), hex.EncodeToString(sum[:])
}

// mediaServer is the township's media store on loopback: it serves its
// clips, and for the hanging ones accepts the GET and never answers.
type mediaServer struct {
	url   string
	asked chan string // the sha256 of each GET of a hanging clip
}

func newMediaServer(t testing.TB, clips map[string][]byte, hanging ...string) *mediaServer {
	t.Helper()
	m := &mediaServer{asked: make(chan string, 64)}
	hang := map[string]bool{}
	for _, h := range hanging {
		hang[h] = true
	}
	closing := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sha := strings.TrimPrefix(r.URL.Path, "/")
		if hang[sha] {
			select {
			case m.asked <- sha:
			default:
			}
			select { // the box gives up, or the test ends
			case <-r.Context().Done():
			case <-closing:
			}
			return
		}
		b, ok := clips[sha]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	}))
	t.Cleanup(func() { close(closing); srv.Close() })
	m.url = srv.URL + "/"
	return m
}

// silentTCP accepts connections and never says a word: a camera that
// takes the box's RTSP connection and never answers its DESCRIBE.
type silentTCP struct {
	addr     string
	accepted chan struct{}
}

func newSilentTCP(t testing.TB) *silentTCP {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentTCP{addr: l.Addr().String(), accepted: make(chan struct{}, 64)}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case s.accepted <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return s
}

// silentUDP is a STUN server that never answers: ICE gathering with it
// waits for its timeout.
func silentUDP(t testing.TB) string {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.LocalAddr().String() // nobody reads: requests are dropped when the buffer fills
}

// laneVillage is a box's surroundings for the lanes: a horn, the
// township's media (some clips hanging), a camera that never answers and a
// STUN server that never answers.
type laneVillage struct {
	horn    *speakersim.Sim
	media   *mediaServer
	camera  *silentTCP
	spec    protocol.Spec
	clips   map[string]string // name → sha256
	hanging []string          // sha256s whose download never ends
}

func newLaneVillage(t testing.TB, hangingClips int) *laneVillage {
	t.Helper()
	horn, err := speakersim.New(speakersim.Config{Listen: "127.0.0.1:0", Hangover: 60 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Background(t, 10*time.Second, "speaker", horn.Run)
	v := &laneVillage{horn: horn, clips: map[string]string{}}
	files := map[string][]byte{}
	for name, c := range map[string]struct {
		freq float64
		d    time.Duration
	}{"siren": {880, 100 * time.Millisecond}, "long": {440, 20 * time.Second}} {
		b, sha := clipWAV(t, c.freq, c.d)
		files[sha], v.clips[name] = b, sha
	}
	for i := range hangingClips {
		_, sha := clipWAV(t, 200+float64(i), time.Second)
		v.hanging = append(v.hanging, sha)
	}
	v.media = newMediaServer(t, files, v.hanging...)
	v.camera = newSilentTCP(t)
	v.spec = protocol.Spec{
		Broadcast: &protocol.Broadcast{
			Chime:    protocol.ChimeOff,
			Speakers: []protocol.Speaker{{ID: "horn", Driver: protocol.DriverRTP, Addr: horn.Addr().String(), Codec: "PCMA"}},
			Zones:    []protocol.Zone{{ID: "square", Name: "广场", Speakers: []string{"horn"}}},
		},
		Cameras: &protocol.Cameras{
			AllowLocalTargets: true, // the silent camera is on loopback
			Cameras:           []protocol.Camera{{ID: "gate", Name: "村口", URL: "rtsp://" + v.camera.addr + "/live"}},
			ICE:               []protocol.ICEServer{{URLs: []string{"stun:" + silentUDP(t)}}},
		},
	}
	return v
}

func (v *laneVillage) configure(t testing.TB, brokerURL, id string, key ed25519.PublicKey) *box {
	t.Helper()
	cfg := testConfig(t, brokerURL, id, key)
	cfg.Media.URL = v.media.url
	return startBox(t, cfg)
}

// signed is a command for box, issued now and living life.
func signed(t testing.TB, key ed25519.PrivateKey, box, id, typ string, args any, life time.Duration) []byte {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	p, err := protocol.SignCommand(key, protocol.Command{ID: id, BoxID: box, Type: typ, IssuedAt: now, ExpiresAt: now.Add(life), Args: raw})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func signedDesired(t testing.TB, key ed25519.PrivateKey, box string, rev uint64, spec protocol.Spec) []byte {
	t.Helper()
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	p, err := protocol.SignDesired(key, protocol.Desired{BoxID: box, Rev: rev, IssuedAt: now, ExpiresAt: now.Add(time.Hour), Spec: raw})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// result returns the box's result for id, if it has come.
func (tw *township) result(id string) (protocol.CommandResult, bool) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	for _, m := range tw.msgs[protocol.KindCmdResult] {
		var r protocol.CommandResult
		if json.Unmarshal(m, &r) == nil && r.ID == id {
			return r, true
		}
	}
	return protocol.CommandResult{}, false
}

func (tw *township) waitResult(id string) protocol.CommandResult {
	tw.t.Helper()
	var r protocol.CommandResult
	tw.eventually("the result of "+id, func() bool {
		var ok bool
		r, ok = tw.result(id)
		return ok
	})
	return r
}

// viewerOffer is a browser's WHEP offer: H.264 video to receive.
func viewerOffer(t testing.TB) string {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc := rtcpeertest.NewPeer(t, m, nil)
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	return rtcpeertest.Offer(t, pc)
}

// firstPacketAfter waits for the horn to receive a packet beyond the
// before it had, and returns when it saw it (no earlier than its arrival).
func firstPacketAfter(t testing.TB, horn *speakersim.Sim, before uint64) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var at time.Time
	if err := horn.Wait(ctx, func(st speakersim.Stats, _ int) bool {
		if st.Packets > before {
			at = time.Now()
			return true
		}
		return false
	}); err != nil {
		t.Fatalf("the horn heard nothing new: %v (stats %+v)", err, horn.Stats())
	}
	return at
}

// lastPacket waits for the horn to fall silent (its talk spurt ends) and
// returns when it last saw a packet arrive, or since if none came after.
func lastPacket(t testing.TB, horn *speakersim.Sim, since time.Time) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := horn.Stats()
	ended, n, last := st.Ended, st.Packets, since
	if err := horn.Wait(ctx, func(st speakersim.Stats, _ int) bool {
		if st.Packets != n {
			n, last = st.Packets, time.Now()
		}
		return st.Ended > ended
	}); err != nil {
		t.Fatalf("the horn did not fall silent: %v (stats %+v)", err, horn.Stats())
	}
	return last
}

// With a play whose clip download hangs, a WHEP offer for a camera that
// takes the connection and never answers, and a page whose ICE gathering
// never completes all pending on the box, a stop and an emergency play sent
// by the township take effect at the horn within mustHold. The slow
// commands then expire, are not carried out, and say so.
func TestStopAndEmergencyNeverWaitBehindSlowCommands(t *testing.T) {
	brokerURL := embeddedBroker(t)
	const id = "lane-box"
	tw := newTownship(t, brokerURL, id)
	v := newLaneVillage(t, 1)
	b := v.configure(t, brokerURL, id, tw.key.Public().(ed25519.PublicKey))
	tw.publish(protocol.KindDesired, signedDesired(t, tw.key, id, 1, v.spec), true)
	t.Cleanup(func() {
		tw.cl.Publish(protocol.Topic(id, protocol.KindDesired), 1, true, []byte{}).WaitTimeout(5 * time.Second)
	})
	var rep protocol.Reported
	tw.eventually("the desired state applied", func() bool { return tw.last(protocol.KindReported, &rep) && rep.AppliedRev == 1 })
	testenv.WaitFor(t, 10*time.Second, "the playout has the zone", func() bool { return b.e.po.CheckZones([]string{"square"}) == nil })

	// The siren plays once, so the box has it decoded, as it has the clips
	// of its schedules; then a long announcement plays.
	emergency := protocol.PlayArgs{Media: []string{v.clips["siren"]}, Priority: protocol.PlayEmergency, NoChime: true}
	tw.publish(protocol.KindCmd, signed(t, tw.key, id, "siren-0", protocol.CmdPlay, emergency, time.Minute), false)
	if r := tw.waitResult("siren-0"); !r.OK {
		t.Fatalf("the first siren: %+v", r)
	}
	lastPacket(t, v.horn, time.Now())
	tw.publish(protocol.KindCmd, signed(t, tw.key, id, "long", protocol.CmdPlay, protocol.PlayArgs{Media: []string{v.clips["long"]}}, time.Minute), false)
	if r := tw.waitResult("long"); !r.OK {
		t.Fatalf("the long announcement: %+v", r)
	}
	firstPacketAfter(t, v.horn, v.horn.Stats().Packets)

	// The slow commands, each pending on the box.
	const slowLife = 4 * time.Second // below the relay's and ICE's own waits (5 s), so each ends by its expiry
	_, micOffer := browserMicrophone(t)
	tw.publish(protocol.KindCmd, signed(t, tw.key, id, "slow-play", protocol.CmdPlay, protocol.PlayArgs{Media: []string{v.hanging[0]}}, slowLife), false)
	tw.publish(protocol.KindCmd, signed(t, tw.key, id, "slow-whep", protocol.CmdWHEP, protocol.WHEPArgs{Camera: "gate", Offer: viewerOffer(t), Viewer: "li"}, slowLife), false)
	tw.publish(protocol.KindCmd, signed(t, tw.key, id, "slow-page", protocol.CmdPage, protocol.PageArgs{Zones: []string{"square"}, Offer: micOffer, Pager: "王主任"}, slowLife), false)
	pending := func(what string, c <-chan struct{}) {
		select {
		case <-c:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s never began", what)
		}
	}
	asked := make(chan struct{})
	go func() { <-v.media.asked; close(asked) }()
	pending("the clip download", asked)
	pending("the camera connection", v.camera.accepted)
	testenv.WaitFor(t, 10*time.Second, "the page being answered", func() bool { return b.e.pg.Sessions() == 1 && b.e.wh.Sessions() == 1 })

	// A stop: the horn falls silent.
	sent := time.Now()
	tw.publish(protocol.KindCmd, signed(t, tw.key, id, "stop", protocol.CmdStop, protocol.StopArgs{}, time.Minute), false)
	if took := lastPacket(t, v.horn, sent).Sub(sent); took > mustHold {
		t.Errorf("the stop took %s to silence the horn, bound %s", took, mustHold)
	} else {
		t.Logf("the horn fell silent %s after the stop was sent", took)
	}
	// An emergency: the horn sounds.
	before := v.horn.Stats().Packets
	sent = time.Now()
	tw.publish(protocol.KindCmd, signed(t, tw.key, id, "siren-1", protocol.CmdPlay, emergency, time.Minute), false)
	if took := firstPacketAfter(t, v.horn, before).Sub(sent); took > mustHold {
		t.Errorf("the emergency took %s to reach the horn, bound %s", took, mustHold)
	} else {
		t.Logf("the emergency reached the horn %s after it was sent", took)
	}
	for _, slow := range []string{"slow-play", "slow-whep", "slow-page"} {
		if r, done := tw.result(slow); done {
			t.Errorf("%s was no longer pending when the emergency sounded: %+v", slow, r)
		}
	}
	for _, c := range []string{"stop", "siren-1"} {
		if r := tw.waitResult(c); !r.OK {
			t.Errorf("%s: %+v", c, r)
		}
	}

	// The slow commands expire where they wait, and are not carried out.
	for _, slow := range []string{"slow-play", "slow-whep", "slow-page"} {
		if r := tw.waitResult(slow); r.OK || r.Code != protocol.CodeExpired {
			t.Errorf("%s: %+v, want expired", slow, r)
		}
	}
	var failed protocol.PlayLog
	tw.eventually("the expired play in the play log", func() bool {
		for _, e := range tw.eventsOfType(protocol.EventPlayed) {
			if json.Unmarshal(e.Data, &failed) == nil && failed.CommandID == "slow-play" {
				return true
			}
		}
		return false
	})
	if failed.Result != "failed" || !strings.Contains(failed.Errors["item"], "expired") || len(failed.Speakers) != 0 {
		t.Errorf("the expired play's log %+v", failed)
	}
	testenv.WaitFor(t, 10*time.Second, "no session left", func() bool { return b.e.pg.Sessions() == 0 && b.e.wh.Sessions() == 0 })
}
