package metrics

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dalaba/dalaba/protocol"
)

// Config is where the endpoint listens.
type Config struct {
	// Listen is host:port; empty: Run serves nothing.
	Listen string
	// Token, when set, is the bearer token a scrape must give.
	Token string
	// Version labels dalaba_edge_info.
	Version string
}

// Outbox is a reading of the outbox.
type Outbox struct {
	Events, Bytes uint64
	Oldest        time.Time // the oldest waiting event's time; zero when none
}

// Camera is a reading of one camera's relay.
type Camera struct {
	ID       string
	Viewers  int
	Pulling  bool
	Received uint64 // bytes
}

// Source reads the parts at scrape time. Every field is required.
type Source struct {
	Outbox       func() Outbox
	Connected    func() bool
	Connections  func() uint64
	AppliedRev   func() uint64
	Speakers     func() []protocol.SpeakerHealth
	Cameras      func() []Camera
	Viewers      func() int // WebRTC camera viewers
	Pages        func() int // WebRTC live pages
	ClockTrusted func() bool
	// DataDir is whose file system's space is reported.
	DataDir string
	Now     func() time.Time
}

// Metrics is the box's registry and endpoint. Make it with New.
type Metrics struct {
	cfg Config
	src Source
	log *slog.Logger
	reg *prometheus.Registry

	playbacks *prometheus.CounterVec
	skipped   *prometheus.CounterVec

	mu      sync.Mutex
	cameras map[string]bool // up, from the camera events

	ready chan struct{}
	addr  net.Addr
}

// Names of the metrics, as the package doc lists them.
const ns = "dalaba_edge_"

