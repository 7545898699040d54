package rtpspeaker

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker/speakersim"
	"github.com/dalaba/dalaba/internal/testenv"
)

// multicastInterface picks where the test's group lives: the loopback
// interface if it has the MULTICAST flag, else the first interface that
// is up, multicast-capable and has an IPv4 address. The sender uses
// TTL 0, so nothing leaves this host either way.
func multicastInterface(t *testing.T) string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var pick string
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagMulticast == 0 {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				if ifi.Flags&net.FlagLoopback != 0 {
					return ifi.Name
				}
				if pick == "" {
					pick = ifi.Name
				}
			}
		}
	}
	if pick == "" {
		testenv.Missing(t, "a multicast-capable interface (lo has no MULTICAST flag and no other is up)",
			"sudo ip link set lo multicast on")
	}
	t.Logf("loopback has no MULTICAST flag; using %s with TTL 0", pick)
	return pick
}

func TestMulticastReachesTwoSpeakers(t *testing.T) {
	ifname := multicastInterface(t)
	a := sim(t, speakersim.Config{Listen: "239.255.77.1:0", Interface: ifname})
	// The second speaker joins the same group on the port the first got.
	b := sim(t, speakersim.Config{Listen: a.Addr().String(), Interface: ifname})
	if a.Addr().Port != b.Addr().Port || !a.Addr().IP.Equal(net.IPv4(239, 255, 77, 1)) {
		t.Fatalf("speakers listen on %s and %s", a.Addr(), b.Addr())
	}
	sp := newSpeaker(t, Config{Addr: a.Addr().String(), Codec: PCMA, HostOnly: true, Interface: ifname})
	clip := audio.Chime(8000)
	clip.Samples = clip.Samples[:8000*3/10] // 300 ms: 15 packets
	if err := sp.Play(t.Context(), clip); err != nil {
		t.Fatal(err)
	}
	for i, s := range []*speakersim.Sim{a, b} {
		waitFor(t, s, "15 packets", func(st speakersim.Stats, _ int) bool { return st.Packets >= 15 })
		st := s.Stats()
		if st.Packets != 15 || st.Lost != 0 || st.Spurts != 1 || st.PayloadType != 8 || st.SSRC != sp.ssrc {
			t.Errorf("speaker %d: stats %+v", i, st)
		}
		if r := correlation(clip.Samples, s.Audio().Samples); r < 0.99 {
			t.Errorf("speaker %d: correlation %.4f", i, r)
		}
	}
	if h := sp.Health(); !h.Reachable {
		t.Errorf("health %+v", h)
	}
}

// A group a third speaker has not joined reaches nobody else: the
// simulators filter by group, not only by port.
func TestMulticastGroupsAreSeparate(t *testing.T) {
	ifname := multicastInterface(t)
	a := sim(t, speakersim.Config{Listen: "239.255.77.2:0", Interface: ifname})
	other := sim(t, speakersim.Config{Listen: net.JoinHostPort("239.255.77.3", strconv.Itoa(a.Addr().Port)), Interface: ifname})
	sp := newSpeaker(t, Config{Addr: a.Addr().String(), HostOnly: true, Interface: ifname})
	if err := sp.Play(t.Context(), audio.Silence(8000, 1, 100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, a, "5 packets", func(st speakersim.Stats, _ int) bool { return st.Packets >= 5 })
	// Packets on one host are delivered in order, so a packet sent after
	// the clip to the other group arrives after any stray one would have.
	probe := newSpeaker(t, Config{Addr: other.Addr().String(), HostOnly: true, Interface: ifname})
	if err := probe.Play(t.Context(), audio.Silence(8000, 1, 20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, other, "the probe", func(st speakersim.Stats, _ int) bool { return st.Packets >= 1 })
	if st := other.Stats(); st.Packets != 1 || st.SSRC != probe.ssrc {
		t.Errorf("the other group heard %+v", st)
	}
}
