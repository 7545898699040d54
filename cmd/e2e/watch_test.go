package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/notify"
	"github.com/dalaba/dalaba/cloud/notify/notifytest"
	"github.com/dalaba/dalaba/internal/promtest"
	"github.com/dalaba/dalaba/protocol"
)

// The alerting's pace in these tests: short, so a test takes seconds.
const (
	alertTick    = 200 * time.Millisecond
	startupGrace = 3 * time.Second
	holdDown     = 3 * time.Second
)

func alertingConfig(extra string) string { return alertingConfigWith(startupGrace, extra) }

func alertingConfigWith(grace time.Duration, extra string) string {
	return fmt.Sprintf("alerts:\n  tick: %s\n  startup_grace: %s\n%s", alertTick, grace, extra)
}

// restartGrace is the startup grace of the restart test: longer than a
// box can take to come back. A box retries with jittered backoff (1 s,
// doubling, up to a minute), so after the test's two-second outage its
// next try can be up to 16 s away; production's 3 min grace covers the
// whole minute.
const restartGrace = 20 * time.Second

// alerting points the township's alerts at the receiver's WeCom and
// DingTalk robots (DingTalk signed) and makes a box offline alert after
// holdDown.
func (c *cloud) alerting(t *testing.T, rcv *notifytest.Receiver) { c.alertingWith(t, rcv, holdDown) }

func (c *cloud) alertingWith(t *testing.T, rcv *notifytest.Receiver, holdDown time.Duration) {
	t.Helper()
	wecom, ding := rcv.Channel(notify.KindWeCom), rcv.Channel(notify.KindDingTalk)
	c.do(t, "PUT", "/api/v1/alerts/channels/office", map[string]any{"name": "镇政府群", "kind": "wecom", "url": wecom.URL}, nil, http.StatusOK)
	c.do(t, "PUT", "/api/v1/alerts/channels/duty", map[string]any{"name": "值班群", "kind": "dingtalk", "url": ding.URL, "secret": ding.Secret}, nil, http.StatusOK)
	c.do(t, "PUT", "/api/v1/alerts/rules/box_offline", map[string]any{"enabled": true, "hold_down": holdDown.String(), "urgent": true}, nil, http.StatusOK)
}

// received is what the receiver took, and fails the test on anything it
// refused (a DingTalk signature that does not match, say).
func received(t *testing.T, rcv *notifytest.Receiver) []notifytest.Received {
	t.Helper()
	if r := rcv.Refused(); len(r) > 0 {
		t.Fatalf("the receiver refused: %v", r)
	}
	return rcv.Received()
}

func onlineAs(t *testing.T, c *cloud, box string, online bool) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("%s online: %v", box, online), func() bool { return c.box(t, box).Online == online })
}

