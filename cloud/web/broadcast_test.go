package web

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/protocol"
)

// testMaxBytes is the clip limit of the test server.
const testMaxBytes = 1 << 20

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func wavBytes(t *testing.T, seconds int) []byte {
	t.Helper()
	p := audio.PCM{Rate: 8000, Channels: 1, Samples: make([]int16, 8000*seconds)}
	for i := range p.Samples {
		p.Samples[i] = int16(5000 * ((i / 7) % 2))
	}
	var b bytes.Buffer
	if err := audio.EncodeWAV(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// raw makes a request with any body and content type and returns the
// status, body and headers.
func (e *env) raw(t *testing.T, token, method, path, ctype string, body []byte, hdr map[string]string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		checkProblem(t, method+" "+path, resp.StatusCode, b)
	}
	checkHeaders(t, method+" "+path, resp.Header)
	return resp.StatusCode, b, resp.Header
}

// upload posts a clip as the raw body and returns its record.
func (e *env) upload(t *testing.T, name string, data []byte) mediaJSON {
	t.Helper()
	code, b, _ := e.raw(t, e.tokens[store.RoleOperator], "POST", "/api/v1/media?name="+name, "audio/wav", data, nil)
	var m mediaJSON
	if code != 201 || json.Unmarshal(b, &m) != nil {
		t.Fatalf("upload %s: %d %s", name, code, b)
	}
	return m
}

// addBox registers village-1 through the API and returns its MQTT secret.
func (e *env) addBox(t *testing.T) string {
	t.Helper()
	var out struct {
		EdgeConfig string `json:"edge_config"`
	}
	if code := e.call(t, e.tokens[store.RoleAdmin], "POST", "/api/v1/boxes", `{"id":"village-1","name":"一村"}`, &out); code != 201 {
		t.Fatalf("add box: %d", code)
	}
	var ec struct {
		Broker struct {
			Password string `yaml:"password"`
		} `yaml:"broker"`
	}
	if err := yaml.Unmarshal([]byte(out.EdgeConfig), &ec); err != nil {
		t.Fatal(err)
	}
	return ec.Broker.Password
}

// desired opens the box's stored desired state as the box would.
func (e *env) desired(t *testing.T) (protocol.Desired, protocol.Spec) {
	t.Helper()
	sd, err := e.st.GetDesired(t.Context(), "village-1")
	if err != nil {
		t.Fatal(err)
	}
	d, err := protocol.OpenDesired(e.key.Public().(ed25519.PublicKey), "village-1", sd.Payload, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s, err := protocol.DecodeSpec(d.Spec)
	if err != nil {
		t.Fatal(err)
	}
	return d, s
}

func TestBroadcastRoundTrip(t *testing.T) {
	e := newEnv(t)
	e.addBox(t)
	op := e.tokens[store.RoleOperator]
	clip := e.upload(t, "早间新闻.wav", wavBytes(t, 2))
	if clip.Format != "wav" || clip.DurationMS != 2000 || clip.UploadedBy != "operator" {
		t.Fatalf("upload: %+v", clip)
	}

	steps := []struct{ path, body string }{
		{"/api/v1/boxes/village-1/speakers/east", `{"name":"东头喇叭","driver":"rtp","addr":"192.168.1.20:5004"}`},
		{"/api/v1/boxes/village-1/speakers/line", `{"id":"line","driver":"soundcard"}`},
		{"/api/v1/boxes/village-1/zones/square", `{"name":"广场","speakers":["east","line"]}`},
		{"/api/v1/boxes/village-1/schedules/morning", fmt.Sprintf(`{"name":"早间新闻","media":[%q],"zones":["square"],"rule":{"at":["07:30"]}}`, clip.SHA256)},
	}
	var last planJSON
	for i, s := range steps {
		if code := e.call(t, op, "PUT", s.path, s.body, &last); code != 200 {
			t.Fatalf("step %d %s: %d", i, s.path, code)
		}
		if last.DesiredRev != uint64(i+2) { // rev 1 came with the box
			t.Fatalf("step %d: desired rev %d, want %d", i, last.DesiredRev, i+2)
		}
	}
	if last.UpdatedBy != "operator" || len(last.Broadcast.Media) != 0 {
		t.Fatalf("plan: %+v", last)
	}

	d, spec := e.desired(t)
	b := spec.Broadcast
	if d.Rev != 5 || b == nil || len(b.Speakers) != 2 || b.Speakers[0].Name != "东头喇叭" || len(b.Zones) != 1 || len(b.Schedules) != 1 {
		t.Fatalf("desired rev %d: %+v", d.Rev, b)
	}
	want := protocol.Media{SHA256: clip.SHA256, Name: "早间新闻.wav", Size: clip.Size, DurationMS: 2000}
	if len(b.Media) != 1 || b.Media[0] != want {
		t.Fatalf("desired media %+v, want %+v", b.Media, want)
	}

	// The viewer reads what the operator wrote.
	var got planJSON
	if code := e.call(t, e.tokens[store.RoleViewer], "GET", "/api/v1/boxes/village-1/broadcast", "", &got); code != 200 ||
		len(got.Broadcast.Schedules) != 1 || got.Broadcast.Schedules[0].Rule.At[0] != "07:30" {
		t.Fatalf("GET plan: %+v", got)
	}

	// Replacing the whole plan.
	whole := fmt.Sprintf(`{"tz":"Asia/Shanghai","quiet":[{"from":"22:00","to":"06:00"}],"chime":"off",
		"speakers":[{"id":"line","driver":"soundcard"}],"zones":[{"id":"all","speakers":["line"]}],
		"schedules":[{"id":"noon","media":[%q],"rule":{"at":["12:00"]}}]}`, clip.SHA256)
	if code := e.call(t, op, "PUT", "/api/v1/boxes/village-1/broadcast", whole, &got); code != 200 || got.DesiredRev != 6 {
		t.Fatalf("PUT broadcast: %d %+v", code, got)
	}
	if _, spec := e.desired(t); len(spec.Broadcast.Schedules) != 1 || spec.Broadcast.Schedules[0].ID != "noon" || spec.Broadcast.Chime != "off" {
		t.Fatalf("desired after replace: %+v", spec.Broadcast)
	}
}

func TestBroadcastRefusals(t *testing.T) {
	e := newEnv(t)
	e.addBox(t)
	op, viewer, reviewer := e.tokens[store.RoleOperator], e.tokens[store.RoleViewer], e.tokens[store.RoleReviewer]
	clip := e.upload(t, "clip.wav", wavBytes(t, 1))
	for _, s := range []struct{ path, body string }{
		{"/api/v1/boxes/village-1/speakers/s1", `{"driver":"soundcard"}`},
		{"/api/v1/boxes/village-1/zones/all", `{"speakers":["s1"]}`},
		{"/api/v1/boxes/village-1/schedules/morning", fmt.Sprintf(`{"media":[%q],"zones":["all"],"rule":{"at":["07:30"]}}`, clip.SHA256)},
	} {
		if code := e.call(t, op, "PUT", s.path, s.body, nil); code != 200 {
			t.Fatalf("%s: %d", s.path, code)
		}
	}
	before, _ := e.st.GetPlan(t.Context(), "village-1")
	beforeRev, _ := e.desired(t)

	sched := func(rule string) string {
		return fmt.Sprintf(`{"media":[%q],"rule":%s}`, clip.SHA256, rule)
	}
	cases := []struct {
		name, token, method, path, body string
		want                            int
		msg                             string
		code                            Code
	}{
		{"invalid rule", op, "PUT", "/api/v1/boxes/village-1/schedules/evening", sched(`{"at":["25:00"]}`), 400, "rule", CodePlanInvalid},
		{"once with at", op, "PUT", "/api/v1/boxes/village-1/schedules/evening", sched(`{"at":["07:00"],"once":"2026-11-02T08:00:00+08:00"}`), 400, "rule", CodePlanInvalid},
		{"clip never uploaded", op, "PUT", "/api/v1/boxes/village-1/schedules/evening", fmt.Sprintf(`{"media":[%q],"rule":{"at":["07:00"]}}`, strings.Repeat("c", 64)), 400, "never uploaded", CodePlanInvalid},
		{"unknown zone", op, "PUT", "/api/v1/boxes/village-1/schedules/evening", fmt.Sprintf(`{"media":[%q],"zones":["x"],"rule":{"at":["07:00"]}}`, clip.SHA256), 400, "unknown zone", CodePlanInvalid},
		{"unknown field", op, "PUT", "/api/v1/boxes/village-1/speakers/s2", `{"driver":"soundcard","colour":"red"}`, 400, "colour", CodeBadJSON},
		{"media in a whole plan", op, "PUT", "/api/v1/boxes/village-1/broadcast", `{"media":[]}`, 400, "media", CodeBadJSON},
		{"bad JSON", op, "PUT", "/api/v1/boxes/village-1/zones/all", `{"speakers":`, 400, "JSON", CodeBadJSON},
		{"overlong name", op, "PUT", "/api/v1/boxes/village-1/speakers/s1", `{"driver":"soundcard","name":"` + strings.Repeat("喇", 70) + `"}`, 400, "name", CodePlanInvalid},
		{"bad driver", op, "PUT", "/api/v1/boxes/village-1/speakers/s1", `{"driver":"bluetooth"}`, 400, "driver", CodePlanInvalid},
		{"id in body differs", op, "PUT", "/api/v1/boxes/village-1/speakers/s1", `{"id":"s9","driver":"soundcard"}`, 400, "s9", CodeBadRequest},
		{"bad id in path", op, "PUT", "/api/v1/boxes/village-1/speakers/S%201", `{"driver":"soundcard"}`, 400, "id", CodeBadRequest},
		{"zone with an unknown speaker", op, "PUT", "/api/v1/boxes/village-1/zones/all", `{"speakers":["s1","ghost"]}`, 400, "ghost", CodePlanInvalid},
		{"speaker still in a zone", op, "DELETE", "/api/v1/boxes/village-1/speakers/s1", "", 409, "zone(s) all", CodePlanInUse},
		{"zone still used", op, "DELETE", "/api/v1/boxes/village-1/zones/all", "", 409, "morning", CodePlanInUse},
		{"delete unknown speaker", op, "DELETE", "/api/v1/boxes/village-1/speakers/nobody", "", 404, "", CodeNotFound},
		{"unknown box", op, "PUT", "/api/v1/boxes/nobox/speakers/s1", `{"driver":"soundcard"}`, 404, "", CodeNotFound},
		{"unknown box plan", viewer, "GET", "/api/v1/boxes/nobox/broadcast", "", 404, "", CodeNotFound},
		{"viewer may not edit", viewer, "PUT", "/api/v1/boxes/village-1/speakers/s2", `{"driver":"soundcard"}`, 403, "", CodeForbidden},
		{"reviewer may not edit", reviewer, "PUT", "/api/v1/boxes/village-1/broadcast", `{}`, 403, "", CodeForbidden},
		{"viewer may not delete", viewer, "DELETE", "/api/v1/boxes/village-1/schedules/morning", "", 403, "", CodeForbidden},
		{"viewer may not upload", viewer, "POST", "/api/v1/media?name=x.wav", "RIFF", 403, "", CodeForbidden},
		{"no token", "", "GET", "/api/v1/boxes/village-1/broadcast", "", 401, "", CodeNoToken},
		{"days out of range", viewer, "GET", "/api/v1/boxes/village-1/upcoming?days=32", "", 400, "days", CodeBadRequest},
		{"method not allowed", op, "POST", "/api/v1/boxes/village-1/speakers/s1", "", 405, "", CodeMethodNotAllowed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, b, _ := e.raw(t, c.token, c.method, c.path, "application/json", []byte(c.body), nil)
			var er Problem
			if code != c.want || json.Unmarshal(b, &er) != nil || er.Error == "" || !strings.Contains(er.Error, c.msg) || er.Code != c.code {
				t.Fatalf("%d %s; want %d %s saying %q", code, b, c.want, c.code, c.msg)
			}
		})
	}
	after, _ := e.st.GetPlan(t.Context(), "village-1")
	afterRev, _ := e.desired(t)
	if !after.UpdatedAt.Equal(before.UpdatedAt) || len(after.Broadcast.Speakers) != 1 || len(after.Broadcast.Schedules) != 1 || afterRev.Rev != beforeRev.Rev {
		t.Fatalf("refused requests changed the plan or desired state: rev %d → %d, %+v", beforeRev.Rev, afterRev.Rev, after)
	}

	// In the right order the parts go.
	for _, p := range []string{"schedules/morning", "zones/all", "speakers/s1"} {
		if code := e.call(t, op, "DELETE", "/api/v1/boxes/village-1/"+p, "", nil); code != 200 {
			t.Fatalf("DELETE %s: %d", p, code)
		}
	}
	if _, spec := e.desired(t); spec.Broadcast == nil || len(spec.Broadcast.Speakers)+len(spec.Broadcast.Zones)+len(spec.Broadcast.Schedules)+len(spec.Broadcast.Media) != 0 {
		t.Fatalf("desired after deleting everything: %+v", spec.Broadcast)
	}
}

func TestUpcoming(t *testing.T) {
	e := newEnv(t)
	e.addBox(t)
	op := e.tokens[store.RoleOperator]
	clip := e.upload(t, "clip.wav", wavBytes(t, 1))
	plan := fmt.Sprintf(`{"quiet":[{"from":"22:00","to":"06:00"}],"speakers":[{"id":"s1","driver":"soundcard"}],"zones":[{"id":"all","speakers":["s1"]}],
		"schedules":[{"id":"morning","media":[%[1]q],"rule":{"at":["07:30"]}},{"id":"late","media":[%[1]q],"rule":{"at":["23:00"],"weekdays":[2]}}]}`, clip.SHA256)
	if code := e.call(t, op, "PUT", "/api/v1/boxes/village-1/broadcast", plan, nil); code != 200 {
		t.Fatalf("PUT broadcast: %d", code)
	}
	sh, _ := time.LoadLocation("Asia/Shanghai")
	e.clk.Set(time.Date(2026, 11, 2, 8, 0, 0, 0, sh)) // Monday, after the morning slot
	var out struct {
		Items []struct {
			At         time.Time `json:"at"`
			ScheduleID string    `json:"schedule_id"`
			Quiet      bool      `json:"quiet"`
		} `json:"items"`
		Truncated bool `json:"truncated"`
	}
	if code := e.call(t, e.tokens[store.RoleViewer], "GET", "/api/v1/boxes/village-1/upcoming?days=3", "", &out); code != 200 {
		t.Fatalf("upcoming: %d", code)
	}
	want := []string{
		"2026-11-03T07:30:00+08:00 morning false",
		"2026-11-03T23:00:00+08:00 late true",
		"2026-11-04T07:30:00+08:00 morning false",
		"2026-11-05T07:30:00+08:00 morning false",
	}
	var got []string
	for _, it := range out.Items {
		got = append(got, fmt.Sprintf("%s %s %v", it.At.Format(time.RFC3339), it.ScheduleID, it.Quiet))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || out.Truncated {
		t.Fatalf("upcoming:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Default is a week: seven mornings and one late Tuesday.
	if code := e.call(t, e.tokens[store.RoleViewer], "GET", "/api/v1/boxes/village-1/upcoming", "", &out); code != 200 || len(out.Items) != 8 {
		t.Fatalf("a week: %d, %d items", code, len(out.Items))
	}
	if code := e.call(t, e.tokens[store.RoleViewer], "GET", "/api/v1/boxes/nobox/upcoming", "", nil); code != 404 {
		t.Fatalf("unknown box: %d", code)
	}
}

func TestMediaAPI(t *testing.T) {
	e := newEnv(t)
	secret := e.addBox(t)
	op, viewer := e.tokens[store.RoleOperator], e.tokens[store.RoleViewer]
	data := wavBytes(t, 1)

	// Multipart, named by the file.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("note", "ignored") // writes to a buffer
	fw, _ := mw.CreateFormFile("file", "村务公开.wav")
	_, _ = fw.Write(data) // writes to a buffer
	_ = mw.Close()        // writes to a buffer
	code, b, h := e.raw(t, op, "POST", "/api/v1/media", mw.FormDataContentType(), body.Bytes(), nil)
	var m mediaJSON
	if code != 201 || json.Unmarshal(b, &m) != nil || m.Name != "村务公开.wav" || m.Size != int64(len(data)) || h.Get("Location") != "/api/v1/media/"+m.SHA256 {
		t.Fatalf("multipart upload: %d %s", code, b)
	}

	refusals := []struct {
		name, path, ctype string
		body              []byte
		want              int
		msg               string
	}{
		{"random bytes", "/api/v1/media?name=x.wav", "audio/wav", bytes.Repeat([]byte{0x42}, 2000), 400, "not a WAV or MP3 file"},
		{"truncated", "/api/v1/media?name=x.wav", "audio/wav", data[:len(data)-100], 400, "truncated"},
		{"oversize", "/api/v1/media?name=x.wav", "audio/wav", append(wavBytes(t, 1), make([]byte, testMaxBytes)...), 413, fmt.Sprint(testMaxBytes)},
		{"no name", "/api/v1/media", "audio/wav", data, 400, "name"},
		{"multipart without file", "/api/v1/media", mw.FormDataContentType(), []byte("--" + mw.Boundary() + "--\r\n"), 400, "file"},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			code, b, _ := e.raw(t, op, "POST", c.path, c.ctype, c.body, nil)
			if code != c.want || !strings.Contains(string(b), c.msg) {
				t.Fatalf("%d %s; want %d saying %q", code, b, c.want, c.msg)
			}
		})
	}

	var list []mediaJSON
	if code := e.call(t, viewer, "GET", "/api/v1/media", "", &list); code != 200 || len(list) != 1 || list[0].SHA256 != m.SHA256 {
		t.Fatalf("list: %d %+v", code, list)
	}
	code, b, h = e.raw(t, viewer, "GET", "/api/v1/media/"+m.SHA256, "", nil, map[string]string{"Range": "bytes=44-"})
	if code != 206 || !bytes.Equal(b, data[44:]) || !strings.Contains(h.Get("Content-Disposition"), "attachment") {
		t.Fatalf("console download: %d, %d bytes, %v", code, len(b), h)
	}
	if code, _, _ := e.raw(t, viewer, "GET", "/api/v1/media/"+strings.Repeat("0", 64), "", nil, nil); code != 404 {
		t.Fatalf("unknown clip: %d", code)
	}

	// A box fetches a clip only once a play command granted it.
	boxGet := func(pass string) int {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", e.srv.URL+"/media/"+m.SHA256, nil)
		req.SetBasicAuth("village-1", pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := boxGet(secret); c != 404 {
		t.Fatalf("unreferenced clip: %d, want 404", c)
	}
	if c := boxGet("wrong"); c != 401 {
		t.Fatalf("wrong password: %d, want 401", c)
	}
	if code := e.call(t, op, "POST", "/api/v1/boxes/village-1/play", fmt.Sprintf(`{"media":[%q],"priority":"emergency","repeat":3}`, m.SHA256), nil); code != 200 {
		t.Fatalf("play: %d", code)
	}
	if c := boxGet(secret); c != 200 {
		t.Fatalf("granted clip: %d, want 200", c)
	}
}

func TestPlaybackCommands(t *testing.T) {
	e := newEnv(t)
	e.addBox(t)
	op, viewer := e.tokens[store.RoleOperator], e.tokens[store.RoleViewer]
	clip := e.upload(t, "clip.wav", wavBytes(t, 1))
	cases := []struct {
		name, token, path, body string
		want                    int
		sent                    string // what the downlink got, "" for nothing
	}{
		{"play", op, "/api/v1/boxes/village-1/play", fmt.Sprintf(`{"media":[%q],"zones":["all"]}`, clip.SHA256), 200,
			fmt.Sprintf(`village-1 broadcast.play {"media":[%q],"zones":["all"]} 15s`, clip.SHA256)},
		{"stop", op, "/api/v1/boxes/village-1/stop", `{"zones":["all"]}`, 200, `village-1 broadcast.stop {"zones":["all"]} 15s`},
		{"stop everything", op, "/api/v1/boxes/village-1/stop", `{}`, 200, `village-1 broadcast.stop {} 15s`},
		{"volume", op, "/api/v1/boxes/village-1/volume", `{"zone":"all","volume":40}`, 200, `village-1 broadcast.volume {"zone":"all","volume":40} 15s`},
		{"play nothing", op, "/api/v1/boxes/village-1/play", `{"media":[]}`, 400, ""},
		{"play a clip never uploaded", op, "/api/v1/boxes/village-1/play", fmt.Sprintf(`{"media":[%q]}`, strings.Repeat("d", 64)), 400, ""},
		{"play with a bad priority", op, "/api/v1/boxes/village-1/play", fmt.Sprintf(`{"media":[%q],"priority":"urgent"}`, clip.SHA256), 400, ""},
		{"play with an unknown field", op, "/api/v1/boxes/village-1/play", fmt.Sprintf(`{"media":[%q],"loud":true}`, clip.SHA256), 400, ""},
		{"volume over 100", op, "/api/v1/boxes/village-1/volume", `{"zone":"all","volume":101}`, 400, ""},
		{"stop a bad zone id", op, "/api/v1/boxes/village-1/stop", `{"zones":["A B"]}`, 400, ""},
		{"play on an unknown box", op, "/api/v1/boxes/nobox/play", fmt.Sprintf(`{"media":[%q]}`, clip.SHA256), 404, ""},
		{"viewer may not play", viewer, "/api/v1/boxes/village-1/play", fmt.Sprintf(`{"media":[%q]}`, clip.SHA256), 403, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.dl.mu.Lock()
			e.dl.sent = nil
			e.dl.mu.Unlock()
			if code := e.call(t, c.token, "POST", c.path, c.body, nil); code != c.want {
				t.Fatalf("status %d, want %d", code, c.want)
			}
			e.dl.mu.Lock()
			defer e.dl.mu.Unlock()
			if got := strings.Join(e.dl.sent, "\n"); got != c.sent {
				t.Fatalf("sent %q, want %q", got, c.sent)
			}
		})
	}
}
