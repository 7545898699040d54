package relay

import (
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/camera/sim"
	"github.com/dalaba/dalaba/internal/testenv"
)

// TestFFprobe has ffprobe, a client that is not gortsplib, read the
// relay's re-served stream: the camera's SPS reaches it untouched.
func TestFFprobe(t *testing.T) {
	ffprobe := testenv.Tool(t, "ffprobe", "apt-get install ffmpeg")
	for _, c := range []struct {
		name          string
		clip          []byte
		width, height int
	}{
		{"default clip", nil, 640, 360},
		{"high profile", fixture(t, "high-1280x720.h264"), 1280, 720},
	} {
		t.Run(c.name, func(t *testing.T) {
			cam := startCamera(t, sim.Config{Clip: c.clip})
			r := startRelay(t, quick(), Camera{ID: "cam1", URL: cam.URL(), AllowLocal: true})
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-rtsp_transport", "tcp",
				"-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height",
				"-of", "json", r.URL("cam1")).CombinedOutput()
			if err != nil {
				t.Fatalf("ffprobe: %v\n%s", err, out)
			}
			var res struct {
				Streams []struct {
					CodecName     string `json:"codec_name"`
					Width, Height int
				}
			}
			if err := json.Unmarshal(out, &res); err != nil || len(res.Streams) != 1 {
				t.Fatalf("ffprobe output (%v):\n%s", err, out)
			}
			got := res.Streams[0]
			if got.CodecName != "h264" || got.Width != c.width || got.Height != c.height {
				t.Errorf("ffprobe sees %+v; want h264 %dx%d", got, c.width, c.height)
			}
		})
	}
}
