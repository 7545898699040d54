package speakersim

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/dalaba/dalaba/devices/audio"
)

type pkt struct {
	seq    uint16
	ts     uint32
	marker bool
	pt     uint8
	ssrc   uint32
	late   time.Duration // arrival after the instant its timestamp implies
}

func marshal(t *testing.T, p pkt, payload []byte) []byte {
	t.Helper()
	if payload == nil {
		payload = make([]byte, 160)
		for i := range payload {
			payload[i] = 0xFF // μ-law silence
		}
	}
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: p.seq, Timestamp: p.ts,
		Marker: p.marker, PayloadType: p.pt, SSRC: p.ssrc}, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// clock turns RTP timestamps into arrival instants, following them
// across wraps.
type clock struct {
	started bool
	prevTS  uint32
	ticks   int64
}

// feed gives r the packets, each arriving when its timestamp says (from
// a fixed epoch) plus its lateness.
func feed(t *testing.T, r *receiver, c *clock, ps []pkt) {
	t.Helper()
	epoch := time.Unix(1_700_000_000, 0)
	for _, p := range ps {
		if p.ssrc == 0 {
			p.ssrc = 42
		}
		if c.started {
			c.ticks += int64(int32(p.ts - c.prevTS))
		}
		c.started, c.prevTS = true, p.ts
		at := epoch.Add(time.Duration(c.ticks)*time.Second/clockHz + p.late)
		r.packet(marshal(t, p, nil), at)
	}
}

// run is n packets from seq and ts, 20 ms apart, the first marked.
func run(seq uint16, ts uint32, n int) []pkt {
	var ps []pkt
	for i := range n {
		ps = append(ps, pkt{seq: seq + uint16(i), ts: ts + uint32(160*i), marker: i == 0})
	}
	return ps
}

func TestReceiverSequences(t *testing.T) {
	cases := []struct {
		name                  string
		packets               []pkt
		count, lost, late     uint64
		sources, spurts, unmk int
		frames                int // 160-sample frames recorded
	}{
		{"in order", run(100, 0, 5), 5, 0, 0, 1, 1, 0, 5},
		{"wraps without loss", run(65533, 0, 6), 6, 0, 0, 1, 1, 0, 6},
		{"wrap with one lost", []pkt{{65534, 0, true, 0, 0, 0}, {65535, 160, false, 0, 0, 0}, {1, 480, false, 0, 0, 0}},
			3, 1, 0, 1, 1, 0, 4},
		{"duplicate", []pkt{{7, 0, true, 0, 0, 0}, {8, 160, false, 0, 0, 0}, {8, 160, false, 0, 0, 0}, {9, 320, false, 0, 0, 0}},
			4, 0, 1, 1, 1, 0, 3},
		{"reordered", []pkt{{10, 0, true, 0, 0, 0}, {12, 320, false, 0, 0, 0}, {11, 160, false, 0, 0, 0}, {13, 480, false, 0, 0, 0}},
			4, 0, 1, 1, 1, 0, 4},
		{"big gap is lost, not filled", append(run(0, 0, 2), run(62, 160*62, 2)[1:]...), 3, 61, 0, 1, 1, 0, 3},
		{"sequence restart is no loss", append(run(0, 0, 3), run(40000, 480, 3)...), 6, 0, 0, 1, 2, 0, 6},
		{"new SSRC is a new source", append(run(500, 0, 3), pkt{seq: 9, ts: 99, marker: true, ssrc: 7}, pkt{seq: 10, ts: 259, ssrc: 7}),
			5, 0, 0, 2, 2, 0, 5},
		{"unmarked start", run(1, 0, 3)[1:], 2, 0, 0, 1, 0, 1, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &receiver{}
			feed(t, r, &clock{}, c.packets)
			st := r.st
			if st.Packets != c.count || st.Lost != c.lost || st.Late != c.late || st.Sources != c.sources ||
				st.Spurts != c.spurts || st.Unmarked != c.unmk || st.BadPackets != 0 {
				t.Errorf("stats %+v", st)
			}
			if len(r.samples) != 160*c.frames {
				t.Errorf("recorded %d samples, want %d", len(r.samples), 160*c.frames)
			}
		})
	}
}

func TestReceiverJitter(t *testing.T) {
	r, c := &receiver{}, &clock{}
	ps := run(0, 1<<32-800, 10) // the timestamp wraps too
	feed(t, r, c, ps)
	if r.st.Jitter != 0 {
		t.Fatalf("packets on time gave jitter %s", r.st.Jitter)
	}
	// One packet 20 ms late: |D| = 160 units, J = 160/16 = 10 units.
	feed(t, r, c, []pkt{{seq: 10, ts: ps[9].ts + 160, late: 20 * time.Millisecond}})
	if got, want := r.st.Jitter, 1250*time.Microsecond; got != want {
		t.Errorf("jitter %s after one late packet, want %s", got, want)
	}
	// The next on time: |D| = 160 again, J = 10 + (160-10)/16 = 19.375.
	feed(t, r, c, []pkt{{seq: 11, ts: ps[9].ts + 320}})
	if got, want := r.st.Jitter, time.Duration(19.375*float64(time.Second)/clockHz); got != want {
		t.Errorf("jitter %s, want %s", got, want)
	}
	// A pause between spurts is in the timestamps as much as in the
	// arrival times: no jitter from it.
	before := r.st.Jitter
	feed(t, r, c, []pkt{{seq: 12, ts: ps[9].ts + 320 + 8000*5, marker: true}})
	if after := r.st.Jitter; after > before {
		t.Errorf("a 5 s pause raised jitter from %s to %s", before, after)
	}
}

