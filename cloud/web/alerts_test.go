package web

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/cloud/alert"
	"github.com/dalaba/dalaba/cloud/notify"
	"github.com/dalaba/dalaba/cloud/notify/notifytest"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// newAlertsEnv is an API with the alert engine behind its test route.
func newAlertsEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, func(d *Deps) {
		eng, err := alert.New(alert.Config{}, alert.Deps{Logger: slog.New(slog.DiscardHandler), Store: d.Store.(alert.Store), Presence: d.Fleet})
		if err != nil {
			t.Fatal(err)
		}
		d.Alerts = eng
	})
}

// An admin sets up a DingTalk channel: its access token and signing secret
// are never shown again, not even in the audit trail, and what was read
// can be written back; a test message reaches the robot signed.
func TestAlertChannelsKeepTheirKeys(t *testing.T) {
	e := newAlertsEnv(t)
	rcv := notifytest.New(t, nil)
	ding := rcv.Channel(notify.KindDingTalk)
	admin, viewer := e.tokens[store.RoleAdmin], e.tokens[store.RoleViewer]
	body, _ := json.Marshal(map[string]any{"name": "值班群", "kind": "dingtalk", "url": ding.URL, "secret": ding.Secret})
	before := len(e.trail(t))
	if code := e.call(t, admin, "PUT", "/api/v1/alerts/channels/duty", string(body), nil); code != 200 {
		t.Fatalf("put channel: %d", code)
	}
	var set struct {
		Channels []channelJSON
		Rules    []ruleJSON
	}
	if code := e.call(t, viewer, "GET", "/api/v1/alerts/settings", "", &set); code != 200 {
		t.Fatalf("settings: %d", code)
	}
	raw, _ := json.Marshal(set)
	if strings.Contains(string(raw), notifytest.DingTalkToken) || strings.Contains(string(raw), notifytest.DingTalkSecret) ||
		len(set.Channels) != 1 || !set.Channels[0].SecretSet || !strings.HasSuffix(set.Channels[0].URL, "/robot/send?…") {
		t.Errorf("settings show %s", raw)
	}
	if len(set.Rules) != len(alert.Kinds()) {
		t.Errorf("%d rules, want one of each kind", len(set.Rules))
	}
	recs := e.since(t, before)
	if len(recs) != 1 || strings.Contains(string(recs[0].After), notifytest.DingTalkToken) || strings.Contains(string(recs[0].After), "SEC") {
		t.Errorf("audit %+v", recs)
	}

	// Renamed without url or secret: both kept.
	if code := e.call(t, admin, "PUT", "/api/v1/alerts/channels/duty", `{"name":"乡镇值班群","kind":"dingtalk"}`, nil); code != 200 {
		t.Fatalf("rename: %d", code)
	}
	var out struct{ Alert alertJSON }
	if code := e.call(t, admin, "POST", "/api/v1/alerts/channels/duty/test", "", &out); code != 200 || out.Alert.Deliveries[0].Status != store.AlertDeliverySent {
		t.Fatalf("test: %d %+v (refused %v)", code, out, rcv.Refused())
	}
	if got := rcv.Received(); len(got) != 1 || !strings.Contains(got[0].Text, "乡镇值班群") {
		t.Errorf("received %+v", got)
	}

	// A wrong secret: 502, and the log says why.
	if code := e.call(t, admin, "PUT", "/api/v1/alerts/channels/duty", `{"name":"乡镇值班群","kind":"dingtalk","secret":"SECwrong"}`, nil); code != 200 {
		t.Fatalf("put: %d", code)
	}
	if code := e.call(t, admin, "POST", "/api/v1/alerts/channels/duty/test", "", nil); code != 502 {
		t.Errorf("a test with a wrong secret: %d, want 502", code)
	}
	var log struct{ Alerts []alertJSON }
	e.call(t, viewer, "GET", "/api/v1/alerts?limit=5", "", &log)
	if len(log.Alerts) != 2 || log.Alerts[0].Deliveries[0].Status != store.AlertDeliveryFailed || !strings.Contains(log.Alerts[0].Deliveries[0].Error, "310000") {
		t.Errorf("alert log %+v", log.Alerts)
	}
	if code := e.call(t, viewer, "PUT", "/api/v1/alerts/channels/duty", `{"name":"x","kind":"dingtalk"}`, nil); code != 403 {
		t.Errorf("a viewer changed a channel: %d", code)
	}
}

