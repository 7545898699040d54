package e2e

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
	"github.com/dalaba/dalaba/protocol/schedule"
)

// The broadcast page's people: one who may change and play, one who may
// only look.
const (
	bcOperator = "广播员"
	bcViewer   = "村民"
	bcPassword = "e2e-broadcast-password"
)

// addBroadcastUsers creates the admin, the operator and the viewer with
// the service stopped, as an installer would.
func addBroadcastUsers(t testing.TB, dataDir string) {
	t.Helper()
	for name, role := range map[string]string{"admin": "admin", bcOperator: "operator", bcViewer: "viewer"} {
		pass := bcPassword
		if name == "admin" {
			pass = adminPassword
		}
		cmd := exec.Command(bins.cloud, "user", "add", name, "--role", role, "--data-dir", dataDir)
		cmd.Stdin = strings.NewReader(pass + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("dalaba-cloud user add %s: %v\n%s", name, err, out)
		}
	}
}

// calendarItem is one playback as the page's calendar shows it.
type calendarItem struct {
	Date, Time, Text string
	Quiet            bool
}

// TestConsoleSchedulesAnnouncement plans a village's broadcasts through
// the console in headless Chromium against the real service: the operator
// types a Chinese announcement and previews it (the township's TTS speaks
// it and the page plays it), uploads a WAV file, adds a daily schedule at
// 07:30 on one zone and an evening one inside the quiet hours, and the
// calendar shows seven mornings at 07:30 and seven flagged evenings; a
// one-off at noon tomorrow (village time) shows once and is deleted; a
// refused schedule says in Chinese which field to check; play now and an
// emergency to two villages, whose boxes are offline, report not
// delivered for each.
// A viewer sees the plan and the calendar, as a list on a phone, but no
// form or button that changes anything.
func TestConsoleSchedulesAnnouncement(t *testing.T) {
	testenv.Tool(t, "espeak-ng", "make deps")
	dataDir := t.TempDir()
	addBroadcastUsers(t, dataDir)
	c := startCloud(t, cloudOpts{dataDir: dataDir})
	c.addBox(t, "dongcun")
	c.addBox(t, "xicun")

	// The village's loudspeakers and zones, and quiet nights, as an
	// installer sets them up through the API; no box needs to run to plan.
	c.do(t, "PUT", "/api/v1/boxes/dongcun/broadcast", map[string]any{"quiet": []schedule.Quiet{{From: "22:00", To: "06:00"}}}, nil, http.StatusOK)
	c.do(t, "PUT", "/api/v1/boxes/dongcun/speakers/horn-1", protocol.Speaker{Name: "村口喇叭", Driver: protocol.DriverRTP, Addr: "127.0.0.1:5004"}, nil, http.StatusOK)
	c.do(t, "PUT", "/api/v1/boxes/dongcun/speakers/horn-2", protocol.Speaker{Name: "东头喇叭", Driver: protocol.DriverRTP, Addr: "127.0.0.1:5006"}, nil, http.StatusOK)
	c.do(t, "PUT", "/api/v1/boxes/dongcun/zones/square", protocol.Zone{Name: "广场", Speakers: []string{"horn-1"}}, nil, http.StatusOK)
	c.do(t, "PUT", "/api/v1/boxes/dongcun/zones/east", protocol.Zone{Name: "东头", Speakers: []string{"horn-2"}}, nil, http.StatusOK)

	b := newChrome(t, c, 1100, 900, 90*time.Second)
	b.signIn(t, bcOperator, bcPassword)
	b.run(t, "open the broadcast page and pick the village",
		chromedp.Navigate(b.base+"/broadcast?village=xicun"),
		chromedp.WaitVisible(chromedp.CSS(`#bc-village`)),
		// Choosing a village shows it (SetValue fires the change event).
		chromedp.SetValue(chromedp.CSS(`#bc-village`), "dongcun"),
		chromedp.WaitVisible(chromedp.CSS(`#broadcast[data-box="dongcun"] #bc-text`)),
	)
	b.poll(t, 10*time.Second, "the zones are listed", `document.querySelectorAll('#bc-zone-list li[data-zone]').length === 2`)

	// The announcement, spoken by the township's TTS and played back.
	const text = "各位村民请注意，明天上午九点在村委会召开村民大会。"
	b.run(t, "type and preview the announcement",
		chromedp.SendKeys(chromedp.CSS(`#bc-text`), text),
		chromedp.SendKeys(chromedp.CSS(`#bc-clip-name`), "村民大会通知"),
		chromedp.Click(chromedp.CSS(`#bc-preview`)),
	)
	waitFor(t, b, 30*time.Second, "the preview plays the spoken clip",
		`(function(){const a=document.getElementById('bc-audio'); return a.src.indexOf('/ui/api/media/')>0 && a.duration>0;})()`,
		`JSON.stringify({status: document.getElementById('bc-speak-status').textContent, text: document.getElementById('bc-text').value,
			src: document.getElementById('bc-audio').src, duration: document.getElementById('bc-audio').duration,
			error: document.getElementById('bc-audio').error && document.getElementById('bc-audio').error.message,
			ready: document.getElementById('bc-audio').readyState, net: document.getElementById('bc-audio').networkState, url: location.href})`)
	if n := eval[int](t, b, `document.querySelectorAll('#bc-library li[data-sha]').length`); n != 1 {
		t.Fatalf("the library shows %d clips, want the one spoken", n)
	}
	if d := eval[float64](t, b, `document.getElementById('bc-audio').duration`); d < 1 {
		t.Errorf("the spoken announcement lasts %.2fs", d)
	}
	var clips []struct {
		SHA256     string `json:"sha256"`
		Name       string `json:"name"`
		DurationMS int64  `json:"duration_ms"`
	}
	c.do(t, "GET", "/api/v1/media", nil, &clips, http.StatusOK)
	if len(clips) != 1 || clips[0].Name != "村民大会通知" || clips[0].DurationMS <= 0 {
		t.Fatalf("the library after the preview: %+v", clips)
	}
	sha := clips[0].SHA256
	if src := eval[string](t, b, `document.getElementById('bc-audio').src`); !strings.HasSuffix(src, "/ui/api/media/"+sha) {
		t.Errorf("the preview plays %s, want the clip %s", src, sha)
	}

	// A recorded clip, uploaded as a file, joins the library and plays.
	tone := filepath.Join(t.TempDir(), "上课铃.wav")
	writeTone(t, tone, 1500*time.Millisecond)
	b.run(t, "upload a WAV file",
		chromedp.SetUploadFiles(chromedp.CSS(`#bc-file`), []string{tone}),
		chromedp.Click(chromedp.CSS(`#bc-upload`)),
	)
	waitFor(t, b, 10*time.Second, "the uploaded clip plays",
		`document.querySelectorAll('#bc-library li[data-sha]').length === 2 && Math.abs(document.getElementById('bc-audio').duration - 1.5) < 0.05`,
		`document.getElementById('bc-speak-status').textContent`)
	c.do(t, "GET", "/api/v1/media", nil, &clips, http.StatusOK)
	if len(clips) != 2 || clips[0].Name != "上课铃.wav" || clips[0].DurationMS != 1500 {
		t.Fatalf("the library after the upload: %+v", clips)
	}
	toneSHA := clips[0].SHA256

	// A daily morning schedule on the square, through the form.
	b.run(t, "add a daily schedule",
		chromedp.SendKeys(chromedp.CSS(`#bc-sched-name`), "早间通知"),
		chromedp.SetValue(chromedp.CSS(`#bc-sched-clip`), sha),
		chromedp.Click(chromedp.CSS(`#bc-sched-zones input[value="square"]`)),
		chromedp.SetValue(chromedp.CSS(`#bc-sched-kind`), "daily"),
		chromedp.SetValue(chromedp.CSS(`#bc-sched-time`), "07:30"),
		chromedp.Click(chromedp.CSS(`#bc-sched-add`)),
	)
	b.poll(t, 10*time.Second, "the calendar shows the morning schedule",
		`document.querySelectorAll('#bc-calendar li.bc-item[data-time="07:30"]').length === 7`)

	// One in the quiet hours: the box will skip it, and the calendar says so.
	b.run(t, "add an evening schedule",
		chromedp.SendKeys(chromedp.CSS(`#bc-sched-name`), "晚间通知"),
		chromedp.SetValue(chromedp.CSS(`#bc-sched-time`), "22:30"),
		chromedp.Click(chromedp.CSS(`#bc-sched-add`)),
	)
	b.poll(t, 10*time.Second, "the calendar shows the evening schedule",
		`document.querySelectorAll('#bc-calendar li.bc-item[data-time="22:30"]').length === 7`)

	items := calendar(t, b)
	wantDays := coming(time.Now(), 7, 30, 7)
	var mornings, evenings []string
	for _, it := range items {
		switch it.Time {
		case "07:30":
			mornings = append(mornings, it.Date)
			if !strings.Contains(it.Text, "早间通知") || !strings.Contains(it.Text, "广场") || it.Quiet {
				t.Errorf("morning item %+v: want 早间通知 on 广场, not quiet", it)
			}
		case "22:30":
			evenings = append(evenings, it.Date)
			if !strings.Contains(it.Text, "晚间通知") || !it.Quiet || !strings.Contains(it.Text, "静音时段") {
				t.Errorf("evening item %+v: want 晚间通知 flagged as in quiet hours", it)
			}
		default:
			t.Errorf("unexpected item %+v", it)
		}
	}
	if !slices.Equal(mornings, wantDays) {
		t.Errorf("mornings on %v, want %v", mornings, wantDays)
	}
	if want := coming(time.Now(), 22, 30, 7); !slices.Equal(evenings, want) {
		t.Errorf("evenings on %v, want %v", evenings, want)
	}
	// Each day's column holds its own playbacks.
	if n := eval[int](t, b, `[...document.querySelectorAll('#bc-calendar .bc-day li.bc-item')].filter(li => li.closest('.bc-day').dataset.date !== li.dataset.date).length`); n != 0 {
		t.Errorf("%d items in another day's column", n)
	}

	// A one-off at noon tomorrow, village time (the browser's own zone is
	// not the village's): it appears once, then is deleted again.
	noon := coming(time.Now(), 12, 0, 2)[1]
	b.run(t, "add a one-off schedule",
		chromedp.SendKeys(chromedp.CSS(`#bc-sched-name`), "上课铃"),
		chromedp.SetValue(chromedp.CSS(`#bc-sched-clip`), toneSHA),
		chromedp.SetValue(chromedp.CSS(`#bc-sched-kind`), "once"),
		chromedp.SetValue(chromedp.CSS(`#bc-sched-once`), noon+"T12:00"),
		chromedp.Click(chromedp.CSS(`#bc-sched-add`)),
	)
	b.poll(t, 10*time.Second, "the calendar shows the one-off",
		`(function(){const l=document.querySelectorAll('#bc-calendar li.bc-item[data-time="12:00"]');
			return l.length === 1 && l[0].dataset.date === '`+noon+`' && l[0].textContent.indexOf('上课铃') >= 0;})()`)
	var plan struct {
		Broadcast protocol.Broadcast `json:"broadcast"`
	}
	c.do(t, "GET", "/api/v1/boxes/dongcun/broadcast", nil, &plan, http.StatusOK)
	if n := len(plan.Broadcast.Schedules); n != 3 || plan.Broadcast.Schedules[2].Rule.Once != noon+"T12:00:00+08:00" {
		t.Fatalf("the one-off as saved: %+v", plan.Broadcast.Schedules)
	}
	once := plan.Broadcast.Schedules[2].ID
	b.run(t, "delete the one-off",
		chromedp.Click(chromedp.CSS(`#bc-schedules li[data-schedule="`+once+`"] .bc-delete`)), // arms
		chromedp.Click(chromedp.CSS(`#bc-schedules li[data-schedule="`+once+`"] .bc-delete`)), // deletes
	)
	b.poll(t, 10*time.Second, "the one-off is gone",
		`!document.querySelector('#bc-schedules li[data-schedule="`+once+`"]') && !document.querySelector('#bc-calendar li.bc-item[data-time="12:00"]')`)

	// The schedules as saved: what the form said, in the box's plan.
	c.do(t, "GET", "/api/v1/boxes/dongcun/broadcast", nil, &plan, http.StatusOK)
	if len(plan.Broadcast.Schedules) != 2 {
		t.Fatalf("schedules saved: %+v", plan.Broadcast.Schedules)
	}
	s := plan.Broadcast.Schedules[0]
	if s.Name != "早间通知" || !slices.Equal(s.Media, []string{sha}) || !slices.Equal(s.Zones, []string{"square"}) ||
		!slices.Equal(s.Rule.At, []string{"07:30"}) || s.Priority != protocol.PlayScheduled || protocol.ValidateID(s.ID) != nil {
		t.Errorf("the morning schedule as saved: %+v", s)
	}
	if n := eval[int](t, b, `document.querySelectorAll('#bc-schedules li[data-schedule]').length`); n != 2 {
		t.Errorf("the schedule list shows %d, want 2", n)
	}
	if got := eval[string](t, b, `document.querySelector('#bc-schedules li[data-schedule="`+s.ID+`"] .rule').textContent`); got != "每天 07:30" {
		t.Errorf("the morning schedule reads %q, want 每天 07:30", got)
	}

	// The page as the README shows it: the library, the plan and the week.
	b.screenshot(t, "broadcast")

	// A name the API refuses (over 200 bytes; a script could type it past
	// the field's limit): the page says, in Chinese, what to check, keeps
	// the API's English for the tooltip, and saves nothing.
	b.run(t, "add a schedule the API refuses",
		chromedp.SetValue(chromedp.CSS(`#bc-sched-name`), strings.Repeat("长", 80)),
		chromedp.Click(chromedp.CSS(`#bc-sched-add`)),
	)
	b.poll(t, 10*time.Second, "the refusal is shown",
		`document.getElementById('bc-sched-status').classList.contains('error') && document.getElementById('bc-sched-status').dataset.code === 'plan.invalid'`)
	if got := eval[string](t, b, `document.getElementById('bc-sched-status').textContent`); got != "未保存：有填写不符合要求的地方。 请检查：名称。" {
		t.Errorf("the refusal reads %q", got)
	}
	if got := eval[string](t, b, `document.getElementById('bc-sched-status').title`); !strings.Contains(got, "longer than 200 bytes") {
		t.Errorf("the refusal's title %q, want the API's reason", got)
	}
	c.do(t, "GET", "/api/v1/boxes/dongcun/broadcast", nil, &plan, http.StatusOK)
	if len(plan.Broadcast.Schedules) != 2 {
		t.Errorf("a refused schedule was saved: %+v", plan.Broadcast.Schedules)
	}

	// An emergency to both villages; their boxes are offline, so each
	// answer waits out the command timeout.
	b.run(t, "send an emergency broadcast to two villages",
		chromedp.Click(chromedp.CSS(`#bc-em-villages input[value="dongcun"]`)),
		chromedp.Click(chromedp.CSS(`#bc-em-villages input[value="xicun"]`)),
		chromedp.SetValue(chromedp.CSS(`#bc-em-clip`), sha),
		chromedp.Click(chromedp.CSS(`#bc-em-send`)), // arms
		chromedp.Click(chromedp.CSS(`#bc-em-send`)), // confirms
	)
	b.poll(t, 5*time.Second, "the emergency is on its way", `document.querySelectorAll('#bc-em-results li[data-box]').length === 2`)
	b.run(t, "play the announcement now on the square",
		chromedp.SetValue(chromedp.CSS(`#bc-play-clip`), sha),
		chromedp.Click(chromedp.CSS(`#bc-play-zones input[value="square"]`)),
		chromedp.Click(chromedp.CSS(`#bc-play`)),
	)

	// Offline boxes never answer: each village is reported not delivered.
	b.poll(t, 25*time.Second, "each village's emergency result",
		`[...document.querySelectorAll('#bc-em-results li')].every(li => li.dataset.result)`)
	for _, box := range []string{"dongcun", "xicun"} {
		if r := eval[string](t, b, `document.querySelector('#bc-em-results li[data-box="`+box+`"]').dataset.result`); r != "not-delivered" {
			t.Errorf("emergency to %s: %s, want not-delivered", box, r)
		}
	}
	b.poll(t, 5*time.Second, "the play now result",
		`document.getElementById('bc-play-status').classList.contains('error') && document.getElementById('bc-play-status').textContent.indexOf('未送达') === 0`)

	// A viewer sees the plan and the calendar, and nothing to press.
	b.run(t, "sign out", chromedp.Click(chromedp.CSS(`#logout`)), chromedp.WaitVisible(chromedp.CSS(`#login-form`)))
	b.signIn(t, bcViewer, bcPassword)
	b.run(t, "open the broadcast page as a viewer",
		chromedp.Navigate(b.base+"/broadcast?village=dongcun"),
		chromedp.WaitVisible(chromedp.CSS(`#bc-calendar`)),
	)
	b.poll(t, 10*time.Second, "the viewer's calendar", `document.querySelectorAll('#bc-calendar li.bc-item').length === 14`)
	if n := eval[int](t, b, `document.querySelectorAll('#bc-schedules li[data-schedule]').length`); n != 2 {
		t.Errorf("the viewer's schedule list shows %d, want 2", n)
	}
	controls := `#bc-speak-form, #bc-preview, #bc-upload-form, #bc-sched-form, #bc-play-form, #bc-play, #bc-stop, #bc-em-form, #bc-em-send, .bc-delete`
	if n := eval[int](t, b, `document.querySelectorAll('`+controls+`').length`); n != 0 {
		t.Errorf("the viewer sees %d forms or buttons that change things", n)
	}
	if !eval[bool](t, b, `!!document.getElementById('bc-read-only')`) {
		t.Error("the viewer is not told the page is read-only")
	}

	// On a phone the week is a list of the days that have playbacks.
	b.run(t, "a phone's width", chromedp.EmulateViewport(390, 844))
	days := len(slices.Compact(slices.Sorted(slices.Values(append(mornings, evenings...)))))
	b.poll(t, 5*time.Second, "the calendar as a list",
		`(function(){const d=[...document.querySelectorAll('#bc-calendar .bc-day')].filter(x => x.offsetParent);
			return d.length === `+strconv.Itoa(days)+` && d.every(x => x.offsetLeft === d[0].offsetLeft && x.offsetWidth === d[0].offsetWidth)
				&& d.every((x, i) => i === 0 || x.offsetTop > d[i-1].offsetTop);})()`)
	if w := eval[int](t, b, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("the page is %dpx wide on a 390px phone", w)
	}
}

