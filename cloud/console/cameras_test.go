package console

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/internal/testenv"
)

func TestCamerasPage(t *testing.T) {
	e := newEnv(t, false)
	if err := e.st.CreateBox(t.Context(), store.Box{ID: "village-2", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	c, _ := e.signedIn(t, store.RoleViewer)
	a := e.get(t, c, "/cameras")
	if a.code != http.StatusOK {
		t.Fatalf("%d %s", a.code, a.body)
	}
	for _, want := range []string{
		`<section class="cam-box" data-box="village-1">`, "一村", `class="state ok">在线`,
		// A box without a name shows its id, offline.
		`<section class="cam-box" data-box="village-2">`, `<span class="name">village-2</span>`, `class="state bad">离线`,
		// The limits the script fills in, and what a limit of 0 means.
		"同时观看上限（全盒）", "每路摄像头上限", "上行带宽预算", `data-default-max="32"`, `data-default-per-camera="8"`,
		// The tile the script clones: a muted, inline, autoplaying video and its button.
		`<template id="cam-tile">`, `<video muted playsinline autoplay>`, `class="cam-watch">观看</button>`,
		// Refusals in the reader's words: the box's own, and every code's.
		`data-t-refused="广播盒拒绝了观看：同时观看的人数或上行带宽已达上限`, `<li data-code="box.no_answer">未送达：广播盒没有应答`,
		`src="/static/errors.js"`,
		`href="/static/cameras.css"`, `src="/static/cameras.js"`, `<meta name="csrf-token" content="`,
	} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if csp := a.h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	en := e.get(t, c, "/cameras?lang=en")
	for _, want := range []string{"Viewers at once (box)", `class="cam-watch">Watch</button>`, `<li data-code="box.no_answer">Not delivered: the box did not answer`} {
		if !strings.Contains(en.body, want) {
			t.Errorf("the English page lacks %q", want)
		}
	}
	for _, asset := range []string{"/static/cameras.js", "/static/cameras.css", "/static/errors.js"} {
		if a := e.get(t, c, asset); a.code != http.StatusOK || len(a.body) < 100 {
			t.Errorf("%s: %d, %d bytes", asset, a.code, len(a.body))
		}
	}
	if a := e.get(t, e.client(t), "/cameras"); a.code != http.StatusSeeOther || a.h.Get("Location") != "/login" {
		t.Errorf("without a session: %d %q", a.code, a.h.Get("Location"))
	}
}

var metaCSRF = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// TestCamerasWHEPThroughBridge: what the page's script sends reaches the
// API's WHEP routes with the session as the bearer token, and only with
// the page's CSRF token.
func TestCamerasWHEPThroughBridge(t *testing.T) {
	e := newEnv(t, false)
	e.con.next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s bearer=%t %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"),
			strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "), b)
	})
	c, _ := e.signedIn(t, store.RoleViewer)
	m := metaCSRF.FindStringSubmatch(e.get(t, c, "/cameras").body)
	if m == nil {
		t.Fatal("no CSRF token in the cameras page")
	}
	send := func(method, path, token string) answer {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, strings.NewReader("v=0\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/sdp")
		if token != "" {
			req.Header.Set(csrfHeader, token)
		}
		return do(t, c, req)
	}
	for _, tc := range []struct {
		name, method, path, token string
		code                      int
		want                      string
	}{
		{"an offer", "POST", "/ui/api/boxes/village-1/cameras/gate/whep", m[1], 200,
			"POST /api/v1/boxes/village-1/cameras/gate/whep application/sdp bearer=true v=0\r\n"},
		{"the end of a viewing", "DELETE", "/ui/api/boxes/village-1/cameras/gate/whep/s1", m[1], 200,
			"DELETE /api/v1/boxes/village-1/cameras/gate/whep/s1 application/sdp bearer=true v=0\r\n"},
		{"an offer without the token", "POST", "/ui/api/boxes/village-1/cameras/gate/whep", "", 403, ""},
	} {
		if a := send(tc.method, tc.path, tc.token); a.code != tc.code || (tc.want != "" && a.body != tc.want) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, a.code, a.body, tc.code, tc.want)
		}
	}
}

// stubCameraAPI stands in for the API's camera routes: three cameras of
// village-1 and their limits; each WHEP offer is answered with the status
// and body given for its camera, and recorded.
type stubCameraAPI struct {
	mu     sync.Mutex
	offers map[string]string // camera → the offer's Content-Type and SDP
	answer map[string]struct {
		code int
		body string
	}
}

