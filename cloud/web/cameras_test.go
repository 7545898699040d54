package web

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

const offerSDP = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\n"

func TestCamerasAndWHEP(t *testing.T) {
	e := newEnv(t)
	e.addBox(t)
	op, viewer := e.tokens[store.RoleOperator], e.tokens[store.RoleViewer]

	// Cameras go into the box's signed desired state; passwords are not
	// read back.
	if code := e.call(t, op, "PUT", "/api/v1/boxes/village-1/cameras/gate",
		`{"name":"村口","url":"rtsp://192.168.1.64:554/live","username":"admin","password":"s3cret"}`, nil); code != 200 {
		t.Fatalf("PUT camera: %d", code)
	}
	_, spec := e.desired(t)
	if spec.Cameras == nil || len(spec.Cameras.Cameras) != 1 || spec.Cameras.Cameras[0].Password != "s3cret" {
		t.Fatalf("desired cameras %+v", spec.Cameras)
	}
	var got struct {
		Cameras protocol.Cameras `json:"cameras"`
	}
	e.call(t, viewer, "GET", "/api/v1/boxes/village-1/cameras", "", &got)
	if len(got.Cameras.Cameras) != 1 || got.Cameras.Cameras[0].Password == "s3cret" {
		t.Fatalf("GET cameras %+v: the password must not be shown", got)
	}
	for _, c := range []struct {
		token, method, path, body string
		want                      int
	}{
		{op, "PUT", "/api/v1/boxes/village-1/cameras/bad", `{"url":"http://x/"}`, 400},
		{op, "PUT", "/api/v1/boxes/village-1/cameras/gate", `{"id":"other","url":"rtsp://x/"}`, 400},
		{viewer, "PUT", "/api/v1/boxes/village-1/cameras/gate", `{"url":"rtsp://x/"}`, 403},
		{op, "DELETE", "/api/v1/boxes/village-1/cameras/nope", ``, 404},
		{op, "PUT", "/api/v1/boxes/nowhere/cameras/gate", `{"url":"rtsp://x/"}`, 404},
	} {
		if code := e.call(t, c.token, c.method, c.path, c.body, nil); code != c.want {
			t.Errorf("%s %s %s: %d, want %d", c.method, c.path, c.body, code, c.want)
		}
	}

	// WHEP: the offer travels to the box as a signed command; its answer
	// comes back as the body, with the session's URL.
	e.dl.res = &protocol.CommandResult{V: 1, ID: "c", BoxID: "village-1", OK: true,
		Data: json.RawMessage(`{"session":"s-1","answer":"v=0\r\nanswer"}`)}
	code, body, hdr := e.raw(t, viewer, "POST", "/api/v1/boxes/village-1/cameras/gate/whep", "application/sdp", []byte(offerSDP), nil)
	if code != 201 || hdr.Get("Content-Type") != "application/sdp" || string(body) != "v=0\r\nanswer" ||
		hdr.Get("Location") != "/api/v1/boxes/village-1/cameras/gate/whep/s-1" {
		t.Fatalf("WHEP: %d %q %v", code, body, hdr)
	}
	last := e.dl.sent[len(e.dl.sent)-1]
	if !strings.Contains(last, protocol.CmdWHEP) || !strings.Contains(last, `"viewer":"viewer"`) || !strings.Contains(last, `"camera":"gate"`) {
		t.Fatalf("command sent: %s", last)
	}
	if code, _, _ := e.raw(t, viewer, "DELETE", "/api/v1/boxes/village-1/cameras/gate/whep/s-1", "", nil, nil); code != 200 {
		t.Fatalf("WHEP stop: %d", code)
	}
	for _, c := range []struct {
		path, ctype, body string
		want              int
	}{
		{"/api/v1/boxes/village-1/cameras/gate/whep", "application/json", offerSDP, 415},
		{"/api/v1/boxes/village-1/cameras/gate/whep", "application/sdp", "hello", 400},
		{"/api/v1/boxes/village-1/cameras/nope/whep", "application/sdp", offerSDP, 404},
		{"/api/v1/boxes/nowhere/cameras/gate/whep", "application/sdp", offerSDP, 404},
		{"/api/v1/boxes/village-1/cameras/gate/whep", "application/sdp", "v=0" + strings.Repeat("a", protocol.MaxSDP), 413},
	} {
		if code, body, _ := e.raw(t, viewer, "POST", c.path, c.ctype, []byte(c.body), nil); code != c.want {
			t.Errorf("POST %s (%s): %d %s, want %d", c.path, c.ctype, code, body, c.want)
		}
	}
	// The box refusing (one viewer too many, say) is a clear 409.
	e.dl.res = &protocol.CommandResult{V: 1, ID: "c", BoxID: "village-1", OK: false, Error: "camera gate: 8 viewers already"}
	if code, body, _ := e.raw(t, viewer, "POST", "/api/v1/boxes/village-1/cameras/gate/whep", "application/sdp", []byte(offerSDP), nil); code != 409 || !strings.Contains(string(body), "viewers already") {
		t.Fatalf("refused offer: %d %s", code, body)
	}

	// What the viewer gets travels in headers; ?stream=sub is a grid
	// tile's.
	e.dl.res = &protocol.CommandResult{V: 1, ID: "c", BoxID: "village-1", OK: true,
		Data: json.RawMessage(`{"session":"s-2","answer":"v=0\r\nanswer","stream":"sub","codec":"H264","frames":"all","note":"h265_sub","audio":"PCMA"}`)}
	code, _, hdr = e.raw(t, viewer, "POST", "/api/v1/boxes/village-1/cameras/gate/whep?stream=sub", "application/sdp", []byte(offerSDP), nil)
	if code != 201 || hdr.Get("X-Camera-Stream") != "sub" || hdr.Get("X-Camera-Codec") != "H264" || hdr.Get("X-Camera-Note") != "h265_sub" ||
		hdr.Get("X-Camera-Frames") != "all" || hdr.Get("X-Camera-Audio") != "PCMA" {
		t.Fatalf("WHEP with what the viewer gets: %d %v", code, hdr)
	}
	if last := e.dl.sent[len(e.dl.sent)-1]; !strings.Contains(last, `"stream":"sub"`) {
		t.Errorf("command sent: %s", last)
	}
	if code, _, _ := e.raw(t, viewer, "POST", "/api/v1/boxes/village-1/cameras/gate/whep?stream=third", "application/sdp", []byte(offerSDP), nil); code != 400 {
		t.Errorf("a stream that is neither main nor sub: %d", code)
	}
	// A camera the browser cannot be shown: 422, the box's code and words.
	e.dl.res = &protocol.CommandResult{V: 1, ID: "c", BoxID: "village-1", OK: false, Code: protocol.CodeCameraBFrames, Error: "turn B-frames off"}
	code, body, _ = e.raw(t, viewer, "POST", "/api/v1/boxes/village-1/cameras/gate/whep", "application/sdp", []byte(offerSDP), nil)
	var refusal struct{ Error, Code string }
	if err := json.Unmarshal(body, &refusal); err != nil || code != 422 || refusal.Code != string(CodeCameraBFrames) || refusal.Error != "turn B-frames off" {
		t.Fatalf("a camera with B-frames: %d %s", code, body)
	}

}

