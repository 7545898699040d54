package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// answers makes the fake box answer every command with data.
func (e *env) answers(t *testing.T, data any) {
	t.Helper()
	b, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	e.dl.mu.Lock()
	e.dl.res = &protocol.CommandResult{V: 1, ID: "c1", BoxID: "village-1", OK: true, Data: b}
	e.dl.mu.Unlock()
}

func (e *env) lastSent(t *testing.T) string {
	t.Helper()
	e.dl.mu.Lock()
	defer e.dl.mu.Unlock()
	if len(e.dl.sent) == 0 {
		t.Fatal("nothing sent to the box")
	}
	return e.dl.sent[len(e.dl.sent)-1]
}

type problemWithResult struct {
	Code   Code            `json:"code"`
	Error  string          `json:"error"`
	Result json.RawMessage `json:"result"`
}

// TestTestToneThroughTheAPI: a test tone goes to the box for a speaker of
// the plan; what came of it is 200 with the result when the horn played,
// or the code that says what to check, with the result.
func TestTestToneThroughTheAPI(t *testing.T) {
	e := newEnv(t)
	op := e.tokens[store.RoleOperator]
	if code := e.call(t, e.tokens[store.RoleAdmin], "POST", "/api/v1/boxes", `{"id":"village-1","name":"一村"}`, nil); code != 201 {
		t.Fatalf("add box: %d", code)
	}
	if code := e.call(t, op, "PUT", "/api/v1/boxes/village-1/speakers/horn", `{"driver":"rtp","addr":"127.0.0.1:5004"}`, nil); code != 200 {
		t.Fatalf("add the horn: %d", code)
	}
	if code := e.call(t, op, "POST", "/api/v1/boxes/village-1/speakers/nohorn/test", "", nil); code != 404 {
		t.Errorf("a test tone on a speaker the plan lacks: %d, want 404", code)
	}
	if code := e.call(t, e.tokens[store.RoleViewer], "POST", "/api/v1/boxes/village-1/speakers/horn/test", "", nil); code != 403 {
		t.Errorf("a viewer's test tone: %d, want 403", code)
	}

	e.answers(t, protocol.TestToneResult{Speaker: "horn", Played: true, Reachable: true, DurationMS: 900})
	var ok struct{ Result protocol.TestToneResult }
	if code := e.call(t, op, "POST", "/api/v1/boxes/village-1/speakers/horn/test", "", &ok); code != 200 || !ok.Result.Played {
		t.Fatalf("a tone that played: %d %+v", code, ok)
	}
	if s := e.lastSent(t); s != `village-1 broadcast.test_tone {"speaker":"horn"} 15s` {
		t.Errorf("sent %q", s)
	}
	for _, c := range []struct {
		res  protocol.TestToneResult
		code Code
	}{
		{protocol.TestToneResult{Speaker: "horn", Reason: protocol.ToneFailed, Error: "write: connection refused", HealthError: "connection refused"}, CodeSpeakerSilent},
		{protocol.TestToneResult{Speaker: "horn", Reason: protocol.ToneUnknownSpeaker, Error: "no such speaker"}, CodeSpeakerNotOnBox},
		{protocol.TestToneResult{Speaker: "horn", Reason: protocol.ToneBusy, Error: "busy"}, CodeSpeakerBusy},
	} {
		e.answers(t, c.res)
		code, body, _ := e.raw(t, op, "POST", "/api/v1/boxes/village-1/speakers/horn/test", "", nil, nil)
		var p problemWithResult
		if err := json.Unmarshal(body, &p); err != nil || code != c.code.Status() || p.Code != c.code || !strings.Contains(string(p.Result), c.res.Reason) {
			t.Errorf("%s: %d %s, want %s with the result", c.res.Reason, code, body, c.code)
		}
	}
	e.answers(t, map[string]string{"speaker": "another"})
	if code := e.call(t, op, "POST", "/api/v1/boxes/village-1/speakers/horn/test", "", nil); code != http.StatusBadGateway {
		t.Errorf("an answer for another speaker: %d, want 502", code)
	}
}