// A real box killed: one offline alert on each channel after the
// hold-down, in each platform's format, naming the village and what to
// do; started again: one recovery each; and nothing more.
func TestAlertsWhenABoxIsKilledAndComesBack(t *testing.T) {
	rcv := notifytest.New(t, nil)
	c := startCloud(t, cloudOpts{config: alertingConfig("")})
	c.alerting(t, rcv)
	cfg := writeEdgeConfig(t, c.addBox(t, "dongshan"))
	dataDir := t.TempDir()
	e := startEdge(t, cfg, dataDir)
	onlineAs(t, c, "dongshan", true)

	e.kill()
	killed := time.Now()
	eventually(t, 30*time.Second, "the offline alert on both channels", func() bool { return len(received(t, rcv)) >= 2 })
	got := received(t, rcv)
	for _, m := range got {
		if early := m.At.Sub(killed); early < holdDown-time.Second {
			t.Errorf("the %s alert came %s after the kill, within the %s hold-down", m.Kind, early, holdDown)
		}
		for _, want := range []string{"【大喇叭告警】测试村 dongshan广播盒离线", "广播盒已离线", "最后在线", "请检查广播盒电源和网络"} {
			if !strings.Contains(m.Text+m.Title, want) {
				t.Errorf("the %s message %q lacks %q", m.Kind, m.Text, want)
			}
		}
	}
	kinds := map[notify.Kind]int{}
	for _, m := range got {
		kinds[m.Kind]++
	}
	if len(got) != 2 || kinds[notify.KindWeCom] != 1 || kinds[notify.KindDingTalk] != 1 {
		t.Fatalf("messages %+v, want one on WeCom and one on DingTalk", got)
	}

	startEdge(t, cfg, dataDir)
	eventually(t, 30*time.Second, "the recovery on both channels", func() bool { return len(received(t, rcv)) >= 4 })
	for _, m := range received(t, rcv)[2:] {
		if !strings.Contains(m.Text, "【大喇叭恢复】") || !strings.Contains(m.Text, "已恢复在线") {
			t.Errorf("the recovery %q", m.Text)
		}
	}
	// The log holds the two alerts, each delivered to both; then nothing
	// more is due.
	var log struct {
		Alerts []struct {
			State      string
			Deliveries []struct{ Channel, Status string }
		}
	}
	eventually(t, 10*time.Second, "both alerts recorded as delivered", func() bool {
		c.do(t, "GET", "/api/v1/alerts?box=dongshan", nil, &log, http.StatusOK)
		if len(log.Alerts) != 2 {
			return false
		}
		for _, a := range log.Alerts {
			for _, d := range a.Deliveries {
				if d.Status != "sent" {
					return false
				}
			}
		}
		return true
	})
	if log.Alerts[0].State != "resolved" || log.Alerts[1].State != "opened" {
		t.Errorf("alert log %+v", log.Alerts)
	}
	if n := len(received(t, rcv)); n != 4 {
		t.Errorf("%d messages in all, want 4", n)
	}
}

// A township restart with its box fine sends nothing, though the box is
// away for longer than the hold-down while it reconnects.
func TestATownshipRestartWithBoxesFineSendsNothing(t *testing.T) {
	t.Parallel() // its own township and box; it mostly waits out the grace, with room to spare
	rcv := notifytest.New(t, nil)
	dataDir, mqtt := t.TempDir(), freePort(t)
	const hold = time.Second
	c := startCloud(t, cloudOpts{dataDir: dataDir, mqtt: mqtt, config: alertingConfigWith(restartGrace, "")})
	c.alertingWith(t, rcv, hold)
	startEdge(t, writeEdgeConfig(t, c.addBox(t, "xishan")), t.TempDir())
	onlineAs(t, c, "xishan", true)

	c.stop()
	down := time.Now()
	// Down for longer than the hold-down: the box's last sign of life is
	// older than that when the township comes back.
	for time.Since(down) < 2*hold {
		time.Sleep(100 * time.Millisecond) // the outage itself
	}
	c = startCloud(t, cloudOpts{dataDir: dataDir, mqtt: mqtt, config: alertingConfigWith(restartGrace, "")})
	started := time.Now()
	onlineAs(t, c, "xishan", true)
	if back := time.Since(started); back > restartGrace {
		t.Fatalf("the box took %s to come back, longer than the grace the test gives it", back)
	}
	// Past the grace and a hold-down more, any storm would have begun.
	for time.Since(started) < restartGrace+hold+5*alertTick {
		time.Sleep(100 * time.Millisecond) // the window in which a wrong alert would go out
	}
	if got := received(t, rcv); len(got) != 0 {
		t.Errorf("a restart with every box fine sent %d messages: %+v", len(got), got)
	}
	var log struct{ Alerts []any }
	c.do(t, "GET", "/api/v1/alerts", nil, &log, http.StatusOK)
	if len(log.Alerts) != 0 {
		t.Errorf("alerts recorded: %+v", log.Alerts)
	}
}

