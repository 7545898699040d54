package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dalaba/dalaba/devices/camera/sim"
	"github.com/dalaba/dalaba/devices/speaker/speakersim"
)

// applied waits until the box has applied the desired state the
// township last signed for it.
func applied(t *testing.T, c *cloud, box string) {
	t.Helper()
	eventually(t, 20*time.Second, "the box applies its desired state", func() bool {
		b := c.box(t, box)
		return b.Online && b.AppliedRev == b.DesiredRev
	})
}

// TestConsoleVillageSetup sets a village up from nothing in headless
// Chromium at a phone's width, against the real service and a real box
// process: an admin registers the village and takes its config from the
// page (shown once); the box runs with it; an operator adds the village's
// horn (a simulated RTP speaker) and plays a test tone the horn hears,
// adds a zone, tries a camera (a simulated RTSP camera) from the box
// before saving it, saves it and watches its preview; a viewer sees the
// same page with no control that changes anything, and the API refuses
// what the viewer tries directly. The village page is kept as the
// README's picture.
func TestConsoleVillageSetup(t *testing.T) {
	dataDir := t.TempDir()
	addBroadcastUsers(t, dataDir)
	// The simulated camera is on this machine: the township must allow it.
	c := startCloud(t, cloudOpts{dataDir: dataDir, config: "cameras:\n  allow_local_targets: true\n"})
	horn := startSpeakerSim(t)
	cam := runSim(t, sim.Config{Clip: highClip(t), Username: "admin", Password: "cam-pass"})

	b := newChrome(t, c, 390, 844, 3*time.Minute)
	box := uniqueID("shan")

	// The admin registers the village; its config is on the page once.
	b.signIn(t, "admin", adminPassword)
	b.run(t, "register the village",
		chromedp.Click(chromedp.CSS(`#nav-villages`)),
		chromedp.WaitVisible(chromedp.CSS(`#vl-form`)),
		chromedp.SendKeys(chromedp.CSS(`#vl-id`), box),
		chromedp.SendKeys(chromedp.CSS(`#vl-name`), "青山村"),
		chromedp.SendKeys(chromedp.CSS(`#vl-place`), "东山片区"),
		chromedp.Click(chromedp.CSS(`#vl-register`)),
		chromedp.WaitVisible(chromedp.CSS(`#vl-config`)),
		chromedp.WaitVisible(chromedp.CSS(`#vl-list tr[data-box="`+box+`"]`)),
	)
	config := eval[string](t, b, `document.getElementById('vl-config-text').textContent`)
	if !strings.Contains(config, "box_id: "+box) || !strings.Contains(config, "password: ") {
		t.Fatalf("the page's config:\n%s", config)
	}
	if href, name := eval[string](t, b, `document.getElementById('vl-download').href`), eval[string](t, b, `document.getElementById('vl-download').download`); !strings.HasPrefix(href, "blob:") || name != box+".yaml" {
		t.Errorf("the download is %q named %q; want the answer itself as %s.yaml", href, name, box)
	}
	b.run(t, "close the config", chromedp.Click(chromedp.CSS(`#vl-config-close`)))
	if s := eval[string](t, b, `document.getElementById('vl-config-text').textContent`); s != "" {
		t.Error("the config stays on the page after it was closed")
	}
	startEdge(t, writeEdgeConfig(t, config), t.TempDir())
	applied(t, c, box)
	b.run(t, "sign out", chromedp.Click(chromedp.CSS(`#logout`)), chromedp.WaitVisible(chromedp.CSS(`#login-form`)))

	// The operator sets the village up from its page.
	b.signIn(t, bcOperator, bcPassword)
	page := b.base + "/villages/" + box
	b.run(t, "open the village from the dashboard",
		chromedp.Click(chromedp.CSS(`#boxes tr[data-box="`+box+`"] a[data-k=name]`)),
		chromedp.WaitVisible(chromedp.CSS(`#vg-horn-form`)),
	)
	if u := eval[string](t, b, `location.pathname`); u != "/villages/"+box {
		t.Fatalf("the dashboard's link went to %s", u)
	}
	b.run(t, "add the horn",
		chromedp.SendKeys(chromedp.CSS(`#vg-horn-id`), "horn-1"),
		chromedp.SendKeys(chromedp.CSS(`#vg-horn-name`), "村口喇叭"),
		chromedp.SendKeys(chromedp.CSS(`#vg-horn-addr`), horn.Addr().String()),
		chromedp.Click(chromedp.CSS(`#vg-horn-save`)),
		chromedp.WaitVisible(chromedp.CSS(`#vg-horns li[data-speaker="horn-1"] .act-test`)),
	)
	applied(t, c, box)
	b.run(t, "play the test tone", chromedp.Click(chromedp.CSS(`#vg-horns li[data-speaker="horn-1"] .act-test`)))
	b.poll(t, 30*time.Second, "the page says the horn played", `document.querySelector('#vg-horns li[data-speaker="horn-1"]').dataset.tone === 'played'`)
	wctx, wcancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer wcancel()
	if err := horn.Wait(wctx, func(st speakersim.Stats, _ int) bool { return st.Ended >= 1 }); err != nil {
		t.Fatalf("the horn heard no test tone: %v (%+v)", err, horn.Stats())
	}
	if got := eval[string](t, b, `document.querySelector('#vg-horns li[data-speaker="horn-1"] .status').textContent`); !strings.Contains(got, "喇叭已响") {
		t.Errorf("the test tone's result reads %q", got)
	}

	b.run(t, "add a zone",
		chromedp.SendKeys(chromedp.CSS(`#vg-zone-id`), "square"),
		chromedp.SendKeys(chromedp.CSS(`#vg-zone-name`), "广场"),
		chromedp.Click(chromedp.CSS(`#vg-zone-horns input[value="horn-1"]`)),
		chromedp.Click(chromedp.CSS(`#vg-zone-save`)),
		chromedp.WaitVisible(chromedp.CSS(`#vg-zones li[data-zone="square"]`)),
	)
	if s := eval[string](t, b, `document.querySelector('#vg-zones li[data-zone="square"]').textContent`); !strings.Contains(s, "村口喇叭") {
		t.Errorf("the zone reads %q; want its horn", s)
	}

	// The camera, tried by the box before it is saved: first with a wrong
	// password, then the right one.
	b.run(t, "fill in the camera with a wrong password",
		chromedp.SendKeys(chromedp.CSS(`#vg-cam-id`), "gate"),
		chromedp.SendKeys(chromedp.CSS(`#vg-cam-name`), "村口"),
		chromedp.SendKeys(chromedp.CSS(`#vg-cam-url`), cam.URL()),
		chromedp.SendKeys(chromedp.CSS(`#vg-cam-user`), "admin"),
		chromedp.SendKeys(chromedp.CSS(`#vg-cam-pass`), "wrong"),
		chromedp.Click(chromedp.CSS(`#vg-cam-probe`)),
	)
	b.poll(t, 20*time.Second, "the probe fails", `document.getElementById('vg-cam-status').dataset.probe === 'failed'`)
	if s, code := eval[string](t, b, `document.getElementById('vg-cam-status').textContent`), eval[string](t, b, `document.getElementById('vg-cam-status').dataset.code`); code != "camera.unauthorized" || !strings.Contains(s, "用户名或密码") {
		t.Errorf("a wrong password reads %q (%s)", s, code)
	}
	b.run(t, "the right password",
		chromedp.SetValue(chromedp.CSS(`#vg-cam-pass`), "cam-pass"),
		chromedp.Click(chromedp.CSS(`#vg-cam-probe`)),
	)
	b.poll(t, 20*time.Second, "the probe opens the camera", `document.getElementById('vg-cam-status').dataset.probe === 'opened'`)
	if s := eval[string](t, b, `document.getElementById('vg-cam-status').textContent`); !strings.Contains(s, "H264") {
		t.Errorf("the probe reads %q; want the camera's H264", s)
	}
	b.run(t, "save the camera",
		chromedp.Click(chromedp.CSS(`#vg-cam-save`)),
		chromedp.WaitVisible(chromedp.CSS(`#vg-cameras li[data-camera="gate"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.cam-tile[data-camera="gate"] .cam-watch`)),
	)
	applied(t, c, box)
	video := `document.querySelector('.cam-tile[data-camera="gate"] video')`
	b.run(t, "preview the camera", chromedp.Click(chromedp.CSS(`.cam-tile[data-camera="gate"] .cam-watch`)))
	b.poll(t, 30*time.Second, "the preview decodes", video+`.videoWidth > 0`)
	if w := eval[int](t, b, video+`.videoWidth`); w != 1280 {
		t.Errorf("the preview is %d wide, want the camera's 1280", w)
	}
	b.screenshot(t, "village")
	b.run(t, "stop the preview", chromedp.Click(chromedp.CSS(`.cam-tile[data-camera="gate"] .cam-watch`)))
	b.run(t, "sign out", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`#logout`)),
		chromedp.Click(chromedp.CSS(`#logout`)), chromedp.WaitVisible(chromedp.CSS(`#login-form`)))

	// The viewer sees the village with nothing to change, and the API
	// refuses what the viewer tries anyway.
	b.signIn(t, bcViewer, bcPassword)
	b.run(t, "open the village", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`#vg-read-only`)),
		chromedp.WaitVisible(chromedp.CSS(`#vg-horns li[data-speaker="horn-1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#vg-cameras li[data-camera="gate"]`)))
	controls := eval[int](t, b, `document.querySelectorAll('#village form:not(.vg-export), .act-test, .act-edit, .act-remove, .act-probe').length`)
	if controls != 0 {
		t.Errorf("the viewer's village page has %d controls that change something", controls)
	}
	codes, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]int](`Promise.all([
		['PUT', 'speakers/horn-2', {driver: 'rtp', addr: '127.0.0.1:5004'}],
		['POST', 'speakers/horn-1/test'],
		['POST', 'cameras/gate/probe'],
		['DELETE', 'zones/square'],
	].map(function (c) {
		return fetch('/ui/api/boxes/`+box+`/' + c[1], {method: c[0], headers: {'Content-Type': 'application/json',
			'X-CSRF-Token': document.querySelector('meta[name="csrf-token"]').content}, body: c[2] ? JSON.stringify(c[2]) : undefined})
			.then(function (r) { return r.status; });
	}))`, chromedp.EvalAwaitPromise))
	if err != nil || len(codes) != 4 {
		t.Fatalf("the viewer's attempts answered %v (%v)", codes, err)
	}
	for i, code := range codes {
		if code != http.StatusForbidden {
			t.Errorf("the viewer's attempt %d answered %d, want 403", i, code)
		}
	}
	if n := horn.Stats().Spurts; n != 1 {
		t.Errorf("the horn heard %d spurts; want the operator's one test tone", n)
	}
}