// The ONVIF routes: discovery and reading a camera for those who manage
// the cameras, turning one for those who send commands (never a viewer),
// a still for anyone who may look; each a signed command to the box, and
// a camera's password never in the audit trail.
func TestCameraControlRoutes(t *testing.T) {
	e := newEnv(t)
	e.addBox(t)
	op, viewer := e.tokens[store.RoleOperator], e.tokens[store.RoleViewer]

	e.dl.res = &protocol.CommandResult{V: 1, ID: "c", BoxID: "village-1", OK: true,
		Data: json.RawMessage(`{"devices":[{"url":"http://192.168.1.64/onvif/device_service","name":"村口"}]}`)}
	var found protocol.DiscoverResult
	if code := e.call(t, op, "POST", "/api/v1/boxes/village-1/cameras/discover", ``, &found); code != 200 || len(found.Devices) != 1 {
		t.Fatalf("discover: %d %+v", code, found)
	}
	if code := e.call(t, viewer, "POST", "/api/v1/boxes/village-1/cameras/discover", ``, nil); code != 403 {
		t.Errorf("a viewer discovering: %d", code)
	}

	e.dl.res = &protocol.CommandResult{V: 1, ID: "c", BoxID: "village-1", OK: true,
		Data: json.RawMessage(`{"profiles":[{"token":"main"}],"main_url":"rtsp://192.168.1.64/main"}`)}
	var info protocol.ONVIFResult
	if code := e.call(t, op, "POST", "/api/v1/boxes/village-1/cameras/onvif",
		`{"url":"http://192.168.1.64/onvif/device_service","username":"admin","password":"s3cret"}`, &info); code != 200 || info.MainURL == "" {
		t.Fatalf("onvif: %d %+v", code, info)
	}
	if last := e.dl.sent[len(e.dl.sent)-1]; !strings.Contains(last, protocol.CmdCameraONVIF) || !strings.Contains(last, "s3cret") {
		t.Errorf("command sent: %s", last)
	}
	recs, err := e.st.ListAudit(t.Context(), store.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	audited := false
	for _, r := range recs {
		if strings.Contains(string(r.After), "s3cret") || strings.Contains(string(r.Before), "s3cret") {
			t.Errorf("the camera's password is in the audit trail: %+v", r)
		}
		audited = audited || (strings.HasSuffix(r.Action, "/cameras/onvif") && strings.Contains(string(r.After), "192.168.1.64"))
	}
	if !audited {
		t.Errorf("reading the camera is not in the audit trail: %+v", recs)
	}

	e.dl.res = &protocol.CommandResult{V: 1, ID: "c", BoxID: "village-1", OK: true}
	if code := e.call(t, op, "POST", "/api/v1/boxes/village-1/cameras/gate/ptz", `{"action":"move","pan":0.5}`, nil); code != 200 {
		t.Fatalf("ptz: %d", code)
	}
	if last := e.dl.sent[len(e.dl.sent)-1]; !strings.Contains(last, protocol.CmdCameraPTZ) || !strings.Contains(last, `"camera":"gate"`) {
		t.Errorf("command sent: %s", last)
	}
	sent := len(e.dl.sent)
	if code := e.call(t, viewer, "POST", "/api/v1/boxes/village-1/cameras/gate/ptz", `{"action":"move","pan":0.5}`, nil); code != 403 {
		t.Errorf("a viewer moving a camera: %d; want 403", code)
	}
	if len(e.dl.sent) != sent {
		t.Error("a viewer's move reached the box")
	}
	for _, bad := range []string{`{"action":"dance"}`, `{"action":"move","pan":3}`, `{"action":"move"}`, `{"camera":"other","action":"stop"}`} {
		if code := e.call(t, op, "POST", "/api/v1/boxes/village-1/cameras/gate/ptz", bad, nil); code != 400 {
			t.Errorf("ptz %s: %d; want 400", bad, code)
		}
	}

	e.dl.res = &protocol.CommandResult{V: 1, ID: "c", BoxID: "village-1", OK: true,
		Data: json.RawMessage(`{"content_type":"image/jpeg","image":"/9j/4AAQ"}`)}
	code, body, hdr := e.raw(t, viewer, "GET", "/api/v1/boxes/village-1/cameras/gate/snapshot", "", nil, nil)
	if code != 200 || hdr.Get("Content-Type") != "image/jpeg" || len(body) != 6 || body[0] != 0xff {
		t.Fatalf("snapshot: %d %v %x", code, hdr, body)
	}
	e.dl.res = &protocol.CommandResult{V: 1, ID: "c", BoxID: "village-1", OK: false, Code: protocol.CodeFailed, Error: "camera gate has no ONVIF address"}
	if code, body, _ := e.raw(t, viewer, "GET", "/api/v1/boxes/village-1/cameras/gate/snapshot", "", nil, nil); code != 409 || !strings.Contains(string(body), "ONVIF") {
		t.Errorf("a snapshot the box refused: %d %s", code, body)
	}
}

// TestCameraPasswordIsWriteOnly: a camera read and written back as read
// keeps its password; so does one written without it. A new password
// replaces it, and clearing the user name removes the credentials.
func TestCameraPasswordIsWriteOnly(t *testing.T) {
	e := newEnv(t)
	e.addBox(t)
	op := e.tokens[store.RoleOperator]
	password := func() string {
		t.Helper()
		_, spec := e.desired(t)
		if spec.Cameras == nil || len(spec.Cameras.Cameras) != 1 {
			t.Fatalf("desired cameras %+v", spec.Cameras)
		}
		return spec.Cameras.Cameras[0].Password
	}
	read := func() protocol.Cameras {
		t.Helper()
		var got struct {
			Cameras protocol.Cameras `json:"cameras"`
		}
		if code := e.call(t, op, "GET", "/api/v1/boxes/village-1/cameras", "", &got); code != 200 {
			t.Fatalf("GET cameras: %d", code)
		}
		return got.Cameras
	}
	put := func(path string, v any) {
		t.Helper()
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if code := e.call(t, op, "PUT", path, string(b), nil); code != 200 {
			t.Fatalf("PUT %s %s: %d", path, b, code)
		}
	}
	put("/api/v1/boxes/village-1/cameras/gate", protocol.Camera{URL: "rtsp://192.168.1.64:554/live", Username: "admin", Password: "s3cret"})

	shown := read()
	if shown.Cameras[0].Password != SecretMask {
		t.Fatalf("GET shows the password as %q, want the mask", shown.Cameras[0].Password)
	}
	cam := shown.Cameras[0]
	cam.Name = "村口"
	put("/api/v1/boxes/village-1/cameras/gate", cam) // one camera as read, renamed
	if got := password(); got != "s3cret" {
		t.Fatalf("after a PUT of the camera as read the password is %q, want the stored one", got)
	}
	put("/api/v1/boxes/village-1/cameras", read()) // the whole section as read
	if got := password(); got != "s3cret" {
		t.Fatalf("after a PUT of the section as read the password is %q, want the stored one", got)
	}
	cam.Password = ""
	put("/api/v1/boxes/village-1/cameras/gate", cam) // no password at all
	if got := password(); got != "s3cret" {
		t.Fatalf("after a PUT without a password it is %q, want the stored one", got)
	}
	cam.Password = "n3w"
	put("/api/v1/boxes/village-1/cameras/gate", cam)
	if got := password(); got != "n3w" {
		t.Fatalf("a new password was stored as %q", got)
	}
	cam.Username, cam.Password = "", SecretMask
	put("/api/v1/boxes/village-1/cameras/gate", cam)
	if got := password(); got != "" {
		t.Fatalf("a camera without a user name kept the password %q", got)
	}
	// The mask never becomes a password, even for a camera that had none.
	put("/api/v1/boxes/village-1/cameras/gate", protocol.Camera{URL: "rtsp://192.168.1.64:554/live", Username: "admin", Password: SecretMask})
	if got := password(); got != "" {
		t.Fatalf("the mask was stored as the password %q", got)
	}
}