// Both daemons' metrics, scraped over HTTP with their tokens and read by
// Prometheus's own parser, hold only documented names and labels, and say
// what is so: the box online, its uplink up, commands counted.
func TestMetricsOfBothDaemons(t *testing.T) {
	const cloudToken, edgeToken = "cloud-scrape-token-01", "edge-scrape-token-001"
	c := startCloud(t, cloudOpts{config: "metrics:\n  token: " + cloudToken + "\n"})
	edgeMetrics := freePort(t)
	cfg := writeEdgeConfig(t, c.addBox(t, "nanshan")+fmt.Sprintf("metrics:\n  listen: %s\n  token: %s\n", edgeMetrics, edgeToken))
	startEdge(t, cfg, t.TempDir())
	onlineAs(t, c, "nanshan", true)
	c.do(t, "POST", "/api/v1/boxes/nanshan/commands", map[string]any{"type": "ping"}, nil, http.StatusOK)

	cf := promtest.Scrape(t, "http://"+c.HTTP+"/metrics", cloudToken)
	promtest.CheckServed(t, cf, promtest.ReadDoc(t, "../../cloud/metrics/doc.go", "dalaba_cloud_"), "dalaba_cloud_")
	for _, w := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"dalaba_cloud_boxes_online", nil, 1},
		{"dalaba_cloud_box_online", map[string]string{"box": "nanshan"}, 1},
		{"dalaba_cloud_commands_total", map[string]string{"type": "ping", "result": "ok"}, 1},
		{"dalaba_cloud_mqtt_connected", nil, 1},
	} {
		if got, ok := promtest.Value(cf, w.name, w.labels); !ok || got != w.want {
			t.Errorf("township %s%v = %v (%v), want %v", w.name, w.labels, got, ok, w.want)
		}
	}
	if n, ok := promtest.Value(cf, "dalaba_cloud_http_request_duration_seconds", map[string]string{"route": "POST /api/v1/boxes/{id}/commands"}); !ok || n < 1 {
		t.Errorf("the command's request is not timed under its route pattern: %v %v", n, ok)
	}
	eventually(t, 15*time.Second, "the box's events stored and counted", func() bool {
		v, ok := promtest.Value(promtest.Scrape(t, "http://"+c.HTTP+"/metrics", cloudToken), "dalaba_cloud_ingest_events_total", nil)
		return ok && v > 0
	})
	if code := status(t, "http://"+c.HTTP+"/metrics", "Bearer wrong"); code != http.StatusUnauthorized {
		t.Errorf("the township's metrics without the token: %d", code)
	}

	ef := promtest.Scrape(t, "http://"+edgeMetrics+"/metrics", edgeToken)
	promtest.CheckServed(t, ef, promtest.ReadDoc(t, "../../edge/metrics/doc.go", "dalaba_edge_"), "dalaba_edge_")
	for _, name := range []string{"dalaba_edge_uplink_connected", "dalaba_edge_uplink_connections_total", "dalaba_edge_clock_trusted"} {
		if got, ok := promtest.Value(ef, name, nil); !ok || got != 1 {
			t.Errorf("box %s = %v (%v), want 1", name, got, ok)
		}
	}
	for _, name := range []string{"dalaba_edge_outbox_events", "dalaba_edge_disk_free_bytes", "dalaba_edge_desired_rev", "dalaba_edge_playbacks_total"} {
		if _, ok := ef[name]; !ok {
			t.Errorf("the box serves no %s", name)
		}
	}
	if code := status(t, "http://"+edgeMetrics+"/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("the box's metrics without the token: %d", code)
	}
}