func TestAlertRulesAndQuietHours(t *testing.T) {
	e := newAlertsEnv(t)
	admin := e.tokens[store.RoleAdmin]
	e.call(t, admin, "PUT", "/api/v1/alerts/channels/office", `{"name":"镇政府群","kind":"wecom","url":"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}`, nil)
	for _, c := range []struct {
		path, body string
		want       int
	}{
		{"/api/v1/alerts/rules/box_offline", `{"enabled":true,"hold_down":"2m","urgent":true,"channels":["office"]}`, 200},
		{"/api/v1/alerts/rules/box_offline", `{"enabled":true,"hold_down":"soon"}`, 400},
		{"/api/v1/alerts/rules/box_offline", `{"enabled":true,"hold_down":"2m","channels":["gone"]}`, 400},
		{"/api/v1/alerts/rules/disk_low", `{"enabled":true,"hold_down":"30m","threshold":95}`, 400},
		{"/api/v1/alerts/rules/meteor_strike", `{"enabled":true,"hold_down":"2m"}`, 400},
		{"/api/v1/alerts/quiet", `{"from":"22:00","to":"07:00","zone":"Asia/Shanghai"}`, 200},
		{"/api/v1/alerts/quiet", `{"from":"22:00","to":"22:00","zone":"Asia/Shanghai"}`, 400},
	} {
		if code := e.call(t, admin, "PUT", c.path, c.body, nil); code != c.want {
			t.Errorf("PUT %s %s: %d, want %d", c.path, c.body, code, c.want)
		}
	}
	var set struct {
		Rules []ruleJSON
		Quiet *quietJSON
	}
	e.call(t, admin, "GET", "/api/v1/alerts/settings", "", &set)
	if set.Rules[0].HoldDown != "2m0s" || !set.Rules[0].Urgent || set.Quiet == nil || set.Quiet.To != "07:00" {
		t.Errorf("settings %+v %+v", set.Rules[0], set.Quiet)
	}
	// Deleting the channel takes it out of the rule that named it.
	if code := e.call(t, admin, "DELETE", "/api/v1/alerts/channels/office", "", &set); code != 200 || len(set.Rules[0].Channels) != 0 {
		t.Errorf("delete: %d %+v", code, set.Rules[0])
	}
	if code := e.call(t, admin, "DELETE", "/api/v1/alerts/quiet", "", &set); code != 200 || set.Quiet != nil {
		t.Errorf("quiet not cleared: %d %+v", code, set.Quiet)
	}
}

// Diagnostics reach the box as signed commands and answer its data; a box
// that refuses is 409; a restart is for admins only.
func TestDiagnosticsRoutes(t *testing.T) {
	e := newEnv(t)
	e.addBox(t)
	op, admin := e.tokens[store.RoleOperator], e.tokens[store.RoleAdmin]
	e.dl.res = &protocol.CommandResult{V: 1, ID: "c", OK: true, Data: json.RawMessage(`{"lines":["time=x level=INFO msg=hello"],"lost":0}`)}
	var logs protocol.DiagLogs
	if code := e.call(t, op, "POST", "/api/v1/boxes/village-1/diag/logs", `{"lines":20,"level":"info"}`, &logs); code != 200 || len(logs.Lines) != 1 {
		t.Fatalf("logs: %d %+v", code, logs)
	}
	if last := e.dl.sent[len(e.dl.sent)-1]; !strings.Contains(last, protocol.CmdDiagLogs+` {"lines":20,"level":"info"}`) {
		t.Errorf("sent %s", last)
	}
	if code := e.call(t, op, "POST", "/api/v1/boxes/village-1/diag/logs", `{"lines":99999}`, nil); code != 400 {
		t.Errorf("too many lines: %d", code)
	}
	e.dl.res = &protocol.CommandResult{V: 1, ID: "c", Code: protocol.CodeUnknownCommand, Error: "no handler for diag.check"}
	if code := e.call(t, op, "POST", "/api/v1/boxes/village-1/diag/check", "", nil); code != 409 {
		t.Errorf("a box without diagnostics: %d, want 409", code)
	}
	e.dl.res = &protocol.CommandResult{V: 1, ID: "c", OK: true, Data: json.RawMessage(`{"restarting":true}`)}
	if code := e.call(t, op, "POST", "/api/v1/boxes/village-1/restart", "", nil); code != 403 {
		t.Errorf("an operator restarted a box: %d", code)
	}
	before := len(e.trail(t))
	var r protocol.DiagRestart
	if code := e.call(t, admin, "POST", "/api/v1/boxes/village-1/restart", "", &r); code != 200 || !r.Restarting {
		t.Errorf("restart: %d %+v", code, r)
	}
	if recs := e.since(t, before); len(recs) != 1 || recs[0].Action != "POST /api/v1/boxes/{id}/restart" || recs[0].Actor != "admin" {
		t.Errorf("the restart's audit record: %+v", recs)
	}
	if last := e.dl.sent[len(e.dl.sent)-1]; !strings.Contains(last, `"reason":"restarted by admin"`) {
		t.Errorf("sent %s", last)
	}
	e.dl.res = &protocol.CommandResult{V: 1, ID: "c", OK: true, Data: json.RawMessage(`"not a config"`)}
	if code := e.call(t, op, "POST", "/api/v1/boxes/village-1/diag/config", "", nil); code != 502 {
		t.Errorf("an answer that does not decode: %d, want 502", code)
	}
}
