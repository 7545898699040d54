package metrics

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/dalaba/dalaba/internal/promtest"
	"github.com/dalaba/dalaba/protocol"
)

var now = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

// source reads a box with a speaker of each state, a camera being watched
// and one that is not, and a backlog a minute and a half old.
func source(t *testing.T) Source {
	return Source{
		Outbox:      func() Outbox { return Outbox{Events: 12, Bytes: 3400, Oldest: now.Add(-90 * time.Second)} },
		Connected:   func() bool { return true },
		Connections: func() uint64 { return 3 },
		AppliedRev:  func() uint64 { return 7 },
		Speakers: func() []protocol.SpeakerHealth {
			return []protocol.SpeakerHealth{{ID: "square", Reachable: true}, {ID: "school"}}
		},
		Cameras: func() []Camera {
			return []Camera{{ID: "gate", Viewers: 2, Pulling: true, Received: 1 << 20}, {ID: "yard"}}
		},
		Viewers:      func() int { return 1 },
		Pages:        func() int { return 0 },
		ClockTrusted: func() bool { return true },
		DataDir:      t.TempDir(),
		Now:          func() time.Time { return now },
	}
}

func serve(t *testing.T, cfg Config, src Source) (*Metrics, string) {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	m, err := New(cfg, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	addr := m.Addr(t.Context())
	if addr == nil {
		t.Fatal("not listening")
	}
	return m, "http://" + addr.String() + "/metrics"
}

// A scrape parsed by Prometheus's own parser shows what the box counts,
// every family and label as the package doc lists them.
func TestAScrapeShowsWhatTheBoxCountsAsDocumented(t *testing.T) {
	m, url := serve(t, Config{Version: "1.2.3"}, source(t))
	m.Event(protocol.EventPlayed, protocol.PlayLog{Result: "played"})
	m.Event(protocol.EventPlayed, json.RawMessage(`{"item_id":"x","media":[],"priority":"scheduled","zones":[],"speakers":[],"result":"failed"}`))
	m.Event(protocol.EventSkipped, protocol.Skip{ScheduleID: "s", Reason: "quiet_hours", Count: 3})
	m.Event(protocol.EventCameraOnline, protocol.CameraState{Camera: "gate"})
	m.Event(protocol.EventCameraOffline, protocol.CameraState{Camera: "yard", Error: "refused"})
	m.Event(protocol.EventHealth, protocol.Health{})

	fams := promtest.Scrape(t, url, "")
	promtest.CheckDoc(t, fams, promtest.ReadDoc(t, "doc.go", "dalaba_edge_"), "dalaba_edge_")
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"dalaba_edge_info", map[string]string{"version": "1.2.3"}, 1},
		{"dalaba_edge_outbox_events", nil, 12},
		{"dalaba_edge_outbox_oldest_age_seconds", nil, 90},
		{"dalaba_edge_uplink_connections_total", nil, 3},
		{"dalaba_edge_desired_rev", nil, 7},
		{"dalaba_edge_playbacks_total", map[string]string{"result": "played"}, 1},
		{"dalaba_edge_playbacks_total", map[string]string{"result": "failed"}, 1},
		{"dalaba_edge_playbacks_total", map[string]string{"result": "preempted"}, 0},
		{"dalaba_edge_playbacks_skipped_total", map[string]string{"reason": "quiet_hours"}, 3},
		{"dalaba_edge_speaker_reachable", map[string]string{"speaker": "square"}, 1},
		{"dalaba_edge_speaker_reachable", map[string]string{"speaker": "school"}, 0},
		{"dalaba_edge_camera_up", map[string]string{"camera": "gate"}, 1},
		{"dalaba_edge_camera_up", map[string]string{"camera": "yard"}, 0},
		{"dalaba_edge_relay_viewers", map[string]string{"camera": "gate"}, 2},
		{"dalaba_edge_relay_received_bytes_total", map[string]string{"camera": "gate"}, 1 << 20},
		{"dalaba_edge_webrtc_sessions", map[string]string{"kind": "viewer"}, 1},
		{"dalaba_edge_clock_trusted", nil, 1},
	} {
		if got, ok := promtest.Value(fams, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if free, ok := promtest.Value(fams, "dalaba_edge_disk_free_bytes", nil); !ok || free <= 0 {
		t.Errorf("disk free %v", free)
	}
	if _, ok := fams["process_resident_memory_bytes"]; !ok {
		t.Error("no process metrics")
	}
}

// With a token, a scrape without it is refused.
func TestATokenGuardsTheEndpoint(t *testing.T) {
	_, url := serve(t, Config{Token: "0123456789abcdef"}, source(t))
	for _, auth := range []string{"", "Bearer wrong", "0123456789abcdef"} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %s, want 401", auth, resp.Status)
		}
	}
	if fams := promtest.Scrape(t, url, "0123456789abcdef"); len(fams) == 0 {
		t.Error("nothing with the token")
	}
}

// Unset, the endpoint opens no port and Run just waits.
func TestNoListenServesNothing(t *testing.T) {
	m, err := New(Config{}, source(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	if a := m.Addr(t.Context()); a != nil {
		t.Errorf("listening on %s", a)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

func TestNewRefusesAnIncompleteSource(t *testing.T) {
	s := source(t)
	s.Speakers = nil
	if _, err := New(Config{}, s, nil); err == nil {
		t.Error("accepted a source without speakers")
	}
	if _, err := New(Config{Listen: "9101"}, source(t), nil); err == nil {
		t.Error("accepted a listen address without a host")
	}
}
