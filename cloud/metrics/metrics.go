package metrics

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dalaba/dalaba/cloud/downlink"
	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Source reads the service at scrape time. Boxes and Link are required;
// the others may be nil (no embedded broker, no alerting).
type Source struct {
	Boxes       func(ctx context.Context) ([]store.Box, error)
	Link        func(b store.Box) fleet.Link
	Connected   func() bool
	Undelivered func() uint64
	// Shed counts the event batches a replica left to their boxes
	// because its worker was behind; nil for a service alone.
	Shed func() uint64
	// Inflight and Connects read the embedded broker: the service's
	// session's unacknowledged messages and its window; box connects
	// paced and refused as busy.
	Inflight   func() (n, window int)
	Connects   func() (paced, refused uint64)
	AlertsOpen func() int
	AlertsSent func() (sent, failed uint64)
	Now        func() time.Time
}

// Metrics is the township's registry. Make it with New.
type Metrics struct {
	src     Source
	version string
	log     *slog.Logger
	reg     *prometheus.Registry

	batches  prometheus.Counter
	events   prometheus.Counter
	lag      prometheus.Histogram
	commands *prometheus.CounterVec
	http     *prometheus.HistogramVec
}

const ns = "dalaba_cloud_"

// scrapeTimeout bounds the store read of a scrape.
const scrapeTimeout = 5 * time.Second

// New checks src and registers the metrics.
func New(src Source, version string, log *slog.Logger) (*Metrics, error) {
	if src.Boxes == nil || src.Link == nil {
		return nil, errors.New("metrics: Source.Boxes and Link are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if src.Now == nil {
		src.Now = time.Now
	}
	m := &Metrics{
		src: src, version: version, log: log.With("component", "metrics"), reg: prometheus.NewRegistry(),
		batches: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "ingest_batches_total", Help: "Event batches stored."}),
		events:  prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "ingest_events_total", Help: "Events stored."}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: ns + "ingest_lag_seconds",
			Help: "From an event's time on the box to its storing at the township.",
			// A box online sends within seconds; one back from an outage
			// sends hours or days of backlog.
			Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600, 6 * 3600, 24 * 3600, 7 * 24 * 3600}}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "commands_total",
			Help: "Commands sent to boxes, by type and result."}, []string{"type", "result"}),
		http: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: ns + "http_request_duration_seconds",
			Help: "HTTP requests by route pattern and status class.", Buckets: prometheus.DefBuckets}, []string{"route", "code"}),
	}
	m.reg.MustRegister(m.batches, m.events, m.lag, m.commands, m.http, (*readings)(m),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m, nil
}

// Registry is the service's registry.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Stored counts a batch of events once it is stored (ingest's hook).
func (m *Metrics) Stored(_ string, _ store.Appended, evs []store.Event) {
	m.batches.Inc()
	m.events.Add(float64(len(evs)))
	for _, e := range evs {
		if !e.Time.IsZero() && !e.ReceivedAt.IsZero() {
			m.lag.Observe(max(0, e.ReceivedAt.Sub(e.Time).Seconds()))
		}
	}
}

// commandTypes are the command types counted by name; others count as
// "other", so a caller cannot grow the label set.
var commandTypes = []string{
	protocol.CmdPlay, protocol.CmdStop, protocol.CmdVolume, protocol.CmdWHEP, protocol.CmdWHEPStop, protocol.CmdPage, protocol.CmdPageStop,
	protocol.CmdDiagLogs, protocol.CmdDiagConfig, protocol.CmdDiagCheck, protocol.CmdDiagRestart, "ping",
}

// resultCodes are the box's codes counted by name.
var resultCodes = []string{protocol.CodeExpired, protocol.CodeUnknownCommand, protocol.CodeInvalidArgs, protocol.CodeBusy, protocol.CodeFailed}

// Command counts a command's outcome as downlink.SendCommand returned it.
func (m *Metrics) Command(typ string, res protocol.CommandResult, err error) {
	if !slices.Contains(commandTypes, typ) {
		typ = "other"
	}
	result := "ok"
	switch {
	case errors.Is(err, downlink.ErrNotConnected):
		result = "not_connected"
	case errors.Is(err, downlink.ErrInvalidCommand):
		result = "invalid"
	case errors.Is(err, downlink.ErrExpired):
		result = protocol.CodeExpired
	case err != nil:
		result = "no_answer"
	case !res.OK:
		result = protocol.CodeFailed
		if slices.Contains(resultCodes, res.Code) {
			result = res.Code
		}
	}
	m.commands.WithLabelValues(typ, result).Inc()
}

// HTTP times each request next serves, labelled with the route pattern
// the service's muxes matched (they set it on the request as they route
// it) and the status class. Event streams, which last as long as a page
// is open, are left out.
func (m *Metrics) HTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if strings.HasPrefix(sw.Header().Get("Content-Type"), "text/event-stream") {
			return
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		m.http.WithLabelValues(route, fmt.Sprintf("%dxx", status/100)).Observe(time.Since(start).Seconds())
	})
}

