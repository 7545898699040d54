package whep

import (
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/protocol"
)

func TestChoose(t *testing.T) {
	off := func(pt uint8, plid string) offered {
		p, ok := parseProfileLevelID(plid)
		if !ok {
			t.Fatalf("bad plid %q", plid)
		}
		return offered{PT: pt, Profile: p, Fmtp: "packetization-mode=1;profile-level-id=" + plid}
	}
	chrome := []offered{off(102, "42001f"), off(106, "42e01f"), off(112, "4d001f"), off(116, "640032")}
	for _, tc := range []struct {
		name   string
		camera string
		offers []offered
		want   uint8
	}{
		{"high camera, high offered", "640028", chrome, 116},
		{"high camera, level differs", "64001f", []offered{off(106, "42e01f"), off(116, "640034")}, 116},
		{"main camera, main offered", "4d0029", chrome, 112},
		{"main camera, no main: high contains it", "4d0029", []offered{off(106, "42e01f"), off(116, "640032")}, 116},
		{"constrained baseline camera", "42c01e", chrome, 106},
		{"constrained baseline camera, only high", "42c01e", []offered{off(116, "640032")}, 116},
		{"high camera, baseline only: best effort", "640028", []offered{off(102, "42001f"), off(106, "42e01f")}, 102},
		{"high camera, cb only", "640028", []offered{off(106, "42e01f")}, 106},
		{"unknown camera profile: richest", "000000", chrome, 116},
		{"ties go to the offer's order", "640028", []offered{off(100, "640032"), off(101, "64001f")}, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cam, _ := parseProfileLevelID(tc.camera)
			if got := choose(cam, tc.offers); got.PT != tc.want {
				t.Errorf("choose(%s) = %d (%s); want %d", tc.camera, got.PT, got.Fmtp, tc.want)
			}
		})
	}
}

func TestParseOffer(t *testing.T) {
	const head = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
	video := head + "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99\r\nc=IN IP4 0.0.0.0\r\na=recvonly\r\n" +
		"a=rtpmap:96 VP8/90000\r\n" +
		"a=rtpmap:97 H264/90000\r\na=fmtp:97 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f\r\n" +
		"a=rtpmap:98 H264/90000\r\na=fmtp:98 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n" +
		"a=rtpmap:99 H264/90000\r\na=fmtp:99 packetization-mode=1\r\n"
	o, err := parseOffer(video)
	if err != nil {
		t.Fatal(err)
	}
	got := o.h264
	if len(got) != 2 || got[0].PT != 98 || got[1].PT != 99 || got[1].Profile != [3]byte{0x42, 0, 0x0a} {
		t.Errorf("parseOffer = %+v; want PTs 98 and 99 (Baseline when no profile-level-id)", got)
	}
	if !strings.Contains(got[0].Fmtp, "level-asymmetry-allowed=1") {
		t.Errorf("fmtp not kept whole: %q", got[0].Fmtp)
	}
	for name, bad := range map[string]string{
		"sendonly":  strings.Replace(video, "a=recvonly", "a=sendonly", 1),
		"port zero": strings.Replace(video, "m=video 9", "m=video 0", 1),
		"bad pt":    strings.Replace(video, "96 97", "x 97", 1),
	} {
		if _, err := parseOffer(bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	err := Config{MaxSessions: -1, DisconnectedTimeout: time.Millisecond, UDPPortMin: 5000, MaxPayload: 10,
		ICE: []protocol.ICEServer{{}}}.Validate()
	for _, want := range []string{"max sessions", "disconnected timeout", "udp ports", "max payload", "ice[0]"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v; want it to name %q", err, want)
		}
	}
}
