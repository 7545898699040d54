package console

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// TestBrowserPlanJob: an operator, on a phone, puts one schedule on every
// village of a township from the 批量修改 page and watches the progress
// bar fill; each of the township's boxes then has the schedule in its
// signed desired state.
func TestBrowserPlanJob(t *testing.T) {
	chromium := testenv.Tool(t, "chromium", "apt-get install chromium")
	e := newAPIEnv(t)
	ctx0 := t.Context()
	var ids []string
	for i := range 40 {
		id := fmt.Sprintf("v%03d", i)
		town := "东山镇"
		if i%4 == 0 {
			town = "西河镇"
		}
		if err := e.st.CreateBox(ctx0, store.Box{ID: id, Name: "村" + id, Place: town, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := e.st.UpdatePlans(ctx0, ids, func(p *store.Plan) error {
		p.Broadcast.Speakers = []protocol.Speaker{{ID: "east", Driver: protocol.DriverRTP, Addr: "192.168.1.20:5004"}}
		p.Broadcast.Zones = []protocol.Zone{{ID: "all", Speakers: []string{"east"}}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	pcm := audio.PCM{Rate: 8000, Channels: 1, Samples: make([]int16, 8000)}
	var wav bytes.Buffer
	if err := audio.EncodeWAV(&wav, pcm); err != nil {
		t.Fatal(err)
	}
	clip, err := e.lib.Put(ctx0, "防汛通知.wav", &wav, "admin")
	if err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // the tests run as root in CI containers
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(390, 844),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx0, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, time.Minute)
	defer cancel()

	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#login-form`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), "operator"),
		chromedp.SendKeys(chromedp.CSS(`#password`), "password-operator"),
		chromedp.Click(chromedp.CSS(`#login-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#nav-jobs`)),
		chromedp.Navigate(e.srv.URL+"/plan-jobs"),
		chromedp.WaitVisible(chromedp.CSS(`#jb-form`)),
		chromedp.WaitReady(chromedp.CSS(`#jb-clip option[value="`+clip.SHA256+`"]`)),
		chromedp.SendKeys(chromedp.CSS(`#jb-place`), "东山镇"),
		chromedp.SendKeys(chromedp.CSS(`#jb-id`), "flood"),
		chromedp.SendKeys(chromedp.CSS(`#jb-name`), "防汛通知"),
		chromedp.Click(chromedp.CSS(`#jb-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#jb-current`)),
	); err != nil {
		t.Fatalf("send the change: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('jb-bar').value === 30 &&
		document.getElementById('jb-bar').max === 30 && document.getElementById('jb-counts').textContent.indexOf('已完成 30') >= 0`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		counts, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('jb-counts').textContent + ' / ' + document.getElementById('jb-status').textContent`))
		t.Fatalf("the progress bar never filled: %v (%s)", err, counts)
	}
	for i, id := range ids {
		d, err := e.st.GetDesired(ctx0, id)
		has := err == nil && strings.Contains(string(d.Payload), "flood")
		if has != (i%4 != 0) {
			t.Errorf("%s: desired state with the schedule %t (%v)", id, has, err)
		}
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	testenv.Screenshot(t, "plan-jobs", png)
}
