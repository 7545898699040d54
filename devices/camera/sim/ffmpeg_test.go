package sim

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/internal/testenv"
)

// TestFFprobe has Debian's ffprobe, a client that is not gortsplib, read
// the camera over TCP and UDP and say what it sees.
func TestFFprobe(t *testing.T) {
	ffprobe := testenv.Tool(t, "ffprobe", "apt-get install ffmpeg")
	for _, c := range []struct {
		name, clip, transport string
		width, height         int
		profile               string
	}{
		{"baseline over TCP", "baseline-640x360.h264", "tcp", 640, 360, "Constrained Baseline"},
		{"baseline over UDP", "baseline-640x360.h264", "udp", 640, 360, "Constrained Baseline"},
		{"high over TCP", "high-1280x720.h264", "tcp", 1280, 720, "High"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cam := start(t, Config{Clip: fixture(t, c.clip)})
			got := probe(t, ffprobe, cam.URL(), c.transport)
			if got.CodecName != "h264" || got.Width != c.width || got.Height != c.height || got.Profile != c.profile {
				t.Errorf("ffprobe sees %+v; want h264 %dx%d %s", got, c.width, c.height, c.profile)
			}
		})
	}
}

// probed is the stream ffprobe describes.
type probed struct {
	CodecName string `json:"codec_name"`
	Profile   string `json:"profile"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
}

// probe runs ffprobe on url and returns its first video stream.
func probe(t testing.TB, ffprobe, url, transport string) probed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-rtsp_transport", transport,
		"-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height,profile",
		"-of", "json", url).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", url, err, out)
	}
	var res struct{ Streams []probed }
	if err := json.Unmarshal(out, &res); err != nil || len(res.Streams) != 1 {
		t.Fatalf("ffprobe output (%v):\n%s", err, out)
	}
	return res.Streams[0]
}

// TestFFmpegDecodes has ffmpeg's H.264 decoder decode 3 s of the stream,
// more than a loop, and checks it complains of nothing once it has
// started: the loop point and the in-band SPS and PPS are sound.
func TestFFmpegDecodes(t *testing.T) {
	ffmpeg := testenv.Tool(t, "ffmpeg", "apt-get install ffmpeg")
	for _, clip := range []string{"baseline-640x360.h264", "high-1280x720.h264"} {
		t.Run(clip, func(t *testing.T) {
			cam := start(t, Config{Clip: fixture(t, clip)})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, ffmpeg, "-nostdin", "-v", "error", "-rtsp_transport", "tcp",
				"-i", cam.URL(), "-frames:v", "75", "-f", "null", "-").CombinedOutput()
			if err != nil {
				t.Fatalf("ffmpeg: %v\n%s", err, out)
			}
			if s := strings.TrimSpace(string(out)); s != "" {
				t.Errorf("ffmpeg complained:\n%s", s)
			}
		})
	}
}

// TestMainSubAndAudio: a camera with an H.265 main stream, an H.264 sub
// stream and a microphone, as ffprobe sees it: two paths, the main one with
// its G.711 audio.
func TestMainSubAndAudio(t *testing.T) {
	ffprobe := testenv.Tool(t, "ffprobe", "apt-get install ffmpeg")
	cam := start(t, Config{Clip: fixture(t, "h265-640x360.h265"), SubClip: fixture(t, "sub-320x180.h264"), Audio: fixture(t, "tone-8k.alaw")})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	streams := func(url string) string {
		out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-rtsp_transport", "tcp",
			"-show_entries", "stream=codec_name,width,height,sample_rate", "-of", "compact=p=0:nk=1", url).CombinedOutput()
		if err != nil {
			t.Fatalf("ffprobe %s: %v\n%s", url, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := streams(cam.URL()); got != "hevc|640|360|\npcm_alaw|||8000" && got != "hevc|640|360\npcm_alaw|8000" {
		t.Errorf("main stream: ffprobe sees %q; want H.265 640x360 and A-law at 8 kHz", got)
	}
	if cam.SubURL() != cam.URL()+"/sub" {
		t.Errorf("sub URL %s", cam.SubURL())
	}
	if got := streams(cam.SubURL()); got != "h264|320|180|" && got != "h264|320|180" {
		t.Errorf("sub stream: ffprobe sees %q; want H.264 320x180 alone", got)
	}
}
