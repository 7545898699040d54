package paging

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker"
	"github.com/dalaba/dalaba/devices/speaker/rtpspeaker"
	"github.com/dalaba/dalaba/devices/speaker/speakersim"
	"github.com/dalaba/dalaba/edge/broadcast"
	"github.com/dalaba/dalaba/edge/clock"
	"github.com/dalaba/dalaba/edge/rtcpeer"
	"github.com/dalaba/dalaba/edge/rtcpeer/rtcpeertest"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// wait bounds every wait here: for a condition, and for a Run to return
// once stopped. A healthy run needs milliseconds.
const wait = 15 * time.Second

// speakerSpec is one loudspeaker of a rig: an RTP driver sending to a
// simulated speaker in its law, or (clipsOnly) the same seen through the
// Speaker interface alone, as a play-URL speaker or a sound card is.
type speakerSpec struct {
	id, zone  string
	codec     rtpspeaker.Codec
	clipsOnly bool
}

type clipsOnly struct{ speaker.Speaker }

// rig is a paging Server over a real arbiter driving RTP speakers that
// feed simulated ones on loopback; the Air between them is what the box's
// playout does (zones checked and expanded, a live item at paging
// priority).
type rig struct {
	srv     *Server
	srvRun  *testenv.Running
	arb     *broadcast.Arbiter
	arbRun  *testenv.Running
	sims    map[string]*speakersim.Sim
	simRuns []*testenv.Running
	zones   map[string][]broadcast.Named

	mu     sync.Mutex
	log    []broadcast.Playback
	starts int // pages the Air was asked to start
}

func startRig(t testing.TB, cfg Config, speakers ...speakerSpec) *rig {
	t.Helper()
	log := testenv.Logger(t, slog.LevelInfo) // debug is per packet state and floods -race runs
	r := &rig{sims: map[string]*speakersim.Sim{}, zones: map[string][]broadcast.Named{}}
	for _, s := range speakers {
		sim, err := speakersim.New(speakersim.Config{Listen: "127.0.0.1:0", Hangover: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		r.simRuns = append(r.simRuns, testenv.Background(t, wait, "speaker "+s.id, sim.Run))
		r.sims[s.id] = sim
		sp, err := rtpspeaker.New(rtpspeaker.Config{Addr: sim.Addr().String(), Codec: s.codec})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sp.Close() })
		var drv speaker.Speaker = sp
		if s.clipsOnly {
			drv = clipsOnly{sp}
		}
		r.zones[s.zone] = append(r.zones[s.zone], broadcast.Named{ID: s.id, Speaker: drv})
	}
	arb, err := broadcast.New(r.zones, broadcast.Deps{Logger: log, Clock: clock.Real(), Log: func(p broadcast.Playback) {
		r.mu.Lock()
		r.log = append(r.log, p)
		r.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	r.arb = arb
	r.arbRun = testenv.Background(t, wait, "arbiter", arb.Run)
	cfg.Loopback = true
	srv, err := New(cfg, Deps{Logger: log, Air: r})
	if err != nil {
		t.Fatal(err)
	}
	r.srv = srv
	r.srvRun = testenv.Background(t, wait, "paging", srv.Run)
	waitFor(t, "the server runs", srv.reg.Running)
	return r
}

// Check is the Air's: zones must exist.
func (r *rig) Check(zones []string) error {
	for _, z := range zones {
		if _, ok := r.zones[z]; !ok {
			return fmt.Errorf("unknown zone %q", z)
		}
	}
	return nil
}

// Start is the Air's: a live item on the page's zones, every zone if none.
func (r *rig) Start(ctx context.Context, p Page) error {
	r.mu.Lock()
	r.starts++
	r.mu.Unlock()
	zones := p.Zones
	if len(zones) == 0 {
		for z := range r.zones {
			zones = append(zones, z)
		}
		slices.Sort(zones)
	}
	return r.arb.Submit(ctx, broadcast.Item{ID: "page:" + p.Session, Priority: broadcast.Paging, Zones: zones, OnPreempt: broadcast.Skip,
		Live: &broadcast.Live{Law: p.Law, Frames: p.Frames, Ended: func(pb broadcast.Playback) { p.Ended(pb.Result) }}})
}

func (r *rig) startsSoFar() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.starts
}

// played waits for the play log entry of item.
func (r *rig) played(t testing.TB, item string) broadcast.Playback {
	t.Helper()
	var p broadcast.Playback
	waitFor(t, "the play log entry of "+item, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		i := slices.IndexFunc(r.log, func(p broadcast.Playback) bool { return p.ItemID == item })
		if i >= 0 {
			p = r.log[i]
		}
		return i >= 0
	})
	return p
}

// pager is an official's browser: a pion PeerConnection sending one
// microphone track of G.711, written sample by sample as a browser's
// encoder does.
type pager struct {
	pc       *webrtc.PeerConnection
	track    *webrtc.TrackLocalStaticSample
	law      speaker.Law
	stateEnd chan struct{} // closed on closed or failed
	once     sync.Once

	mu      sync.Mutex
	sent    []byte      // every G.711 byte written, in order
	written []time.Time // when each frame was written
}

// codec is one codec a pager offers.
type codec struct {
	mime string
	pt   uint8
	rate uint32
	ch   uint16
}

var (
	opus = codec{webrtc.MimeTypeOpus, 111, 48000, 2}
	pcmu = codec{webrtc.MimeTypePCMU, 0, 8000, 0}
	pcma = codec{webrtc.MimeTypePCMA, 8, 8000, 0}
)

// newPager offers codecs, in that order of preference, and sends from a
// track of law (what the box is expected to pick: a browser's encoder
// follows the answer; pion's track has to be told).
func newPager(t testing.TB, law speaker.Law, codecs ...codec) (*pager, string) {
	t.Helper()
	m := &webrtc.MediaEngine{}
	for _, c := range codecs {
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: c.mime, ClockRate: c.rate, Channels: c.ch},
			PayloadType:        webrtc.PayloadType(c.pt),
		}, webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
	}
	pc := rtcpeertest.NewPeer(t, m, nil)
	p := &pager{pc: pc, law: law, stateEnd: make(chan struct{})}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateClosed || s == webrtc.PeerConnectionStateFailed {
			p.once.Do(func() { close(p.stateEnd) })
		}
	})
	mime := webrtc.MimeTypePCMU
	if law == speaker.ALaw {
		mime = webrtc.MimeTypePCMA
	}
	var err error
	p.track, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 8000}, "mic", "pager")
	if err != nil {
		t.Fatal(err)
	}
	sender, err := pc.AddTrack(p.track)
	if err != nil {
		t.Fatal(err)
	}
	go rtcpeer.DrainRTCP(sender) // as a browser does; ends when pc closes
	return p, rtcpeertest.Offer(t, pc)
}

