package rtpspeaker

import (
	"bytes"
	"context"
	"math"
	"net"
	"os"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker/speakersim"
	"github.com/dalaba/dalaba/internal/testenv"
)

func sim(t *testing.T, listen, ifname string) *speakersim.Sim {
	t.Helper()
	s, err := speakersim.New(speakersim.Config{Listen: listen, Interface: ifname})
	if err != nil {
		t.Fatal(err)
	}
	go s.Run(t.Context())
	return s
}

// speech-like test signal: a few tones with a slow envelope, at 44.1 kHz.
func source() audio.PCM {
	p := audio.PCM{Rate: 44100, Channels: 2}
	for i := 0; i < 44100; i++ {
		t := float64(i) / 44100
		env := 0.6 + 0.4*math.Sin(2*math.Pi*3*t)
		v := env * (6000*math.Sin(2*math.Pi*300*t) + 4000*math.Sin(2*math.Pi*1200*t) + 2000*math.Sin(2*math.Pi*2500*t))
		p.Samples = append(p.Samples, int16(v), int16(v*0.9))
	}
	return p
}

func correlation(a, b []int16) float64 {
	n := min(len(a), len(b))
	var ab, aa, bb float64
	for i := 0; i < n; i++ {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

func playTo(t *testing.T, addr string, codec Codec, pcm audio.PCM, extra func(*Config)) *Speaker {
	t.Helper()
	cfg := Config{Addr: addr, Codec: codec}
	if extra != nil {
		extra(&cfg)
	}
	sp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	if err := sp.Play(t.Context(), pcm); err != nil {
		t.Fatal(err)
	}
	return sp
}

func TestAudioSurvivesTheRoundTrip(t *testing.T) {
	mp3, err := os.ReadFile("../../audio/testdata/tone.mp3")
	if err != nil {
		t.Fatal(err)
	}
	mp3PCM, err := audio.Decode(mp3)
	if err != nil {
		t.Fatal(err)
	}
	var wav bytes.Buffer
	if err := audio.EncodeWAV(&wav, source()); err != nil {
		t.Fatal(err)
	}
	wavPCM, err := audio.Decode(wav.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		pcm   audio.PCM
		codec Codec
		pt    uint8
	}{
		{"WAV as PCMU", wavPCM, PCMU, 0},
		{"WAV as PCMA", wavPCM, PCMA, 8},
		{"MP3 as PCMU", mp3PCM, PCMU, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := sim(t, "127.0.0.1:0", "")
			playTo(t, s.Addr().String(), c.codec, c.pcm, nil)
			want := audio.Resample(c.pcm.Mono(), 8000).Samples
			packets := uint64((len(want) + Frame - 1) / Frame)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			if err := s.Wait(ctx, func(st speakersim.Stats, _ int) bool { return st.Packets == packets }); err != nil {
				t.Fatalf("%d of %d packets arrived", s.Stats().Packets, packets)
			}
			st := s.Stats()
			if st.Lost != 0 || st.Spurts != 1 || st.PayloadType != c.pt || st.BadPackets != 0 {
				t.Errorf("stats %+v", st)
			}
			if r := correlation(want, s.Audio().Samples); r < 0.95 {
				t.Errorf("normalised correlation %.3f, want at least 0.95", r)
			} else {
				t.Logf("normalised correlation %.4f, jitter %.2f ms", r, st.JitterMs)
			}
		})
	}
}

func TestSpurtsContinueSequenceAndSSRC(t *testing.T) {
	s := sim(t, "127.0.0.1:0", "")
	sp, err := New(Config{Addr: s.Addr().String(), Codec: PCMU, Prebuffer: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	clip := audio.Silence(8000, 1, 200*time.Millisecond)
	for i := 0; i < 2; i++ {
		if err := sp.Play(t.Context(), clip); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.Wait(ctx, func(st speakersim.Stats, _ int) bool { return st.Packets == 20 }); err != nil {
		t.Fatalf("stats %+v", s.Stats())
	}
	if st := s.Stats(); st.Spurts != 2 || st.Lost != 0 || st.SSRC != sp.ssrc {
		t.Errorf("two spurts: %+v", st)
	}
}

func TestHaltAndCancelStopPromptly(t *testing.T) {
	s := sim(t, "127.0.0.1:0", "")
	sp, err := New(Config{Addr: s.Addr().String(), Codec: PCMA})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	long := audio.Silence(8000, 1, 10*time.Second)
	done := make(chan error)
	go func() { done <- sp.Play(context.Background(), long) }()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	s.Wait(ctx, func(st speakersim.Stats, _ int) bool { return st.Packets >= 5 })
	start := time.Now()
	sp.Halt()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("halt took %s", d)
	}
	cctx, ccancel := context.WithCancel(t.Context())
	go func() { done <- sp.Play(cctx, long) }()
	ccancel()
	if err := <-done; err == nil {
		t.Error("a cancelled play returned no error")
	}
}

func TestUnreachableSpeakerIsUnhealthy(t *testing.T) {
	l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := l.LocalAddr().String()
	l.Close() // nobody listens there now
	sp, err := New(Config{Addr: addr, Codec: PCMU})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	err = sp.Play(t.Context(), audio.Silence(8000, 1, time.Second))
	if err == nil {
		t.Fatal("playing to a closed port succeeded")
	}
	if h := sp.Health(); h.Reachable || h.LastError == "" {
		t.Errorf("health %+v", h)
	}
}

func TestRefusesBadConfig(t *testing.T) {
	for _, c := range []Config{{Addr: "127.0.0.1:5004", Codec: "opus"}, {Addr: "nowhere", Codec: PCMU}} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// multicastInterface finds an up, multicast-capable interface. Packets go
// out with TTL 0, so they never leave this host.
func multicastInterface(t *testing.T) string {
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagMulticast != 0 {
			if addrs, _ := i.Addrs(); len(addrs) > 0 {
				return i.Name
			}
		}
	}
	testenv.Missing(t, "a multicast-capable network interface", "bring one up (ip link set lo multicast on)")
	return ""
}

func TestMulticastReachesTwoSpeakers(t *testing.T) {
	ifname := multicastInterface(t)
	group := "239.255.77.1:15004"
	a, b := sim(t, group, ifname), sim(t, group, ifname)
	playTo(t, group, PCMU, audio.Silence(8000, 1, 300*time.Millisecond), func(c *Config) { c.TTL = 0; c.Interface = ifname })
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for i, s := range []*speakersim.Sim{a, b} {
		if err := s.Wait(ctx, func(st speakersim.Stats, _ int) bool { return st.Packets == 15 }); err != nil {
			t.Errorf("speaker %d heard %+v", i, s.Stats())
		}
	}
}

// BenchmarkRTP16Streams: 16 speakers fed at once, real-time pacing; CPU
// time spent per second of wall time (target: under 5% of one core).
func BenchmarkRTP16Streams(b *testing.B) {
	clip := audio.Silence(8000, 1, 2*time.Second)
	var sims []*speakersim.Sim
	var sps []*Speaker
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < 16; i++ {
		s, err := speakersim.New(speakersim.Config{Listen: "127.0.0.1:0"})
		if err != nil {
			b.Fatal(err)
		}
		go s.Run(ctx)
		sims = append(sims, s)
		sp, err := New(Config{Addr: s.Addr().String(), Codec: PCMU})
		if err != nil {
			b.Fatal(err)
		}
		defer sp.Close()
		sps = append(sps, sp)
	}
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		cpu0, wall0 := cpuTime(), time.Now()
		done := make(chan error, len(sps))
		for _, sp := range sps {
			go func() { done <- sp.Play(ctx, clip) }()
		}
		for range sps {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
		// The simulators' receiving is counted too: an upper bound.
		b.ReportMetric(100*float64(cpuTime()-cpu0)/float64(time.Since(wall0)), "cpu-%")
	}
}
