package rtpspeaker

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker"
	"github.com/dalaba/dalaba/devices/speaker/speakersim"
	"github.com/dalaba/dalaba/devices/speaker/speakertest"
)

// sim starts a simulated speaker for the length of the test.
func sim(t *testing.T, cfg speakersim.Config) *speakersim.Sim {
	t.Helper()
	s, err := speakersim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("speakersim: %v", err)
		}
	})
	return s
}

func newSpeaker(t testing.TB, cfg Config) *Speaker {
	t.Helper()
	sp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sp.Close(); err != nil {
			t.Error(err)
		}
	})
	return sp
}

func waitFor(t *testing.T, s *speakersim.Sim, what string, cond func(speakersim.Stats, int) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Wait(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v; stats %+v", what, err, s.Stats())
	}
}

func TestConformance(t *testing.T) {
	for _, codec := range []Codec{PCMU, PCMA} {
		t.Run(string(codec), func(t *testing.T) {
			speakertest.Run(t, func(t *testing.T) speakertest.Subject {
				s := sim(t, speakersim.Config{Listen: "127.0.0.1:0"})
				sp := newSpeaker(t, Config{Addr: s.Addr().String(), Codec: codec})
				heard := func() time.Duration { return time.Duration(s.Heard()) * time.Second / Rate }
				return speakertest.Subject{Speaker: sp, Heard: heard}
			})
		})
	}
}

// speech is a voice-like test signal at 44.1 kHz stereo: a gliding
// fundamental with harmonics under a syllable-rate envelope, and energy
// above 4 kHz that resampling to 8 kHz has to remove.
func speech() audio.PCM {
	const rate = 44100
	p := audio.PCM{Rate: rate, Channels: 2}
	for i := range rate {
		t := float64(i) / rate
		env := 0.55 + 0.45*math.Sin(2*math.Pi*4*t)
		// The fundamental glides as 140 + 60·sin(2π·1.3t) Hz; this is its
		// integral.
		phase := 2 * math.Pi * (140*t - 60/(2*math.Pi*1.3)*math.Cos(2*math.Pi*1.3*t))
		v := 0.0
		for h := 1; h <= 12; h++ {
			v += math.Sin(float64(h)*phase) / float64(h)
		}
		v = env*5000*v + 1500*math.Sin(2*math.Pi*6500*t)
		p.Samples = append(p.Samples, int16(v), int16(0.8*v))
	}
	return p
}

func decoded(t *testing.T, b []byte) audio.PCM {
	t.Helper()
	p, err := audio.Decode(b, audio.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAudioSurvivesTheRoundTrip(t *testing.T) {
	var wav bytes.Buffer
	if err := audio.EncodeWAV(&wav, speech()); err != nil {
		t.Fatal(err)
	}
	mp3, err := os.ReadFile("../../audio/testdata/voice.mp3")
	if err != nil {
		t.Fatal(err)
	}
	wavPCM, mp3PCM := decoded(t, wav.Bytes()), decoded(t, mp3)
	cases := []struct {
		name  string
		src   audio.PCM
		codec Codec
	}{
		{"WAV 44.1 kHz stereo as PCMU", wavPCM, PCMU},
		{"WAV 44.1 kHz stereo as PCMA", wavPCM, PCMA},
		{"MP3 16 kHz as PCMU", mp3PCM, PCMU},
		{"MP3 16 kHz as PCMA", mp3PCM, PCMA},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := sim(t, speakersim.Config{Listen: "127.0.0.1:0"})
			sp := newSpeaker(t, Config{Addr: s.Addr().String(), Codec: c.codec})
			if err := sp.Play(t.Context(), c.src); err != nil {
				t.Fatal(err)
			}
			want, err := audio.Resample(c.src.Mono(), 8000)
			if err != nil {
				t.Fatal(err)
			}
			packets := uint64((len(want.Samples) + Frame - 1) / Frame)
			waitFor(t, s, "every packet", func(st speakersim.Stats, _ int) bool { return st.Packets == packets })
			st := s.Stats()
			if st.Lost != 0 || st.Late != 0 || st.Spurts != 1 || st.Unmarked != 0 || st.BadPackets != 0 ||
				st.PayloadType != c.codec.PayloadType() {
				t.Errorf("stats %+v", st)
			}
			got := s.Audio()
			if len(got.Samples) != int(packets)*Frame {
				t.Fatalf("heard %d samples, want %d", len(got.Samples), packets*Frame)
			}
			r := correlation(want.Samples, got.Samples)
			t.Logf("normalised correlation %.4f, jitter %s", r, st.Jitter)
			if r < 0.95 {
				t.Errorf("normalised correlation %.4f, want at least 0.95", r)
			}
			// The padding of the last packet is silence.
			for _, v := range got.Samples[len(want.Samples):] {
				if v < -8 || v > 8 {
					t.Fatalf("padding holds %d", v)
				}
			}
		})
	}
}

