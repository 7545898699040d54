package diag

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/camera/sim"
	"github.com/dalaba/dalaba/devices/speaker/speakersim"
	"github.com/dalaba/dalaba/edge/logring"
	"github.com/dalaba/dalaba/protocol"
)

const probeTimeout = 500 * time.Millisecond

func newDiag(t *testing.T, cfg Config, deps Deps) *Diag {
	t.Helper()
	if cfg.ProbeTimeout == 0 {
		cfg.ProbeTimeout = probeTimeout
	}
	if deps.Ring == nil {
		r, err := logring.New(logring.Config{})
		if err != nil {
			t.Fatal(err)
		}
		deps.Ring = r
	}
	if deps.Config == nil {
		deps.Config = func() (string, []string, error) { return "box_id: v1\n", nil, nil }
	}
	if deps.Restart == nil {
		deps.Restart = func(string, string) { t.Error("restarted") }
	}
	d, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// freePort is a loopback port nothing listens on (bound, then released).
func freePort(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func run(t *testing.T, f func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// The check names every target with what it found, in a fixed order: a
// broker that takes connections, a township that answers HTTP, a camera
// that answers DESCRIBE, one that wants other credentials and one that is
// gone; a horn that listens, a horn whose port is closed, a multicast
// group, a play-URL speaker and the line-out.
func TestTheCheckProbesEveryTarget(t *testing.T) {
	broker, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	township := httptest.NewServer(http.NotFoundHandler())
	defer township.Close()

	cam, err := sim.New(sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	run(t, cam.Run)
	locked, err := sim.New(sim.Config{Username: "admin", Password: "cam-secret"})
	if err != nil {
		t.Fatal(err)
	}
	run(t, locked.Run)
	horn, err := speakersim.New(speakersim.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	run(t, horn.Run)
	speakerHTTP := httptest.NewServer(http.NotFoundHandler())
	defer speakerHTTP.Close()

	d := newDiag(t, Config{BrokerURL: "tcp://" + broker.Addr().String(), TownshipURL: township.URL + "/media/"}, Deps{
		Speakers: func() []protocol.SpeakerHealth {
			return []protocol.SpeakerHealth{{ID: "line", Reachable: true}, {ID: "closed", Reachable: false, Error: "write: connection refused"}}
		},
	})
	d.SetSpec(protocol.Spec{
		Broadcast: &protocol.Broadcast{Speakers: []protocol.Speaker{
			{ID: "square", Driver: "rtp", Addr: horn.Addr().String()},
			{ID: "closed", Driver: "rtp", Addr: freePort(t, "udp")},
			{ID: "group", Driver: "rtp", Addr: "239.1.2.3:5004"},
			{ID: "net", Driver: "http", PlayURL: speakerHTTP.URL + "/play?u={url}"},
			{ID: "line", Driver: "soundcard"},
		}},
		Cameras: &protocol.Cameras{AllowLocalTargets: true, Cameras: []protocol.Camera{
			{ID: "gate", URL: cam.URL()},
			{ID: "hall", URL: locked.URL(), Username: "admin", Password: "wrong-secret"},
			{ID: "yard", URL: "rtsp://" + freePort(t, "tcp") + "/cam1"},
		}},
	})
	c := d.Check(t.Context())
	want := []struct{ target, id, code string }{
		{protocol.ProbeBroker, "", protocol.ProbeOK},
		{protocol.ProbeTownship, "", protocol.ProbeOK},
		{protocol.ProbeCamera, "gate", protocol.ProbeOK},
		{protocol.ProbeCamera, "hall", protocol.ProbeUnauthorized},
		{protocol.ProbeCamera, "yard", protocol.ProbeRefused},
		{protocol.ProbeSpeaker, "closed", protocol.ProbeRefused},
		{protocol.ProbeSpeaker, "group", protocol.ProbeNotChecked},
		{protocol.ProbeSpeaker, "line", protocol.ProbeOK},
		{protocol.ProbeSpeaker, "net", protocol.ProbeOK},
		{protocol.ProbeSpeaker, "square", protocol.ProbeNoAnswer},
	}
	if len(c.Probes) != len(want) {
		t.Fatalf("%d probes, want %d: %+v", len(c.Probes), len(want), c.Probes)
	}
	for i, w := range want {
		p := c.Probes[i]
		if p.Target != w.target || p.ID != w.id || p.Code != w.code {
			t.Errorf("probe %d: %s %s %s (%s), want %s %s %s", i, p.Target, p.ID, p.Code, p.Detail, w.target, w.id, w.code)
		}
		if p.OK != (w.code == protocol.ProbeOK || w.code == protocol.ProbeNoAnswer) {
			t.Errorf("probe %s %s: ok %v with code %s", p.Target, p.ID, p.OK, p.Code)
		}
		if p.Detail == "" {
			t.Errorf("probe %s %s says nothing", p.Target, p.ID)
		}
		if time.Duration(p.MS)*time.Millisecond > 4*probeTimeout {
			t.Errorf("probe %s %s took %d ms, past its %s deadline", p.Target, p.ID, p.MS, probeTimeout)
		}
	}
	b, _ := json.Marshal(c)
	if strings.Contains(string(b), "wrong-secret") {
		t.Errorf("the findings show a camera's password: %s", b)
	}
	if s := c.Probes[5].Detail; !strings.Contains(s, "unreachable: write: connection refused") {
		t.Errorf("the closed horn's detail lacks what its driver saw: %q", s)
	}
}

// A camera the township did not allow on a local address is not dialled
// there by the check either.
func TestTheCheckRefusesLocalCamerasAsTheRelayDoes(t *testing.T) {
	d := newDiag(t, Config{}, Deps{})
	d.SetSpec(protocol.Spec{Cameras: &protocol.Cameras{Cameras: []protocol.Camera{{ID: "self", URL: "rtsp://127.0.0.1:22/x"}}}})
	c := d.Check(t.Context())
	p := c.Probes[2]
	if p.OK || p.Code != protocol.ProbeFailed || !strings.Contains(p.Detail, "loopback") {
		t.Errorf("a camera on loopback: %+v", p)
	}
	if c.Probes[0].Code != protocol.ProbeNotChecked || c.Probes[1].Code != protocol.ProbeNotChecked {
		t.Errorf("no broker or township configured: %+v", c.Probes[:2])
	}
}

// The log answer is the latest lines, and however long the lines, fits a
// command result.
func TestTheLogAnswerFitsACommandResult(t *testing.T) {
	r, err := logring.New(logring.Config{Lines: 5000, Bytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(r.Handler(slog.DiscardHandler))
	for i := range 3000 {
		log.Info(`a "quoted" line`, "n", i, "pad", strings.Repeat(`\"`, 40))
	}
	d := newDiag(t, Config{}, Deps{Ring: r})
	out, err := d.logs(t.Context(), protocol.Command{}, protocol.DiagLogsArgs{Lines: protocol.MaxDiagLines})
	if err != nil {
		t.Fatal(err)
	}
	raw := out.(json.RawMessage)
	if len(raw) > protocol.MaxDiagData {
		t.Fatalf("%d bytes, over %d", len(raw), protocol.MaxDiagData)
	}
	var got protocol.DiagLogs
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if !got.Truncated || len(got.Lines) < 50 || !strings.Contains(got.Lines[len(got.Lines)-1], "n=2999") {
		t.Errorf("%d lines, truncated %v, last %q", len(got.Lines), got.Truncated, got.Lines[len(got.Lines)-1])
	}
	res, _ := protocol.Marshal(protocol.KindCmdResult, protocol.CommandResult{V: 1, ID: "c", BoxID: "v1", OK: true, Data: raw})
	if len(res) > protocol.KindCmdResult.MaxPayload() {
		t.Errorf("the result is %d bytes, over the topic's %d", len(res), protocol.KindCmdResult.MaxPayload())
	}

	few, _ := d.logs(t.Context(), protocol.Command{}, protocol.DiagLogsArgs{Lines: 3, Level: "warn"})
	if err := json.Unmarshal(few.(json.RawMessage), &got); err != nil || len(got.Lines) != 0 || got.Lines == nil {
		t.Errorf("no warn lines: %s, %v", few, err)
	}
}

func TestRestartCommitsAndNamesItsCommand(t *testing.T) {
	var gotID, gotReason string
	d := newDiag(t, Config{}, Deps{Restart: func(id, reason string) { gotID, gotReason = id, reason }})
	out, err := d.restart(t.Context(), protocol.Command{ID: "c-9"}, protocol.DiagRestartArgs{Reason: "stuck horn"})
	if err != nil || out != (protocol.DiagRestart{Restarting: true}) || gotID != "c-9" || gotReason != "stuck horn" {
		t.Errorf("restart: %v %v; told %q %q", out, err, gotID, gotReason)
	}
}

func TestTheConfigAnswerIsWhatTheAssemblyRenders(t *testing.T) {
	d := newDiag(t, Config{}, Deps{Config: func() (string, []string, error) {
		return "broker:\n  password: <redacted>\n", []string{"broker.password"}, nil
	}})
	out, err := d.config(t.Context(), protocol.Command{}, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	if c := out.(protocol.DiagConfig); !strings.Contains(c.YAML, protocol.RedactedValue) || fmt.Sprint(c.Redacted) != "[broker.password]" {
		t.Errorf("config answer %+v", c)
	}
}
