package edge

import (
	"errors"
	"log/slog"
	"sync"

	"github.com/dalaba/dalaba/edge/config"
	"github.com/dalaba/dalaba/edge/desired"
	"github.com/dalaba/dalaba/edge/diag"
	"github.com/dalaba/dalaba/edge/logring"
	"github.com/dalaba/dalaba/edge/metrics"
)

// What lets the township look after the box from afar: the ring of its
// latest log lines, the diagnostics commands, the metrics endpoint, and a
// restart on request.

// ErrRestart is what Run returns, after a clean stop, when the township
// asked for a restart (diag.restart): the daemon exits with a failure
// status and its service manager starts it again.
var ErrRestart = errors.New("edge: stopped to restart, as the township asked")

// withRing returns log teeing into a new ring of the box's latest lines,
// bounded by the config's diag section.
func withRing(log *slog.Logger, d config.Diag) (*slog.Logger, *logring.Ring, error) {
	ring, err := logring.New(logring.Config{Lines: d.LogLines, Bytes: d.LogBytes, Level: d.Level()})
	if err != nil {
		return nil, nil, err
	}
	return slog.New(ring.Handler(log.Handler())), ring, nil
}

// restarter carries a restart from the command that asked for it to Run:
// the command names its id (arm), and once its answer is handed to the
// uplink (answered), Run is told (due).
type restarter struct {
	mu     sync.Mutex
	id     string
	reason string
	due    chan string // the reason; buffered 1
}

func newRestarter() *restarter { return &restarter{due: make(chan string, 1)} }

func (r *restarter) arm(id, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.id, r.reason = id, reason
}

// answered is told of every command result as it is handed on.
func (r *restarter) answered(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id == "" || id != r.id {
		return
	}
	r.id = ""
	select {
	case r.due <- r.reason:
	default: // one restart is already due
	}
}

// buildWatch makes the diagnostics and the metrics over the parts build
// made.
func (e *Edge) buildWatch() error {
	cfg := e.cfg
	var err error
	e.dg, err = diag.New(diag.Config{ProbeTimeout: cfg.Diag.ProbeTimeout, BrokerURL: cfg.Broker.URL, TownshipURL: cfg.Media.URL}, diag.Deps{
		Logger: e.d.Logger, Ring: e.ring, Config: cfg.Redacted, Speakers: e.po.Speakers, Restart: e.restart.arm, Now: e.d.Clock.Now,
	})
	if err != nil {
		return err
	}
	e.dg.Register(e.cmd)
	e.ap.Subscribe(func(s desired.State) { e.dg.SetSpec(s.Spec) })
	e.met, err = metrics.New(metrics.Config{Listen: cfg.Metrics.Listen, Token: cfg.Metrics.Token, Version: e.d.Version}, metrics.Source{
		Outbox:      e.outboxReading,
		Connected:   e.up.Connected,
		Connections: e.up.Sessions,
		AppliedRev:  e.ap.AppliedRev,
		Speakers:    e.po.Speakers,
		Cameras: func() []metrics.Camera {
			var out []metrics.Camera
			for _, s := range e.rl.Stats() {
				out = append(out, metrics.Camera{ID: s.ID, Viewers: s.Readers, Pulling: s.Connected, Received: s.Bytes})
			}
			return out
		},
		Viewers:      e.wh.Sessions,
		Pages:        e.pg.Sessions,
		ClockTrusted: func() bool { return e.mon.Trusted(e.d.Clock.Now()) },
		DataDir:      cfg.DataDir,
		Now:          e.d.Clock.Now,
	}, e.d.Logger)
	return err
}

// outboxReading is the outbox's backlog with the time of its oldest event.
func (e *Edge) outboxReading() metrics.Outbox {
	s := e.ob.Stats()
	out := metrics.Outbox{Events: s.Backlog, Bytes: s.Bytes}
	if s.Backlog > 0 {
		if b, err := e.ob.Read(0, 1, 1); err == nil && len(b.Events) > 0 {
			out.Oldest = b.Events[0].Time
		}
	}
	return out
}

// recorded tells the metrics of an event the box recorded.
func (e *Edge) recorded(typ string, data any) {
	if e.met != nil {
		e.met.Event(typ, data)
	}
}