func correlation(a, b []int16) float64 {
	n := min(len(a), len(b))
	var ab, aa, bb float64
	for i := range n {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

// capture reads raw RTP packets on loopback, to check headers as sent.
func capture(t *testing.T) (*net.UDPConn, func(n int) []rtp.Packet) {
	t.Helper()
	l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, func(n int) []rtp.Packet {
		var out []rtp.Packet
		buf := make([]byte, 1500)
		if err := l.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		for len(out) < n {
			k, err := l.Read(buf)
			if err != nil {
				t.Fatalf("after %d of %d packets: %v", len(out), n, err)
			}
			var p rtp.Packet
			if err := p.Unmarshal(buf[:k]); err != nil {
				t.Fatal(err)
			}
			p.Payload = append([]byte(nil), p.Payload...)
			out = append(out, p)
		}
		return out
	}
}

func TestHeaders(t *testing.T) {
	for _, c := range []struct {
		codec     Codec
		pt        uint8
		prebuffer int
	}{{PCMU, 0, 0}, {PCMA, 8, 3}} {
		t.Run(string(c.codec), func(t *testing.T) {
			l, read := capture(t)
			sp := newSpeaker(t, Config{Addr: l.LocalAddr().String(), Codec: c.codec, Prebuffer: c.prebuffer})
			// Start near the top of both counters, so both wrap.
			sp.seq, sp.ts = 65530, 1<<32-800
			clip := audio.Chime(8000)
			clip.Samples = clip.Samples[:8000/5] // 200 ms: 10 packets
			start := time.Now()
			for range 2 {
				if err := sp.Play(t.Context(), clip); err != nil {
					t.Fatal(err)
				}
			}
			elapsed := time.Since(start)
			ps := read(20)
			for i, p := range ps {
				if p.Version != 2 || p.PayloadType != c.pt || p.SSRC != sp.ssrc || p.Padding || p.Extension || len(p.CSRC) != 0 {
					t.Errorf("packet %d: header %+v", i, p.Header)
				}
				if len(p.Payload) != Frame {
					t.Errorf("packet %d: %d bytes of payload", i, len(p.Payload))
				}
				if p.Marker != (i == 0 || i == 10) {
					t.Errorf("packet %d: marker %v; only each spurt's first is marked", i, p.Marker)
				}
				if i == 0 {
					continue
				}
				if p.SequenceNumber != ps[i-1].SequenceNumber+1 {
					t.Errorf("packet %d: sequence %d after %d", i, p.SequenceNumber, ps[i-1].SequenceNumber)
				}
				step := p.Timestamp - ps[i-1].Timestamp // wraps as RTP does
				if i != 10 && step != Frame {
					t.Errorf("packet %d: timestamp step %d, want %d", i, step, Frame)
				}
				// Between the spurts RTP time ran on by the wall-clock gap,
				// which is at least one packet and less than the whole test.
				if i == 10 && (step < Frame || step > uint32(elapsed*Rate/time.Second)) {
					t.Errorf("timestamp step %d between spurts %s apart", step, elapsed)
				}
			}
			if ps[0].SequenceNumber != 65530 || ps[19].SequenceNumber != 13 {
				t.Errorf("sequence %d to %d, want 65530 to 13 across the wrap", ps[0].SequenceNumber, ps[19].SequenceNumber)
			}
			// Payloads are the clip, encoded.
			want := audio.EncodeULaw(nil, clip.Samples[:Frame])
			if c.codec == PCMA {
				want = audio.EncodeALaw(nil, clip.Samples[:Frame])
			}
			if !bytes.Equal(ps[0].Payload, want) {
				t.Error("the first payload is not the clip's first 20 ms")
			}
		})
	}
}

func TestRandomStart(t *testing.T) {
	a := newSpeaker(t, Config{Addr: "127.0.0.1:9"})
	b := newSpeaker(t, Config{Addr: "127.0.0.1:9"})
	// Equal by chance once in 2^80.
	if a.ssrc == b.ssrc && a.seq == b.seq && a.ts == b.ts {
		t.Errorf("two speakers start at SSRC %d, sequence %d, timestamp %d", a.ssrc, a.seq, a.ts)
	}
}

func TestUnreachableSpeaker(t *testing.T) {
	l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := l.LocalAddr().(*net.UDPAddr)
	l.Close() // nobody listens there now: the kernel answers with ICMP port unreachable
	sp := newSpeaker(t, Config{Addr: addr.String()})
	if h := sp.Health(); !h.Reachable {
		t.Fatalf("a fresh speaker: %+v", h)
	}
	err = sp.Play(t.Context(), audio.Silence(8000, 1, time.Second))
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("playing to a closed port: %v", err)
	}
	h := sp.Health()
	if h.Reachable || !strings.Contains(h.LastError, "refused") || time.Since(h.Since) > time.Minute {
		t.Fatalf("health %+v", h)
	}
	// The speaker comes back (on the same port, if nobody took it since).
	l, err = net.ListenUDP("udp4", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	defer l.Close()
	if err := sp.Play(t.Context(), audio.Silence(8000, 1, 100*time.Millisecond)); err != nil {
		t.Fatalf("playing to a listening speaker: %v", err)
	}
	if h2 := sp.Health(); !h2.Reachable || h2.LastError != "" || !h2.Since.After(h.Since) {
		t.Errorf("health after recovering %+v", h2)
	}
}

func TestClosed(t *testing.T) {
	s := sim(t, speakersim.Config{Listen: "127.0.0.1:0"})
	sp := newSpeaker(t, Config{Addr: s.Addr().String()})
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sp.Play(t.Context(), audio.Silence(8000, 1, 100*time.Millisecond)); err == nil {
		t.Error("a closed speaker played")
	}
	if h := sp.Health(); !h.Reachable {
		t.Errorf("closing made the speaker unreachable: %+v", h)
	}
}

func TestHaltWhileWaitingForTurn(t *testing.T) {
	s := sim(t, speakersim.Config{Listen: "127.0.0.1:0"})
	sp := newSpeaker(t, Config{Addr: s.Addr().String()})
	long := audio.Silence(8000, 1, 30*time.Second)
	first := make(chan error, 1)
	go func() { first <- sp.Play(t.Context(), long) }()
	waitFor(t, s, "the first clip", func(st speakersim.Stats, _ int) bool { return st.Packets > 0 })
	// A second Play waits its turn, and gives up when its context ends.
	ctx, cancel := context.WithCancel(t.Context())
	second := make(chan error, 1)
	go func() { second <- sp.Play(ctx, long) }()
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Errorf("the waiting Play returned %v", err)
	}
	if err := sp.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := <-first; !errors.Is(err, speaker.ErrHalted) {
		t.Errorf("the halted Play returned %v", err)
	}
}

func TestConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want []string // in the error; none means valid
	}{
		{"unicast", Config{Addr: "127.0.0.1:5004"}, nil},
		{"PCMA", Config{Addr: "127.0.0.1:5004", Codec: PCMA, Prebuffer: MaxPrebuffer}, nil},
		{"multicast", Config{Addr: "239.255.1.1:5004", TTL: 4, Interface: "lo"}, nil},
		{"host-only multicast", Config{Addr: "239.255.1.1:5004", HostOnly: true}, nil},
		{"codec", Config{Addr: "127.0.0.1:5004", Codec: "opus"}, []string{`codec "opus"`}},
		{"no port", Config{Addr: "127.0.0.1"}, []string{"address"}},
		{"port 0", Config{Addr: "127.0.0.1:0"}, []string{"needs a host and a port"}},
		{"no host", Config{Addr: ":5004"}, []string{"needs a host and a port"}},
		{"TTL", Config{Addr: "239.255.1.1:5004", TTL: 256}, []string{"TTL 256"}},
		{"prebuffer", Config{Addr: "127.0.0.1:5004", Prebuffer: -1}, []string{"prebuffer -1"}},
		{"interface for unicast", Config{Addr: "127.0.0.1:5004", Interface: "lo"}, []string{"unicast"}},
		{"unknown interface", Config{Addr: "239.255.1.1:5004", Interface: "nosuch0"}, []string{"nosuch0"}},
		{"every problem at once", Config{Addr: "127.0.0.1:5004", Codec: "g729", Prebuffer: 99, TTL: -1},
			[]string{"g729", "prebuffer 99", "TTL -1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sp, err := New(c.cfg)
			if len(c.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				sp.Close()
				return
			}
			if err == nil {
				sp.Close()
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