func (s *stubCameraAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == "GET" && r.URL.Path == "/api/v1/boxes/village-1/cameras":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"cameras":{"cameras":[{"id":"gate","name":"村口","url":"rtsp://10.0.0.2/1"},{"id":"yard","url":"rtsp://10.0.0.3/1"},{"id":"pond","url":"rtsp://10.0.0.4/1"},{"id":"barn","url":"rtsp://10.0.0.5/1"},{"id":"mill","url":"rtsp://10.0.0.6/1"}],
			"ice":[{"urls":["stun:127.0.0.1:9"]}],"max_viewers":4,"budget_kbps":8000}}`)
	case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/whep"):
		cam := strings.Split(r.URL.Path, "/")[6]
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.offers[cam] = r.Header.Get("Content-Type") + "?" + r.URL.RawQuery + "\n" + string(b)
		a := s.answer[cam]
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.code)
		io.WriteString(w, a.body)
	default:
		http.NotFound(w, r)
	}
}

func (s *stubCameraAPI) offer(cam string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offers[cam]
}

// TestCamerasBrowserRefusals drives the page in a real headless Chromium
// at a phone's width against a stand-in API: the limits show, each camera
// gets a tile, and a refused viewing says why in the reader's language.
// The whole way to a box is cmd/e2e's TestConsoleCameraGrid.
func TestCamerasBrowserRefusals(t *testing.T) {
	chromium := testenv.Tool(t, "chromium", "apt-get install chromium")
	e := newEnv(t, false)
	api := &stubCameraAPI{offers: map[string]string{}, answer: map[string]struct {
		code int
		body string
	}{
		"gate": {409, `{"error":"the box refused: whep: the box's viewing budget of 8000 kbit/s is used by 2 viewers; camera gate needs 4000 kbit/s more","code":"box.refused"}`},
		"yard": {504, `{"error":"the box did not answer in time","code":"box.no_answer"}`},
		// A proxy's own error page: no code, no JSON.
		"pond": {502, `<html><body>Bad Gateway</body></html>`},
		"barn": {422, `{"error":"the camera sends B-frames that other frames refer to","code":"camera.bframes"}`},
		"mill": {422, `{"error":"the camera sends H.265","code":"camera.codec"}`},
	}}
	e.con.next = api

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // the tests run as root in CI containers
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(390, 844),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, time.Minute)
	defer cancel()

	tile := func(cam string) string { return `.cam-box[data-box="village-1"] .cam-tile[data-camera="` + cam + `"]` }
	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#login-form`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), "viewer"),
		chromedp.SendKeys(chromedp.CSS(`#password`), "password-viewer"),
		chromedp.Click(chromedp.CSS(`#login-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#logout`)),
		chromedp.Navigate(e.srv.URL+"/cameras"),
		chromedp.WaitVisible(chromedp.CSS(tile("yard"))),
	); err != nil {
		t.Fatalf("open the cameras page: %v", err)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+sel+`').textContent`))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	limits := `.cam-box[data-box="village-1"] .cam-limits `
	if mv, per, budget := text(limits+`[data-k=max_viewers]`), text(limits+`[data-k=max_viewers_per_camera]`), text(limits+`[data-k=budget_kbps]`); mv != "4" || per != "8" || budget != "8000 kbit/s" {
		t.Errorf("limits shown: %q, %q per camera, budget %q; want 4, 8 (the default) and 8000 kbit/s", mv, per, budget)
	}
	if n := text(tile("gate") + ` [data-k=name]`); n != "村口" {
		t.Errorf("gate's tile is named %q", n)
	}
	if n := text(tile("yard") + ` [data-k=name]`); n != "yard" {
		t.Errorf("a camera without a name shows %q, want its id", n)
	}

	refusals := map[string]string{
		"gate": "广播盒拒绝了观看：同时观看的人数或上行带宽已达上限。请先停止其他画面，稍后再试。",
		"yard": "未送达：广播盒没有应答（可能离线）。请检查广播盒的电源和网络后再试。",
		"pond": "操作没有成功，请稍后再试；如果一再出现，请联系管理员。",
		"barn": "无法显示：摄像头发送的B帧被其他画面引用，浏览器不能实时播放。请在摄像头的视频编码设置中把B帧设为0（关闭B帧），或配置一个没有B帧的子码流。",
		"mill": "无法显示：摄像头只有H.265码流，浏览器不能播放。请在摄像头设置中把主码流或子码流的编码改为H.264。",
	}
	// All at once: each offer waits for its ICE gathering (an unreachable
	// STUN server here, as on a village's 4G).
	for cam := range refusals {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(tile(cam)+` .cam-watch`))); err != nil {
			t.Fatal(err)
		}
	}
	for cam, want := range refusals {
		status := tile(cam) + ` [data-k=status]`
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('`+status+`').textContent === '`+want+`'`,
			chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatalf("%s: the tile never said %q (it says %q): %v", cam, want, text(status), err)
		}
		// The API's English stays out of the official's sight, for the
		// engineer's mouse.
		if title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+tile(cam)+`').title`)); err != nil ||
			(cam == "gate" && !strings.Contains(title, "budget")) {
			t.Errorf("%s: the tile's title %q (%v), want the API's message", cam, title, err)
		}
		if b := text(tile(cam) + ` .cam-watch`); b != "观看" {
			t.Errorf("%s: after a refusal the button says %q, want 观看", cam, b)
		}
		// The offer went whole, as WHEP wants: SDP, a recvonly video and
		// a recvonly audio (the camera's sound, if it has some), for the
		// grid's sub stream.
		offer := api.offer(cam)
		if !strings.HasPrefix(offer, "application/sdp?stream=sub\nv=0") || !strings.Contains(offer, "m=video") ||
			!strings.Contains(offer, "a=recvonly") || !strings.Contains(offer, "m=audio") {
			t.Errorf("%s: the offer as sent:\n%s", cam, offer)
		}
	}
}
