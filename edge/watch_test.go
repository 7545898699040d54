package edge

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/internal/promtest"
	"github.com/dalaba/dalaba/protocol"
)

// freeAddr is a loopback address nothing listens on yet.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Support reads the box's log and configuration and checks its links
// through signed commands; the answers hold no secret.
func TestDiagnosticsThroughSignedCommands(t *testing.T) {
	brokerURL := embeddedBroker(t)
	tw := newTownship(t, brokerURL, "diag-1")
	cfg := testConfig(t, brokerURL, "diag-1", tw.key.Public().(ed25519.PublicKey))
	cfg.Broker.Password = "broker-secret-42"
	cfg.Metrics.Listen, cfg.Metrics.Token = freeAddr(t), "metrics-token-0123"
	b := startBox(t, cfg)
	tw.eventually("the box online", func() bool {
		var s protocol.Status
		return tw.last(protocol.KindStatus, &s) && s.Online
	})

	tw.publish(protocol.KindCmd, signed(t, tw.key, "diag-1", "d-logs", protocol.CmdDiagLogs, protocol.DiagLogsArgs{Lines: 50}, time.Minute), false)
	r := tw.waitResult("d-logs")
	var logs protocol.DiagLogs
	if !r.OK || json.Unmarshal(r.Data, &logs) != nil || len(logs.Lines) == 0 {
		t.Fatalf("logs: %+v", r)
	}
	if !strings.Contains(strings.Join(logs.Lines, "\n"), "msg=connected") {
		t.Errorf("the box's log lacks its connection:\n%s", strings.Join(logs.Lines, "\n"))
	}

	tw.publish(protocol.KindCmd, signed(t, tw.key, "diag-1", "d-cfg", protocol.CmdDiagConfig, nil, time.Minute), false)
	r = tw.waitResult("d-cfg")
	var c protocol.DiagConfig
	if !r.OK || json.Unmarshal(r.Data, &c) != nil {
		t.Fatalf("config: %+v", r)
	}
	if strings.Contains(string(r.Data), "broker-secret-42") || strings.Contains(string(r.Data), "metrics-token-0123") ||
		!strings.Contains(c.YAML, "box_id: diag-1") || len(c.Redacted) != 2 {
		t.Errorf("config answer: %s", r.Data)
	}

	tw.publish(protocol.KindCmd, signed(t, tw.key, "diag-1", "d-check", protocol.CmdDiagCheck, nil, time.Minute), false)
	r = tw.waitResult("d-check")
	var chk protocol.DiagCheck
	if !r.OK || json.Unmarshal(r.Data, &chk) != nil || len(chk.Probes) != 2 || !chk.Probes[0].OK || chk.Probes[0].Target != protocol.ProbeBroker {
		t.Errorf("check: %+v %s", r, r.Data)
	}

	// The metrics endpoint answers the token only, with the box's own
	// readings.
	fams := promtest.Scrape(t, "http://"+cfg.Metrics.Listen+"/metrics", cfg.Metrics.Token)
	if v, ok := promtest.Value(fams, "dalaba_edge_uplink_connected", nil); !ok || v != 1 {
		t.Errorf("uplink_connected %v %v", v, ok)
	}
	if v, ok := promtest.Value(fams, "dalaba_edge_uplink_connections_total", nil); !ok || v < 1 {
		t.Errorf("uplink_connections_total %v %v", v, ok)
	}

	// A restart is answered, then the box stops in order and Run says why.
	tw.publish(protocol.KindCmd, signed(t, tw.key, "diag-1", "d-restart", protocol.CmdDiagRestart, protocol.DiagRestartArgs{Reason: "test"}, time.Minute), false)
	r = tw.waitResult("d-restart")
	if !r.OK || string(r.Data) != `{"restarting":true}` {
		t.Errorf("restart: %+v", r)
	}
	select {
	case err := <-b.done:
		if !errors.Is(err, ErrRestart) {
			t.Errorf("Run returned %v, want ErrRestart", err)
		}
		b.done <- nil
	case <-time.After(15 * time.Second):
		t.Fatal("the box did not stop after the restart command")
	}
	tw.eventually("the box offline", func() bool {
		var s protocol.Status
		return tw.last(protocol.KindStatus, &s) && !s.Online
	})
}