func status(t *testing.T, url, auth string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Diagnostics through the API, as the table allows: an operator reads a
// real box's log, its configuration without a secret, and its check; a
// viewer may not; an operator may not restart it, an admin may: the box
// answers, exits, and its supervisor (the test) starts it again.
func TestDiagnosticsOfARealBox(t *testing.T) {
	c := startCloud(t, cloudOpts{})
	boxCfg := c.addBox(t, "beishan")
	cfgPath := writeEdgeConfig(t, boxCfg+"metrics:\n  listen: 127.0.0.1:0\n  token: metrics-secret-token-1\n")
	dataDir := t.TempDir()
	e := startEdge(t, cfgPath, dataDir)
	onlineAs(t, c, "beishan", true)

	for name, role := range map[string]string{"op": "operator", "view": "viewer"} {
		c.do(t, "POST", "/api/v1/users", map[string]string{"name": name, "password": "password-" + name, "role": role}, nil, http.StatusCreated)
	}
	as := func(name string) *cloud {
		u := &cloud{proc: c.proc, HTTP: c.HTTP}
		var login struct{ Token string }
		u.do(t, "POST", "/api/v1/login", map[string]string{"username": name, "password": "password-" + name}, &login, http.StatusOK)
		u.token = login.Token
		return u
	}
	op, viewer := as("op"), as("view")

	var logs protocol.DiagLogs
	op.do(t, "POST", "/api/v1/boxes/beishan/diag/logs", map[string]any{"lines": 500}, &logs, http.StatusOK)
	if all := strings.Join(logs.Lines, "\n"); !strings.Contains(all, "msg=connected") || !strings.Contains(all, "box running") {
		t.Errorf("the box's log lacks its start and its connection:\n%s", all)
	}

	var cfg protocol.DiagConfig
	op.do(t, "POST", "/api/v1/boxes/beishan/diag/config", nil, &cfg, http.StatusOK)
	password := between(boxCfg, "password: ", "\n")
	if password == "" || strings.Contains(cfg.YAML, password) || strings.Contains(cfg.YAML, "metrics-secret-token-1") {
		t.Errorf("the configuration shows a secret:\n%s", cfg.YAML)
	}
	if !strings.Contains(cfg.YAML, "box_id: beishan") || strings.Join(cfg.Redacted, ",") != "broker.password,metrics.token" {
		t.Errorf("configuration %+v", cfg)
	}

	var check protocol.DiagCheck
	op.do(t, "POST", "/api/v1/boxes/beishan/diag/check", nil, &check, http.StatusOK)
	if len(check.Probes) != 2 || check.Probes[0].Target != protocol.ProbeBroker || !check.Probes[0].OK ||
		check.Probes[1].Target != protocol.ProbeTownship || !check.Probes[1].OK {
		t.Errorf("check %+v", check)
	}

	viewer.do(t, "POST", "/api/v1/boxes/beishan/diag/logs", nil, nil, http.StatusForbidden)
	op.do(t, "POST", "/api/v1/boxes/beishan/restart", nil, nil, http.StatusForbidden)

	var r protocol.DiagRestart
	c.do(t, "POST", "/api/v1/boxes/beishan/restart", map[string]string{"reason": "e2e"}, &r, http.StatusOK)
	if !r.Restarting {
		t.Errorf("restart answered %+v", r)
	}
	select {
	case <-e.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the box did not exit after the restart")
	}
	boxLog, _ := os.ReadFile(e.log) // a log that cannot be read fails the check below
	if e.cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(boxLog), "stopping to restart, as the township asked") {
		t.Errorf("the box exited with %d; its log:\n%s", e.cmd.ProcessState.ExitCode(), tail(boxLog, 2000))
	}
	// The supervisor (systemd, Restart=on-failure) starts it again.
	startEdge(t, cfgPath, dataDir)
	onlineAs(t, c, "beishan", true)

	var trail struct {
		Records []struct{ Actor, Action string }
	}
	c.do(t, "GET", "/api/v1/audit/recent?limit=20", nil, &trail, http.StatusOK)
	seen := map[string]bool{}
	for _, rec := range trail.Records {
		seen[rec.Actor+" "+rec.Action] = true
	}
	for _, want := range []string{"op POST /api/v1/boxes/{id}/diag/logs", "op POST /api/v1/boxes/{id}/diag/config", "admin POST /api/v1/boxes/{id}/restart"} {
		if !seen[want] {
			t.Errorf("the audit trail lacks %q: %+v", want, trail.Records)
		}
	}
}

// between is the text after from up to to in s; "" without from.
func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return strings.TrimSpace(v)
}
