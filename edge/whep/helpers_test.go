package whep

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/dalaba/dalaba/devices/camera/sim"
	"github.com/dalaba/dalaba/edge/relay"
	"github.com/dalaba/dalaba/edge/rtcpeer/rtcpeertest"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// wait bounds every wait here: for a condition, and for a Run to return
// once stopped. A healthy run needs milliseconds.
const wait = 15 * time.Second

// fixture reads a clip of the camera simulator's testdata.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "devices", "camera", "sim", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rig is a simulated camera, the relay pulling it as "cam1" and a
// Server on top, all running.
type rig struct {
	cam      *sim.Sim
	camRun   *testenv.Running
	relay    *relay.Relay
	relayRun *testenv.Running
	srv      *Server
	srvRun   *testenv.Running

	mu       sync.Mutex
	viewings []protocol.Viewing
}

type rigOpts struct {
	clip             []byte
	sub              []byte // the sub stream's clip; nil: none
	audio            []byte // the camera's A-law; nil: none
	maxReadersPerCam int
	cfg              Config
}

func startRig(t testing.TB, o rigOpts) *rig {
	t.Helper()
	log := testenv.Logger(t, slog.LevelInfo) // debug is per packet state and floods -race runs
	cam, err := sim.New(sim.Config{Clip: o.clip, SubClip: o.sub, Audio: o.audio, Logger: log.With("component", "sim")})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{cam: cam}
	r.camRun = testenv.Background(t, wait, "camera", cam.Run)
	rl, err := relay.New(relay.Config{
		Listen: "127.0.0.1:0", Linger: 200 * time.Millisecond,
		BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		DescribeWait: 3 * time.Second, MaxReadersPerCamera: o.maxReadersPerCam,
	}, relay.Deps{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.SetCameras([]relay.Camera{{ID: "cam1", URL: cam.URL(), SubURL: cam.SubURL(), AllowLocal: true}}); err != nil {
		t.Fatal(err)
	}
	r.relay = rl
	r.relayRun = testenv.Background(t, wait, "relay", rl.Run)
	cfg := o.cfg
	cfg.Loopback = true
	srv, err := New(cfg, Deps{Logger: log, Source: rl, Events: r.addViewing})
	if err != nil {
		t.Fatal(err)
	}
	r.srv = srv
	srv.SetCameras(protocol.Cameras{Cameras: []protocol.Camera{{ID: "cam1", URL: cam.URL(), SubURL: cam.SubURL()}}})
	r.srvRun = testenv.Background(t, wait, "whep", srv.Run)
	waitFor(t, "the server runs", srv.reg.Running)
	return r
}

func (r *rig) addViewing(v protocol.Viewing) {
	r.mu.Lock()
	r.viewings = append(r.viewings, v)
	r.mu.Unlock()
}

func (r *rig) viewingsSoFar() []protocol.Viewing {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]protocol.Viewing(nil), r.viewings...)
}

func (r *rig) readers() int {
	for _, s := range r.relay.Stats() {
		if s.ID == "cam1" {
			return s.Readers
		}
	}
	return -1
}

// au is one access unit a viewer put together.
type au struct {
	ts    uint32
	at    time.Time
	nals  [][]byte // without start codes
	annex []byte
}

func (a au) types() []byte {
	var ts []byte
	for _, n := range a.nals {
		ts = append(ts, n[0]&0x1f)
	}
	return ts
}

// viewer is a browser: a pion PeerConnection receiving video and
// rebuilding access units.
type viewer struct {
	pc       *webrtc.PeerConnection
	mu       sync.Mutex
	aus      []au
	packets  int    // video RTP packets
	audio    int    // audio RTP packets
	mime     string // the video track's codec
	pt       uint8
	state    webrtc.PeerConnectionState
	connAt   time.Time     // when it connected
	ended    chan struct{} // closed when the track's read fails
	stateEnd chan struct{} // closed on closed/failed
	once     sync.Once
}

