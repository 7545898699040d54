package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dalaba/dalaba/devices/camera/sim"
	"github.com/dalaba/dalaba/protocol"
)

// simFixture reads a clip of the camera simulator's testdata.
func simFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "devices", "camera", "sim", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runSim runs a simulated camera until the test ends.
func runSim(t *testing.T, cfg sim.Config) *sim.Sim {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	cam, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cam.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return cam
}

// TestConsoleCameraKinds: the cameras villages really have, in Chromium
// through the console, one browser and one village for all of them:
//
//   - B-frames nothing refers to, no sub stream: decoded at no less than
//     80 % of the stream's reference-frame rate, the tile saying it shows
//     the main stream without its B-frames;
//   - a B-pyramid without a sub stream: marked as not viewable, saying
//     how to turn B-frames off, never live;
//   - H.265 with an H.264 sub stream: the tile shows the sub stream, and
//     the full view too, saying the main stream is H.265;
//   - A-law audio: the tile offers sound, and the level of the received
//     track is not silence.
func TestConsoleCameraKinds(t *testing.T) {
	bframes := runSim(t, sim.Config{Clip: simFixture(t, "bframes-640x360.h264")})
	pyramid := runSim(t, sim.Config{Clip: simFixture(t, "bpyramid-640x360.h264")})
	hevc := runSim(t, sim.Config{Clip: simFixture(t, "h265-640x360.h265"), SubClip: simFixture(t, "sub-320x180.h264")})
	mic := runSim(t, sim.Config{Audio: simFixture(t, "tone-8k.alaw")})

	c := startCloud(t, cloudOpts{config: "cameras:\n  allow_local_targets: true\n"}) // the cameras are on loopback
	box := uniqueID("kinds")
	startEdge(t, writeEdgeConfig(t, c.addBox(t, box)), t.TempDir())
	eventually(t, 15*time.Second, "box online", func() bool { return c.box(t, box).Online })
	var put struct {
		DesiredRev uint64 `json:"desired_rev"`
	}
	c.do(t, "PUT", "/api/v1/boxes/"+box+"/cameras", protocol.Cameras{Cameras: []protocol.Camera{
		{ID: "bframes", Name: "B帧", URL: bframes.URL()},
		{ID: "pyramid", Name: "B帧金字塔", URL: pyramid.URL()},
		{ID: "hevc", Name: "H.265", URL: hevc.URL(), SubURL: hevc.SubURL()},
		{ID: "mic", Name: "拾音器", URL: mic.URL()},
	}}, &put, http.StatusOK)
	eventually(t, 15*time.Second, "box applies the cameras", func() bool { return c.box(t, box).AppliedRev == put.DesiredRev })

	b := newChrome(t, c, 1100, 1400, 3*time.Minute)
	b.signIn(t, "admin", adminPassword)
	b.run(t, "open the camera grid", chromedp.Navigate(b.base+"/cameras"),
		chromedp.WaitVisible(chromedp.CSS(`.cam-box[data-box="`+box+`"] .cam-tile[data-camera="mic"] .cam-watch`)))
	tile := func(cam string) string {
		return `.cam-box[data-box="` + box + `"] .cam-tile[data-camera="` + cam + `"]`
	}
	q := func(cam, rest string) string { return `document.querySelector('` + tile(cam) + rest + `')` }
	for _, cam := range []string{"bframes", "pyramid", "hevc", "mic"} {
		b.run(t, "watch "+cam, chromedp.Click(chromedp.CSS(tile(cam)+` .cam-watch`)))
	}

	t.Run("B-frames", func(t *testing.T) {
		b.poll(t, 30*time.Second, "the tile is live", q("bframes", "")+`.dataset.live === '1'`)
		if s := eval[string](t, b, q("bframes", "")+`.dataset.stream + ' ' + `+q("bframes", "")+`.dataset.frames`); s != "main reference" {
			t.Errorf("the tile shows %q; want the main stream's reference frames", s)
		}
		if n := eval[string](t, b, q("bframes", " [data-k=note]")+`.textContent`); !strings.Contains(n, "B帧设为0") {
			t.Errorf("the note %q does not say how to turn B-frames off", n)
		}
		want, _ := strconv.ParseFloat(eval[string](t, b, q("bframes", "")+`.dataset.wantFps`), 64)
		if want < 5 || want > 13 {
			t.Fatalf("the box expects %.1f fps of reference frames; the clip has 9 in 25", want)
		}
		got := decodedFPS(t, b, q("bframes", " video"))
		t.Logf("decoded %.1f fps of the %.1f reference frames a second", got, want)
		if got < 0.8*want {
			t.Errorf("decoded %.1f fps; want at least 80%% of %.1f", got, want)
		}
		if s := eval[string](t, b, q("bframes", " [data-k=status]")+`.textContent`); !strings.HasPrefix(s, "实时画面 · 主码流") {
			t.Errorf("the status %q does not say which stream it shows", s)
		}
	})

	t.Run("B-pyramid", func(t *testing.T) {
		b.poll(t, 30*time.Second, "the tile is refused", q("pyramid", " [data-k=status]")+`.classList.contains('error')`)
		if s := eval[string](t, b, q("pyramid", " [data-k=status]")+`.textContent`); !strings.Contains(s, "无法显示") || !strings.Contains(s, "B帧设为0") {
			t.Errorf("the refusal says %q; want not viewable and how to turn B-frames off", s)
		}
		if eval[string](t, b, q("pyramid", "")+`.dataset.live`) == "1" {
			t.Error("a refused camera is marked live")
		}
	})

	t.Run("H.265 with an H.264 sub stream", func(t *testing.T) {
		b.poll(t, 30*time.Second, "the sub stream decodes", q("hevc", " video")+`.videoWidth === 320`)
		b.poll(t, 15*time.Second, "the tile is live", q("hevc", "")+`.dataset.live === '1'`)
		b.run(t, "open the full view", chromedp.Click(chromedp.CSS(tile("hevc")+` .cam-full`)))
		b.poll(t, 30*time.Second, "the full view plays", q("hevc", "")+`.dataset.note === 'h265_sub' && `+q("hevc", " video")+`.videoWidth === 320`)
		if n := eval[string](t, b, q("hevc", " [data-k=note]")+`.textContent`); !strings.Contains(n, "H.265") || !strings.Contains(n, "H.264") {
			t.Errorf("the note %q does not say the main stream is H.265", n)
		}
		b.poll(t, 15*time.Second, "the full view is live", q("hevc", "")+`.dataset.live === '1'`)
	})

	t.Run("A-law audio", func(t *testing.T) {
		b.poll(t, 30*time.Second, "the tile offers sound", q("mic", " .cam-mute")+`.hidden === false`)
		b.run(t, "turn the sound on", chromedp.Click(chromedp.CSS(tile("mic")+` .cam-mute`)))
		b.poll(t, 15*time.Second, "the audio is not silent", `parseFloat(`+q("mic", "")+`.dataset.audioLevel || '0') > 0.05`)
		if m := eval[bool](t, b, q("mic", " video")+`.muted`); m {
			t.Error("the video is still muted")
		}
		b.poll(t, 15*time.Second, "the picture is live with its sound", q("mic", "")+`.dataset.live === '1'`)
		if got := decodedFPS(t, b, q("mic", " video")); got < 20 {
			t.Errorf("the picture of a camera with sound decodes at %.1f fps; want about 25", got)
		}
	})
	// Whatever the others did, the B-frame camera is still decoded.
	if got := decodedFPS(t, b, q("bframes", " video")); got < 6 {
		t.Errorf("the B-frame camera decodes at %.1f fps by the end", got)
	}
	b.screenshot(t, "camera-kinds")
}

// decodedFPS is the frames the video element decodes a second, over 2 s,
// in sight (Chromium paints no video out of the window).
func decodedFPS(t *testing.T, b *chrome, video string) float64 {
	t.Helper()
	frames, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]float64](`new Promise(function (done) {
		const v = `+video+`;
		v.scrollIntoView({block: 'center'});
		const q0 = v.getVideoPlaybackQuality(), t0 = performance.now();
		setTimeout(function () {
			const q1 = v.getVideoPlaybackQuality();
			done([(q1.totalVideoFrames - q1.droppedVideoFrames) - (q0.totalVideoFrames - q0.droppedVideoFrames), performance.now() - t0]);
		}, 2000);
	})`, chromedp.EvalAwaitPromise))
	if err != nil || len(frames) != 2 {
		t.Fatalf("counting decoded frames: %v", err)
	}
	return frames[0] * 1000 / frames[1]
}