// waitFor waits until the JS expression is true; on a timeout it reports
// what the expression state (a string) reads of the page.
func waitFor(t *testing.T, b *chrome, within time.Duration, what, expr, state string) {
	t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(within))); err != nil {
		t.Fatalf("%s: %v; the page: %s", what, err, eval[string](t, b, state))
	}
}

// writeTone writes d of a 440 Hz tone as a 16 kHz mono WAV file.
func writeTone(t *testing.T, path string, d time.Duration) {
	t.Helper()
	p := audio.PCM{Rate: 16000, Channels: 1, Samples: make([]int16, int(d.Seconds()*16000))}
	for i := range p.Samples {
		p.Samples[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/16000))
	}
	var b bytes.Buffer
	if err := audio.EncodeWAV(&b, p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// calendar reads the calendar's playbacks from the DOM.
func calendar(t *testing.T, b *chrome) []calendarItem {
	t.Helper()
	raw := eval[string](t, b, `JSON.stringify([...document.querySelectorAll('#bc-calendar li.bc-item')].map(li => ({
		Date: li.dataset.date, Time: li.dataset.time, Text: li.textContent, Quiet: li.classList.contains('quiet')})))`)
	var items []calendarItem
	if err := json.Unmarshal([]byte(raw), &items); err != nil {
		t.Fatal(err)
	}
	return items
}

// coming lists the dates (Asia/Shanghai) of the next n times h:m after now.
func coming(now time.Time, h, m, n int) []string {
	loc, err := time.LoadLocation(schedule.DefaultZone)
	if err != nil {
		panic(err) // schedule imports time/tzdata: the zone is always there
	}
	now = now.In(loc)
	at := time.Date(now.Year(), now.Month(), now.Day(), h, m, 0, 0, loc)
	if !at.After(now) {
		at = at.AddDate(0, 0, 1)
	}
	var out []string
	for range n {
		out = append(out, at.Format(time.DateOnly))
		at = at.AddDate(0, 0, 1)
	}
	return out
}