// browserCodecs is what a browser that only knows a few profiles offers:
// Constrained Baseline, and High and Main, each with packetization-mode 1.
func browserCodecs() []webrtc.RTPCodecParameters {
	mk := func(pt uint8, fmtp string) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{PayloadType: webrtc.PayloadType(pt), RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: fmtp,
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}},
		}}
	}
	return []webrtc.RTPCodecParameters{
		mk(102, "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f"),
		mk(106, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"),
		mk(112, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"),
		mk(116, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032"),
	}
}

// newViewer makes a viewer and its offer; nil codecs means pion's
// defaults (several H.264 profiles, VP8, VP9, AV1 ...).
func newViewer(t testing.TB, cs []webrtc.RTPCodecParameters) (*viewer, string) {
	t.Helper()
	return newViewerWith(t, cs, nil)
}

// newViewerWith is newViewer with more settings.
func newViewerWith(t testing.TB, cs []webrtc.RTPCodecParameters, set func(*webrtc.SettingEngine)) (*viewer, string) {
	t.Helper()
	return newViewerAV(t, cs, set, false)
}

// newViewerAV is newViewerWith that receives audio too, if audio.
func newViewerAV(t testing.TB, cs []webrtc.RTPCodecParameters, set func(*webrtc.SettingEngine), audio bool) (*viewer, string) {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if cs == nil {
		if err := m.RegisterDefaultCodecs(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cs {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	pc := rtcpeertest.NewPeer(t, m, set)
	v := &viewer{pc: pc, ended: make(chan struct{}), stateEnd: make(chan struct{})}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		v.mu.Lock()
		v.state = s
		if s == webrtc.PeerConnectionStateConnected {
			v.connAt = time.Now()
		}
		v.mu.Unlock()
		if s == webrtc.PeerConnectionStateClosed || s == webrtc.PeerConnectionStateFailed {
			v.once.Do(func() { close(v.stateEnd) })
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				v.mu.Lock()
				v.audio++
				v.mu.Unlock()
			}
		}
		v.mu.Lock()
		v.pt = uint8(tr.PayloadType())
		v.mime = tr.Codec().MimeType
		v.mu.Unlock()
		v.read(tr)
	})
	if audio {
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	return v, rtcpeertest.Offer(t, pc)
}

// accept takes the box's answer.
func (v *viewer) accept(t testing.TB, answer string) {
	t.Helper()
	rtcpeertest.Accept(t, v.pc, answer)
}

// read rebuilds access units until the track ends.
func (v *viewer) read(tr *webrtc.TrackRemote) {
	defer close(v.ended)
	dep := &codecs.H264Packet{}
	var cur au
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		v.mu.Lock()
		v.packets++
		v.mu.Unlock()
		if strings.Contains(tr.Codec().MimeType, "265") {
			continue // counted; not rebuilt
		}
		if len(cur.annex) > 0 && p.Timestamp != cur.ts {
			cur = au{} // an AU without its marker: lost tail, start over
		}
		cur.ts = p.Timestamp
		b, err := dep.Unmarshal(p.Payload)
		if err == nil {
			cur.annex = append(cur.annex, b...)
		}
		if p.Marker && len(cur.annex) > 0 {
			cur.at = time.Now()
			cur.nals = splitAnnexB(cur.annex)
			v.mu.Lock()
			v.aus = append(v.aus, cur)
			v.mu.Unlock()
			cur = au{}
		}
	}
}

func (v *viewer) received() []au {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]au(nil), v.aus...)
}

// splitAnnexB cuts a byte stream at its start codes.
func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	for _, part := range bytes.Split(b, []byte{0, 0, 1}) {
		part = bytes.TrimRight(part, "\x00")
		if len(part) > 0 {
			out = append(out, part)
		}
	}
	return out
}

// watch answers a new viewer for cam1 and returns it with its session.
func (r *rig) watch(t testing.TB, cs []webrtc.RTPCodecParameters, who string) (*viewer, protocol.WHEPResult) {
	t.Helper()
	v, offer := newViewer(t, cs)
	res, err := r.srv.Answer(t.Context(), protocol.WHEPArgs{Camera: "cam1", Offer: offer, Viewer: who})
	if err != nil {
		t.Fatalf("Answer: %v", err)
	}
	v.accept(t, res.Answer)
	return v, res
}

// waitFor polls cond until it holds, for at most wait.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, wait, what, cond)
}
