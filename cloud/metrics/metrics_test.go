package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/downlink"
	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/internal/promtest"
	"github.com/dalaba/dalaba/protocol"
)

var now = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

const token = "scrape-token-0123456789"

// A scrape parsed by Prometheus's own parser shows the fleet and what the
// service counted, every family and label as the package doc lists them;
// HTTP requests are labelled with the route pattern, not the path.
func TestAScrapeShowsTheTownshipAsDocumented(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, id := range []string{"dongshan", "xishan"} {
		if err := st.CreateBox(t.Context(), store.Box{ID: id, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.UpdateBox(t.Context(), "xishan", func(b *store.Box) error { b.OutboxBacklog = 40; return nil }); err != nil {
		t.Fatal(err)
	}
	pres, err := fleet.NewPresence(fleet.PresenceConfig{}, fleet.PresenceDeps{Logger: slog.New(slog.DiscardHandler), Store: st,
		Now: func() time.Time { return now.Add(-time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	pres.Connected("dongshan")
	pres.Limited("xishan", 3)
	m, err := New(Source{Boxes: st.ListBoxes, Link: pres.Link, Connected: func() bool { return true }, Undelivered: func() uint64 { return 7 },
		Shed: func() uint64 { return 5 }, Inflight: func() (int, int) { return 12, 65535 }, Connects: func() (uint64, uint64) { return 30, 2 },
		AlertsOpen: func() int { return 1 }, AlertsSent: func() (uint64, uint64) { return 4, 1 }, Now: func() time.Time { return now }}, "1.2.3", nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Stored("dongshan", store.Appended{}, []store.Event{
		{Seq: 1, Time: now.Add(-3 * time.Second), ReceivedAt: now}, {Seq: 2, Time: now.Add(-2 * time.Hour), ReceivedAt: now}})
	m.Command(protocol.CmdPlay, protocol.CommandResult{OK: true}, nil)
	m.Command(protocol.CmdPlay, protocol.CommandResult{Code: protocol.CodeBusy}, nil)
	m.Command(protocol.CmdDiagLogs, protocol.CommandResult{}, fmt.Errorf("x: %w", downlink.ErrNoResult))
	m.Command("made.up", protocol.CommandResult{}, fmt.Errorf("x: %w", downlink.ErrNotConnected))

	// The service's muxes, nested as in cloud.go: the outer one passes
	// the API on, whose mux names the route.
	api := http.NewServeMux()
	api.HandleFunc("GET /api/v1/boxes/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) })
	outer := http.NewServeMux()
	outer.Handle("GET /metrics", m.Handler(token))
	outer.Handle("/", api)
	srv := httptest.NewServer(m.HTTP(outer))
	defer srv.Close()
	for _, p := range []string{"/api/v1/boxes/dongshan", "/api/v1/boxes/xishan"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	fams := promtest.Scrape(t, srv.URL+"/metrics", token)
	promtest.CheckDoc(t, fams, promtest.ReadDoc(t, "doc.go", "dalaba_cloud_"), "dalaba_cloud_")
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"dalaba_cloud_info", map[string]string{"version": "1.2.3"}, 1},
		{"dalaba_cloud_boxes", nil, 2},
		{"dalaba_cloud_boxes_online", nil, 1},
		{"dalaba_cloud_box_online", map[string]string{"box": "dongshan"}, 1},
		{"dalaba_cloud_box_online", map[string]string{"box": "xishan"}, 0},
		{"dalaba_cloud_box_last_seen_age_seconds", map[string]string{"box": "dongshan"}, 60},
		{"dalaba_cloud_box_outbox_backlog", map[string]string{"box": "xishan"}, 40},
		{"dalaba_cloud_ingest_batches_total", nil, 1},
		{"dalaba_cloud_ingest_events_total", nil, 2},
		{"dalaba_cloud_ingest_lag_seconds", nil, 2}, // its count
		{"dalaba_cloud_commands_total", map[string]string{"type": protocol.CmdPlay, "result": "ok"}, 1},
		{"dalaba_cloud_commands_total", map[string]string{"type": protocol.CmdPlay, "result": protocol.CodeBusy}, 1},
		{"dalaba_cloud_commands_total", map[string]string{"type": protocol.CmdDiagLogs, "result": "no_answer"}, 1},
		{"dalaba_cloud_commands_total", map[string]string{"type": "other", "result": "not_connected"}, 1},
		{"dalaba_cloud_http_request_duration_seconds", map[string]string{"route": "GET /api/v1/boxes/{id}", "code": "4xx"}, 2},
		{"dalaba_cloud_broker_undelivered_total", nil, 7},
		{"dalaba_cloud_ingest_shed_total", nil, 5},
		{"dalaba_cloud_broker_rate_limited_total", map[string]string{"box": "xishan"}, 3},
		{"dalaba_cloud_broker_township_inflight", nil, 12},
		{"dalaba_cloud_broker_township_inflight_window", nil, 65535},
		{"dalaba_cloud_broker_connects_total", map[string]string{"outcome": "paced"}, 30},
		{"dalaba_cloud_broker_connects_total", map[string]string{"outcome": "refused_busy"}, 2},
		{"dalaba_cloud_mqtt_connected", nil, 1},
		{"dalaba_cloud_alerts_open", nil, 1},
		{"dalaba_cloud_alert_deliveries_total", map[string]string{"outcome": "failed"}, 1},
	} {
		if got, ok := promtest.Value(fams, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	for _, m := range fams["dalaba_cloud_http_request_duration_seconds"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" && (l.GetValue() == "/api/v1/boxes/dongshan" || l.GetValue() == "/api/v1/boxes/xishan") {
				t.Errorf("a raw path as the route label: %s", l.GetValue())
			}
		}
	}
}

func TestTheEndpointWantsItsToken(t *testing.T) {
	m, err := New(Source{Boxes: func(context.Context) ([]store.Box, error) { return nil, nil }, Link: func(store.Box) fleet.Link { return fleet.Link{} }}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []http.Handler{m.Handler(token), m.Handler("")} {
		srv := httptest.NewServer(h)
		for _, auth := range []string{"", "Bearer nope", "Bearer "} {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
			req.Header.Set("Authorization", auth)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("Authorization %q: %s", auth, resp.Status)
			}
		}
		srv.Close()
	}
}