// accept takes the box's answer.
func (p *pager) accept(t testing.TB, answer string) {
	t.Helper()
	rtcpeertest.Accept(t, p.pc, answer)
}

// speak writes 20 ms frames of voice (see voice) in real time until ctx
// ends.
func (p *pager) speak(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		if err := p.frame(n); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// frame writes frame n of voice.
func (p *pager) frame(n int) error {
	pcm := voice(n*160, 160)
	var b []byte
	if p.law == speaker.ALaw {
		b = audio.EncodeALaw(nil, pcm)
	} else {
		b = audio.EncodeULaw(nil, pcm)
	}
	p.mu.Lock()
	p.sent = append(p.sent, b...)
	p.written = append(p.written, time.Now())
	p.mu.Unlock()
	if err := p.track.WriteSample(media.Sample{Data: b, Duration: 20 * time.Millisecond}); err != nil {
		return fmt.Errorf("write sample: %w", err)
	}
	return nil
}

func (p *pager) sentSoFar() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.sent)
}

// voice is what the pager says from sample `from` on (8 kHz): a 1 kHz
// tone whose level swells and fades at 0.7 Hz, so that frames do not
// repeat.
func voice(from, n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		t := float64(from+i) / 8000
		out[i] = int16((9000 + 6000*math.Sin(2*math.Pi*0.7*t)) * math.Sin(2*math.Pi*1000*t))
	}
	return out
}

// toneShare is the median, over 20 ms blocks of s, of the share of a
// block's energy at freq Hz (8 kHz sampling): near 1 for a tone of freq,
// near 0 for one of another frequency.
func toneShare(s []int16, freq float64) float64 {
	var shares []float64
	for i := 0; i+160 <= len(s); i += 160 {
		shares = append(shares, blockShare(s[i:i+160], freq))
	}
	if len(shares) == 0 {
		return 0
	}
	slices.Sort(shares)
	return shares[len(shares)/2]
}

// blockShare is the Goertzel algorithm's power at freq over the block's
// energy.
func blockShare(s []int16, freq float64) float64 {
	k := 2 * math.Cos(2*math.Pi*freq/8000)
	var s1, s2, total float64
	for _, v := range s {
		x := float64(v)
		s0 := x + k*s1 - s2
		s2, s1 = s1, s0
		total += x * x
	}
	power := s1*s1 + s2*s2 - k*s1*s2 // |X(f)|^2
	if total == 0 {
		return 0
	}
	return 2 * power / (float64(len(s)) * total)
}

// waitFor polls cond until it holds, for at most wait.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, wait, what, cond)
}

// page answers a new pager for zones and returns it with its session.
func (r *rig) page(t testing.TB, zones []string, law speaker.Law, codecs ...codec) (*pager, protocol.PageResult) {
	t.Helper()
	p, offer := newPager(t, law, codecs...)
	res, err := r.srv.Answer(t.Context(), protocol.PageArgs{Zones: zones, Offer: offer, Pager: "王主任"}, "cmd-1")
	if err != nil {
		t.Fatalf("Answer: %v", err)
	}
	p.accept(t, res.Answer)
	return p, res
}