func TestReceiverPayloadsAndBadPackets(t *testing.T) {
	r := &receiver{}
	epoch := time.Now()
	r.packet(marshal(t, pkt{seq: 1, marker: true, pt: 0, ssrc: 1}, []byte{0xFF, 0x80, 0x00}), epoch)
	r.packet(marshal(t, pkt{seq: 2, ts: 3, pt: 8, ssrc: 1}, []byte{0xD5, 0xAA}), epoch)
	if want := []int16{0, 32124, -32124, 8, 32256}; !slices.Equal(r.samples, want) {
		t.Errorf("decoded %v, want %v", r.samples, want)
	}
	if r.st.PayloadType != 8 {
		t.Errorf("payload type %d, want the last one's, 8", r.st.PayloadType)
	}
	v1 := marshal(t, pkt{seq: 3}, nil)
	v1[0] = v1[0]&0x3F | 0x40 // version 1
	for name, b := range map[string][]byte{
		"empty":         nil,
		"text":          []byte("not RTP at all"),
		"version 1":     v1,
		"dynamic type":  marshal(t, pkt{seq: 3, pt: 96}, nil),
		"G.722":         marshal(t, pkt{seq: 3, pt: 9}, nil),
		"short header":  []byte{0x80, 0x00, 0x01},
		"one byte only": {0x80},
	} {
		before := r.st
		r.packet(b, epoch)
		if r.st.BadPackets != before.BadPackets+1 || r.st.Packets != before.Packets {
			t.Errorf("%s: stats %+v", name, r.st)
		}
	}
}

func TestReceiverSpurtsAndTrimming(t *testing.T) {
	r, c := &receiver{maxSamples: 320}, &clock{}
	feed(t, r, c, run(0, 0, 3))
	r.idle()
	r.idle() // a second timeout in the same silence is not another end
	feed(t, r, c, run(3, 8000, 3))
	r.idle()
	if r.st.Spurts != 2 || r.st.Ended != 2 || r.st.Unmarked != 0 {
		t.Errorf("stats %+v", r.st)
	}
	if r.heard != 6*160 || len(r.samples) > 2*320 {
		t.Errorf("heard %d, kept %d", r.heard, len(r.samples))
	}
}

func start(t *testing.T, cfg Config) *Sim {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return s
}

func TestOverUDP(t *testing.T) {
	s := start(t, Config{Listen: "127.0.0.1:0", Hangover: 50 * time.Millisecond, MaxRecord: time.Second})
	if s.Addr().Port == 0 {
		t.Fatal("no port chosen")
	}
	c, err := net.DialUDP("udp4", nil, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tone := make([]byte, 160)
	for i := range tone {
		tone[i] = audio.LinearToULaw(int16(8000 * ((i % 20) - 10) / 10))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for i := range 5 {
		if _, err := c.Write(marshal(t, pkt{seq: uint16(i), ts: uint32(160 * i), marker: i == 0, ssrc: 5}, tone)); err != nil {
			t.Fatal(err)
		}
	}
	// The spurt ends by itself once Hangover passes with no packet.
	if err := s.Wait(ctx, func(st Stats, n int) bool { return st.Ended == 1 }); err != nil {
		t.Fatalf("%v: stats %+v", err, s.Stats())
	}
	st := s.Stats()
	if st.Packets != 5 || st.Spurts != 1 || st.Lost != 0 || st.SSRC != 5 {
		t.Errorf("stats %+v", st)
	}
	heard := s.Audio()
	if heard.Rate != 8000 || len(heard.Samples) != 800 || heard.Samples[0] != audio.ULawToLinear(tone[0]) {
		t.Fatalf("heard %d samples at %d Hz", len(heard.Samples), heard.Rate)
	}
	path := filepath.Join(t.TempDir(), "heard.wav")
	if err := s.WriteWAV(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	back, err := audio.DecodeWAV(b, audio.Limits{})
	if err != nil || !slices.Equal(back.Samples, heard.Samples) {
		t.Fatalf("the WAV file does not hold what was heard: %v", err)
	}
	s.Reset()
	if len(s.Audio().Samples) != 0 || s.Stats().Packets != 5 {
		t.Error("Reset must forget the audio and keep the statistics")
	}
	if err := s.Wait(ctx, func(st Stats, n int) bool { return n == 0 }); err != nil {
		t.Error("Wait does not see the reset count")
	}
	short, cancelShort := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancelShort()
	if err := s.Wait(short, func(Stats, int) bool { return false }); err == nil {
		t.Error("Wait on a condition that never holds returned nil")
	}
}

func TestNewRefuses(t *testing.T) {
	for _, cfg := range []Config{
		{Listen: "nowhere"},
		{Listen: "127.0.0.1:0", Interface: "lo"},
		{Listen: "239.255.0.9:0", Interface: "no-such-interface0"},
		{Listen: "127.0.0.1:0", Hangover: -time.Second},
		{Listen: "192.0.2.254:0"}, // not an address of this host
	} {
		if s, err := New(cfg); err == nil {
			s.Close()
			t.Errorf("%+v accepted", cfg)
		}
	}
}