// New checks cfg and src and registers the metrics; it listens on nothing.
func New(cfg Config, src Source, log *slog.Logger) (*Metrics, error) {
	var errs []error
	if cfg.Listen != "" {
		if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
			errs = append(errs, fmt.Errorf("listen %q: %w", cfg.Listen, err))
		}
	}
	if src.Outbox == nil || src.Connected == nil || src.Connections == nil || src.AppliedRev == nil || src.Speakers == nil ||
		src.Cameras == nil || src.Viewers == nil || src.Pages == nil || src.ClockTrusted == nil || src.DataDir == "" {
		errs = append(errs, errors.New("a Source field is missing"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if src.Now == nil {
		src.Now = time.Now
	}
	m := &Metrics{
		cfg: cfg, src: src, log: log.With("component", "metrics"), reg: prometheus.NewRegistry(),
		playbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "playbacks_total",
			Help: "Playbacks by result: played, preempted, skipped, failed."}, []string{"result"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "playbacks_skipped_total",
			Help: "Scheduled occurrences not played, by reason."}, []string{"reason"}),
		cameras: map[string]bool{},
		ready:   make(chan struct{}),
	}
	// Results the playout knows from the start show as zero, so a rate
	// over them needs no first failure to exist.
	for _, r := range []string{"played", "preempted", "skipped", "failed"} {
		m.playbacks.WithLabelValues(r)
	}
	m.reg.MustRegister(m.playbacks, m.skipped, (*readings)(m),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m, nil
}

// Registry is the box's registry, for tests and for gathering.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Event counts an event the box recorded: playbacks by result, skips by
// reason, and each camera's state. data is the event's data as recorded
// (a protocol type, or its JSON).
func (m *Metrics) Event(typ string, data any) {
	switch typ {
	case protocol.EventPlayed:
		var pl protocol.PlayLog
		if decode(data, &pl) && pl.Result != "" {
			m.playbacks.WithLabelValues(pl.Result).Inc()
		}
	case protocol.EventSkipped:
		var s protocol.Skip
		if decode(data, &s) && s.Reason != "" {
			m.skipped.WithLabelValues(s.Reason).Add(float64(max(s.Count, 1)))
		}
	case protocol.EventCameraOnline, protocol.EventCameraOffline:
		var c protocol.CameraState
		if decode(data, &c) && c.Camera != "" {
			m.mu.Lock()
			m.cameras[c.Camera] = typ == protocol.EventCameraOnline
			m.mu.Unlock()
		}
	}
}

// decode reads an event's data into dst: the value itself when it is of
// dst's type, else through JSON.
func decode[T any](data any, dst *T) bool {
	if v, ok := data.(T); ok {
		*dst = v
		return true
	}
	b, err := json.Marshal(data)
	if raw, ok := data.(json.RawMessage); ok {
		b, err = raw, nil
	}
	return err == nil && json.Unmarshal(b, dst) == nil
}

// Handler serves the metrics, asking for the token when one is set.
func (m *Metrics) Handler() http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(m.log.Handler(), slog.LevelWarn)})
	if m.cfg.Token == "" {
		return h
	}
	want := []byte("Bearer " + m.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dalaba-edge metrics"`)
			http.Error(w, "a bearer token is required (edge.yaml metrics.token)", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Timings of the endpoint.
const (
	readHeaderTimeout = 5 * time.Second
	shutdownWait      = 2 * time.Second
)

// Run serves GET /metrics on Config.Listen until ctx ends; with no Listen
// it waits for ctx and returns.
func (m *Metrics) Run(ctx context.Context) error {
	if m.cfg.Listen == "" {
		close(m.ready)
		<-ctx.Done()
		return nil
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", m.cfg.Listen)
	if err != nil {
		close(m.ready)
		return fmt.Errorf("metrics: listen: %w", err)
	}
	m.addr = ln.Addr()
	close(m.ready)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog: slog.NewLogLogger(m.log.Handler(), slog.LevelWarn)}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	m.log.Info("serving metrics", "listen", ln.Addr().String(), "token", m.cfg.Token != "")
	select {
	case err := <-done:
		return fmt.Errorf("metrics: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownWait)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close() // the wait ran out; cut the scrapes left
	}
	<-done
	return nil
}

// Addr is the address Run listens on, once it does; nil when it does not.
func (m *Metrics) Addr(ctx context.Context) net.Addr {
	select {
	case <-m.ready:
		return m.addr
	case <-ctx.Done():
		return nil
	}
}

// readings is the collector of what is read at scrape time.
type readings Metrics

var (
	descInfo        = prometheus.NewDesc(ns+"info", "1, labelled with the software's version.", []string{"version"}, nil)
	descOutbox      = prometheus.NewDesc(ns+"outbox_events", "Events waiting for the township's ack.", nil, nil)
	descOutboxBytes = prometheus.NewDesc(ns+"outbox_bytes", "Stored bytes of the events waiting.", nil, nil)
	descOutboxAge   = prometheus.NewDesc(ns+"outbox_oldest_age_seconds", "How long the oldest waiting event has waited; 0 when none.", nil, nil)
	descConnected   = prometheus.NewDesc(ns+"uplink_connected", "1 while the MQTT session is up.", nil, nil)
	descConnections = prometheus.NewDesc(ns+"uplink_connections_total", "MQTT sessions made since the daemon started.", nil, nil)
	descRev         = prometheus.NewDesc(ns+"desired_rev", "The rev of the desired state applied.", nil, nil)
	descSpeaker     = prometheus.NewDesc(ns+"speaker_reachable", "1 when the speaker's driver last reached it.", []string{"speaker"}, nil)
	descCameraUp    = prometheus.NewDesc(ns+"camera_up", "1 after camera.online, 0 after camera.offline.", []string{"camera"}, nil)
	descPulling     = prometheus.NewDesc(ns+"camera_pulling", "1 while the relay pulls the camera.", []string{"camera"}, nil)
	descViewers     = prometheus.NewDesc(ns+"relay_viewers", "RTSP readers and WebRTC viewers of the camera now.", []string{"camera"}, nil)
	descReceived    = prometheus.NewDesc(ns+"relay_received_bytes_total", "Bytes received from the camera since it was configured.", []string{"camera"}, nil)
	descSessions    = prometheus.NewDesc(ns+"webrtc_sessions", "WebRTC sessions now, by kind: viewer or page.", []string{"kind"}, nil)
	descDiskFree    = prometheus.NewDesc(ns+"disk_free_bytes", "Free space of the data directory's file system.", nil, nil)
	descDiskTotal   = prometheus.NewDesc(ns+"disk_total_bytes", "Size of the data directory's file system.", nil, nil)
	descClock       = prometheus.NewDesc(ns+"clock_trusted", "1 when the box's clock is trusted.", nil, nil)
)

func (r *readings) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInfo, descOutbox, descOutboxBytes, descOutboxAge, descConnected, descConnections, descRev,
		descSpeaker, descCameraUp, descPulling, descViewers, descReceived, descSessions, descDiskFree, descDiskTotal, descClock} {
		ch <- d
	}
}

func (r *readings) Collect(ch chan<- prometheus.Metric) {
	s := r.src
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(descInfo, 1, r.cfg.Version)
	ob := s.Outbox()
	gauge(descOutbox, float64(ob.Events))
	gauge(descOutboxBytes, float64(ob.Bytes))
	age := 0.0
	if !ob.Oldest.IsZero() {
		age = max(0, s.Now().Sub(ob.Oldest).Seconds())
	}
	gauge(descOutboxAge, age)
	gauge(descConnected, boolean(s.Connected()))
	counter(descConnections, float64(s.Connections()))
	gauge(descRev, float64(s.AppliedRev()))
	for _, sp := range s.Speakers() {
		gauge(descSpeaker, boolean(sp.Reachable), sp.ID)
	}
	r.mu.Lock()
	for id, up := range r.cameras {
		gauge(descCameraUp, boolean(up), id)
	}
	r.mu.Unlock()
	for _, c := range s.Cameras() {
		gauge(descPulling, boolean(c.Pulling), c.ID)
		gauge(descViewers, float64(c.Viewers), c.ID)
		counter(descReceived, float64(c.Received), c.ID)
	}
	gauge(descSessions, float64(s.Viewers()), "viewer")
	gauge(descSessions, float64(s.Pages()), "page")
	var fs syscall.Statfs_t
	if err := syscall.Statfs(s.DataDir, &fs); err == nil {
		gauge(descDiskFree, float64(uint64(fs.Bavail)*uint64(fs.Bsize)))
		gauge(descDiskTotal, float64(uint64(fs.Blocks)*uint64(fs.Bsize)))
	}
	gauge(descClock, boolean(s.ClockTrusted()))
}

func boolean(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
