package e2e

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dalaba/dalaba/devices/camera/sim"
	"github.com/dalaba/dalaba/protocol"
)

// cameraVillage is TestCameraOverWHEP's setup: a running township, a box
// with a relay, and a simulated camera (High profile 1280×720 H.264)
// that the box has applied as camera "gate" (村口).
func cameraVillage(t *testing.T) (c *cloud, box string, cam *sim.Sim) {
	t.Helper()
	cam = startCamera(t)

	// The camera is simulated on loopback, beside the box.
	c = startCloud(t, cloudOpts{config: "cameras:\n  allow_local_targets: true\n"})
	box = uniqueID("cam")
	startEdge(t, writeEdgeConfig(t, c.addBox(t, box)), t.TempDir())
	eventually(t, 15*time.Second, "box online", func() bool { return c.box(t, box).Online })
	var put struct {
		DesiredRev uint64 `json:"desired_rev"`
	}
	c.do(t, "PUT", "/api/v1/boxes/"+box+"/cameras/gate", protocol.Camera{ID: "gate", Name: "村口", URL: cam.URL()}, &put, http.StatusOK)
	eventually(t, 15*time.Second, "box applies the camera", func() bool { return c.box(t, box).AppliedRev == put.DesiredRev })
	return c, box, cam
}

// startCamera runs a simulated H.264 High-profile camera on loopback
// until the test ends.
func startCamera(t *testing.T) *sim.Sim {
	t.Helper()
	return runSim(t, sim.Config{Clip: highClip(t)})
}

// highClip is the simulated camera's High-profile 1280×720 H.264 clip.
func highClip(t *testing.T) []byte {
	t.Helper()
	clip, err := os.ReadFile(filepath.Join("..", "..", "devices", "camera", "sim", "testdata", "high-1280x720.h264"))
	if err != nil {
		t.Fatal(err)
	}
	return clip
}

// TestConsoleCameraGrid: an official opens 监控 in Chromium, presses
// 观看 on the village gate's camera and sees it: the browser's offer
// goes through the console's bridge and the township's WHEP endpoint to
// the box over MQTT, and the box's relay sends the camera's H.264, which
// Chromium decodes (a picture of the camera's size, frames counting up).
// 停止 ends the session, the box records the viewing, and the event log
// (事件) finds it by box and type.
func TestConsoleCameraGrid(t *testing.T) {
	c, box, _ := cameraVillage(t)
	b := newChrome(t, c, 1100, 900, 2*time.Minute)
	b.signIn(t, "admin", adminPassword)

	tile := `.cam-box[data-box="` + box + `"] .cam-tile[data-camera="gate"]`
	video := `document.querySelector('` + tile + ` video')`
	b.run(t, "open the camera grid", chromedp.Navigate(b.base+"/cameras"), chromedp.WaitVisible(chromedp.CSS(tile+` .cam-watch`)))
	if n := eval[string](t, b, `document.querySelector('`+tile+` [data-k=name]').textContent`); n != "村口" {
		t.Errorf("the tile is named %q, want 村口", n)
	}
	limits := `.cam-box[data-box="` + box + `"] .cam-limits`
	if s := eval[string](t, b, `document.querySelector('`+limits+`').innerText`); !strings.Contains(s, "32") || !strings.Contains(s, "8") || !strings.Contains(s, "不限") {
		t.Errorf("the viewer limits show %q; want the defaults 32 and 8 and no budget", s)
	}

	b.run(t, "watch the gate", chromedp.Click(chromedp.CSS(tile+` .cam-watch`)))
	b.poll(t, 30*time.Second, "the video decodes", video+`.videoWidth > 0`)
	if w, h := eval[int](t, b, video+`.videoWidth`), eval[int](t, b, video+`.videoHeight`); w != 1280 || h != 720 {
		t.Errorf("the video is %d×%d, want the camera's 1280×720", w, h)
	}
	// Decoded frames keep coming: a second apart, more of them.
	frames, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]int](`new Promise(function (done) {
		const v = `+video+`;
		const first = v.getVideoPlaybackQuality().totalVideoFrames;
		setTimeout(function () { done([first, v.getVideoPlaybackQuality().totalVideoFrames]); }, 1000);
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("counting decoded frames: %v", err)
	}
	if len(frames) != 2 || frames[1] <= frames[0] {
		t.Fatalf("decoded frames a second apart: %v; want the count to grow", frames)
	}
	t.Logf("decoded frames a second apart: %v", frames)
	b.poll(t, 10*time.Second, "the tile says it is live", `document.querySelector('`+tile+` [data-k=status]').textContent.startsWith('实时画面 · 主码流 · 每秒')`)
	if n := eval[string](t, b, `document.querySelector('`+tile+` [data-k=note]').textContent`); !strings.Contains(n, "没有子码流") {
		t.Errorf("the tile's note %q; want it to say the camera has no sub stream", n)
	}
	b.screenshot(t, "cameras")

	b.run(t, "stop watching", chromedp.Click(chromedp.CSS(tile+` .cam-watch`)))
	b.poll(t, 20*time.Second, "the session is deleted", `document.querySelector('`+tile+`').dataset.ended === '200' || document.querySelector('`+tile+`').dataset.ended === '204'`)
	if src := eval[bool](t, b, video+`.srcObject === null`); !src {
		t.Error("the video still has its stream after stop")
	}
	eventually(t, 20*time.Second, "the box records the viewing", func() bool {
		for _, ev := range c.events(t, box) {
			if ev.Type == protocol.EventCameraViewed && bytes.Contains(ev.Data, []byte(`"viewer":"admin"`)) && bytes.Contains(ev.Data, []byte(`"via":"webrtc"`)) {
				return true
			}
		}
		return false
	})

	// The event log, searched as an official would: the box, the type.
	b.run(t, "search the event log",
		chromedp.Navigate(b.base+"/events"),
		chromedp.WaitVisible(chromedp.CSS(`#ev-form`)),
		chromedp.SetValue(chromedp.CSS(`#ev-box`), box),
		chromedp.SetValue(chromedp.CSS(`#ev-type`), protocol.EventCameraViewed),
		chromedp.Click(chromedp.CSS(`#ev-submit`)),
		// The unfiltered log was on screen already: wait for the search's page.
		chromedp.WaitReady(chromedp.CSS(`#ev-type option[value="camera.viewed"][selected]`)),
		chromedp.WaitVisible(chromedp.CSS(`#ev-rows`)),
	)
	rows := eval[[]string](t, b, `Array.from(document.querySelectorAll('#ev-rows tbody tr')).map(function (tr) {
		return tr.dataset.box + ' ' + tr.dataset.type + ' ' + tr.querySelector('.ev-detail').textContent.trim();
	})`)
	if len(rows) != 1 || !strings.HasPrefix(rows[0], box+" camera.viewed ") || !strings.Contains(rows[0], `"camera":"gate"`) || !strings.Contains(rows[0], `"viewer":"admin"`) {
		t.Errorf("the log shows %q; want the one viewing of gate by admin", rows)
	}
	if u := eval[string](t, b, `location.search`); !strings.Contains(u, "box="+box) {
		t.Errorf("the box is not in the search: %q", u)
	}
	b.screenshot(t, "events")
}
