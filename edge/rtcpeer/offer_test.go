package rtcpeer

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/protocol"
)

const offerHead = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"

func TestCodecs(t *testing.T) {
	// Opus, the static PCMU and PCMA without rtpmap lines, a dynamic type
	// without one, and PCMA again under a dynamic type.
	raw := offerHead + "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 100 101\r\nc=IN IP4 0.0.0.0\r\n" +
		"a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n" +
		"a=rtpmap:101 PCMA/8000\r\n"
	sd, err := ParseOffer(raw)
	if err != nil {
		t.Fatal(err)
	}
	cs, names, err := Codecs(sd, sd.MediaDescriptions[0])
	if err != nil {
		t.Fatal(err)
	}
	var pts []uint8
	for _, c := range cs {
		pts = append(pts, c.PT)
	}
	if !slices.Equal(pts, []uint8{111, 0, 8, 101}) {
		t.Errorf("payload types %v; want 111 0 8 101, in the offer's order, without 100", pts)
	}
	if !slices.Equal(names, []string{"opus", "PCMU", "PCMA"}) {
		t.Errorf("names %v; want each codec once", names)
	}
	if cs[0].Fmtp != "minptime=10;useinbandfec=1" || cs[0].ClockRate != 48000 || cs[2].ClockRate != 8000 {
		t.Errorf("codecs %+v", cs)
	}
}

func TestBadOffers(t *testing.T) {
	for name, raw := range map[string]string{
		"not sdp":    "v=0\r\nthis is not sdp\r\n",
		"pt no num":  offerHead + "m=audio 9 UDP/TLS/RTP/SAVPF 0 x\r\n",
		"pt too big": offerHead + "m=audio 9 UDP/TLS/RTP/SAVPF 0 128\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			sd, err := ParseOffer(raw)
			if err == nil {
				_, _, err = Codecs(sd, sd.MediaDescriptions[0])
			}
			if !errors.Is(err, ErrBadOffer) {
				t.Fatalf("err = %v; want ErrBadOffer", err)
			}
		})
	}
}

func TestConfigProblems(t *testing.T) {
	good := Config{MaxSessions: 4, SessionTimeout: DefaultSessionTimeout, DisconnectedTimeout: DefaultDisconnectedTimeout,
		UDPPortMin: 40000, UDPPortMax: 40100, ICE: []protocol.ICEServer{{URLs: []string{"stun:stun.example.cn:3478"}}}}
	if errs := good.Problems(); len(errs) != 0 {
		t.Fatalf("a good config: %v", errs)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		says string
	}{
		{"negative max sessions", func(c *Config) { c.MaxSessions = -1 }, "max sessions: -1 is negative"},
		{"negative session timeout", func(c *Config) { c.SessionTimeout = -time.Second }, "session timeout: -1s is negative"},
		{"disconnected timeout too short", func(c *Config) { c.DisconnectedTimeout = 50 * time.Millisecond }, "disconnected timeout: 50ms is below 100ms"},
		{"min port alone", func(c *Config) { c.UDPPortMax = 0 }, "udp ports"},
		{"max port alone", func(c *Config) { c.UDPPortMin = 0 }, "udp ports"},
		{"ports reversed", func(c *Config) { c.UDPPortMin, c.UDPPortMax = 40100, 40000 }, "udp ports"},
		{"ice server without urls", func(c *Config) { c.ICE = append(c.ICE, protocol.ICEServer{Username: "u"}) }, "ice[1]: no urls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			c.ICE = slices.Clone(good.ICE)
			tc.edit(&c)
			errs := c.Problems()
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.says) {
				t.Fatalf("problems %v; want one saying %q", errs, tc.says)
			}
		})
	}
	// Every problem at once, not the first alone.
	if errs := (Config{MaxSessions: -1, UDPPortMin: 1}).Problems(); len(errs) != 3 {
		t.Errorf("problems %v; want max sessions, disconnected timeout and udp ports", errs)
	}
}