// TestProbeThroughTheAPI: the box is sent the camera as saved (with its
// stored password) or as about to be saved (the mask keeps the stored
// password), and a camera it cannot open is answered by its reason.
func TestProbeThroughTheAPI(t *testing.T) {
	e := newEnv(t)
	op := e.tokens[store.RoleOperator]
	if code := e.call(t, e.tokens[store.RoleAdmin], "POST", "/api/v1/boxes", `{"id":"village-1","name":"一村"}`, nil); code != 201 {
		t.Fatalf("add box: %d", code)
	}
	if code := e.call(t, op, "PUT", "/api/v1/boxes/village-1/cameras/gate", `{"url":"rtsp://10.0.0.5/live","username":"admin","password":"s3cret"}`, nil); code != 200 {
		t.Fatalf("add the camera: %d", code)
	}
	e.answers(t, protocol.ProbeResult{Opened: true, Video: "H264", Tracks: []string{"video H264"}, TookMS: 40})
	var ok struct{ Result protocol.ProbeResult }
	if code := e.call(t, op, "POST", "/api/v1/boxes/village-1/cameras/gate/probe", "", &ok); code != 200 || ok.Result.Video != "H264" {
		t.Fatalf("probe of the saved camera: %d %+v", code, ok)
	}
	if s := e.lastSent(t); !strings.Contains(s, `"password":"s3cret"`) || !strings.Contains(s, `"camera":"gate"`) || !strings.Contains(s, "camera.probe") {
		t.Errorf("sent %q; want the saved camera with its password", s)
	}
	body := `{"url":"rtsp://10.0.0.6/live","username":"admin","password":"` + SecretMask + `"}`
	if code := e.call(t, op, "POST", "/api/v1/boxes/village-1/cameras/gate/probe", body, &ok); code != 200 {
		t.Fatalf("probe of an edit: %d", code)
	}
	if s := e.lastSent(t); !strings.Contains(s, "10.0.0.6") || !strings.Contains(s, `"password":"s3cret"`) {
		t.Errorf("sent %q; want the edited URL with the stored password", s)
	}
	if code := e.call(t, op, "POST", "/api/v1/boxes/village-1/cameras/yard/probe", "", nil); code != 404 {
		t.Errorf("probe of no camera without a body: %d, want 404", code)
	}
	if code := e.call(t, op, "POST", "/api/v1/boxes/village-1/cameras/yard/probe", `{"url":"http://x/"}`, nil); code != 400 {
		t.Errorf("probe of a camera that is not RTSP: %d, want 400", code)
	}
	if code := e.call(t, e.tokens[store.RoleViewer], "POST", "/api/v1/boxes/village-1/cameras/gate/probe", "", nil); code != 403 {
		t.Errorf("a viewer's probe: %d, want 403", code)
	}
	for reason, want := range map[string]Code{
		protocol.ProbeUnauthorized: CodeCameraUnauthorized, protocol.ProbeNoVideo: CodeCameraNoVideo,
		protocol.ProbeTimeout: CodeCameraUnreachable, protocol.ProbeUnreachable: CodeCameraUnreachable, protocol.ProbeNotFound: CodeCameraUnreachable,
	} {
		e.answers(t, protocol.ProbeResult{Reason: reason, Error: "describe: " + reason})
		code, b, _ := e.raw(t, op, "POST", "/api/v1/boxes/village-1/cameras/gate/probe", "", nil, nil)
		var p problemWithResult
		if err := json.Unmarshal(b, &p); err != nil || code != want.Status() || p.Code != want || !strings.Contains(string(p.Result), reason) {
			t.Errorf("%s: %d %s, want %s", reason, code, b, want)
		}
	}
}