// statusWriter notes the status; Unwrap lets http.ResponseController
// reach the writer's flushing and deadlines.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Handler serves the metrics to a scrape that gives token as its bearer
// token.
func (m *Metrics) Handler(token string) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(m.log.Handler(), slog.LevelWarn)})
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" || subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dalaba-cloud metrics"`)
			http.Error(w, "a bearer token is required (cloud.yaml metrics.token)", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// readings is the collector of what is read at scrape time.
type readings Metrics

var (
	descInfo        = prometheus.NewDesc(ns+"info", "1, labelled with the software's version.", []string{"version"}, nil)
	descBoxes       = prometheus.NewDesc(ns+"boxes", "Boxes registered.", nil, nil)
	descOnline      = prometheus.NewDesc(ns+"boxes_online", "Boxes connected now.", nil, nil)
	descBoxOnline   = prometheus.NewDesc(ns+"box_online", "1 while the box is connected.", []string{"box"}, nil)
	descLastSeen    = prometheus.NewDesc(ns+"box_last_seen_age_seconds", "Seconds since the box's last sign of life.", []string{"box"}, nil)
	descBacklog     = prometheus.NewDesc(ns+"box_outbox_backlog", "Events waiting on the box, as it last reported.", []string{"box"}, nil)
	descConnected   = prometheus.NewDesc(ns+"mqtt_connected", "1 while the service's MQTT connection is up.", nil, nil)
	descUndelivered = prometheus.NewDesc(ns+"broker_undelivered_total", "Messages the embedded broker dropped instead of delivering.", nil, nil)
	descLimited     = prometheus.NewDesc(ns+"broker_rate_limited_total", "The box's messages the broker dropped over its publish limit.", []string{"box"}, nil)
	descInflight    = prometheus.NewDesc(ns+"broker_township_inflight", "Messages the embedded broker holds unacknowledged for the service's session.", nil, nil)
	descWindow      = prometheus.NewDesc(ns+"broker_township_inflight_window", "The most the service's session may hold; past it the broker drops (undelivered).", nil, nil)
	descConnects    = prometheus.NewDesc(ns+"broker_connects_total", "Box connects the embedded broker held for their turn (paced) or refused as busy.", []string{"outcome"}, nil)
	descShed        = prometheus.NewDesc(ns+"ingest_shed_total", "Event batches this replica left to their boxes, which send them again, because its worker was behind.", nil, nil)
	descAlertsOpen  = prometheus.NewDesc(ns+"alerts_open", "Alert incidents open now.", nil, nil)
	descDeliveries  = prometheus.NewDesc(ns+"alert_deliveries_total", "Alert messages sent or given up since the start.", []string{"outcome"}, nil)
)

func (r *readings) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInfo, descBoxes, descOnline, descBoxOnline, descLastSeen, descBacklog, descConnected,
		descUndelivered, descShed, descLimited, descInflight, descWindow, descConnects, descAlertsOpen, descDeliveries} {
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
	gauge(descInfo, 1, r.version)
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	boxes, err := s.Boxes(ctx)
	if err != nil {
		r.log.Warn("scrape: reading the boxes", "err", err)
		ch <- prometheus.NewInvalidMetric(descBoxes, err)
	} else {
		now, online := s.Now(), 0
		gauge(descBoxes, float64(len(boxes)))
		for _, b := range boxes {
			l := s.Link(b)
			if l.Online {
				online++
			}
			gauge(descBoxOnline, boolean(l.Online), b.ID)
			if !l.LastSeen.IsZero() {
				gauge(descLastSeen, max(0, now.Sub(l.LastSeen).Seconds()), b.ID)
			}
			gauge(descBacklog, float64(b.OutboxBacklog), b.ID)
			if s.Undelivered != nil {
				counter(descLimited, float64(l.RateLimited), b.ID)
			}
		}
		gauge(descOnline, float64(online))
	}
	if s.Connected != nil {
		gauge(descConnected, boolean(s.Connected()))
	}
	if s.Undelivered != nil {
		counter(descUndelivered, float64(s.Undelivered()))
	}
	if s.Shed != nil {
		counter(descShed, float64(s.Shed()))
	}
	if s.Inflight != nil {
		n, window := s.Inflight()
		gauge(descInflight, float64(n))
		gauge(descWindow, float64(window))
	}
	if s.Connects != nil {
		paced, refused := s.Connects()
		counter(descConnects, float64(paced), "paced")
		counter(descConnects, float64(refused), "refused_busy")
	}
	if s.AlertsOpen != nil {
		gauge(descAlertsOpen, float64(s.AlertsOpen()))
	}
	if s.AlertsSent != nil {
		sent, failed := s.AlertsSent()
		counter(descDeliveries, float64(sent), "sent")
		counter(descDeliveries, float64(failed), "failed")
	}
}

func boolean(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
