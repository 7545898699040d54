package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dalaba/dalaba/edge/camctl"
	"github.com/dalaba/dalaba/edge/clock"
	"github.com/dalaba/dalaba/edge/command"
	"github.com/dalaba/dalaba/edge/config"
	"github.com/dalaba/dalaba/edge/desired"
	"github.com/dalaba/dalaba/edge/diag"
	"github.com/dalaba/dalaba/edge/health"
	"github.com/dalaba/dalaba/edge/localapi"
	"github.com/dalaba/dalaba/edge/logring"
	"github.com/dalaba/dalaba/edge/media"
	"github.com/dalaba/dalaba/edge/metrics"
	"github.com/dalaba/dalaba/edge/outbox"
	"github.com/dalaba/dalaba/edge/paging"
	"github.com/dalaba/dalaba/edge/playout"
	"github.com/dalaba/dalaba/edge/relay"
	"github.com/dalaba/dalaba/edge/store"
	"github.com/dalaba/dalaba/edge/update"
	"github.com/dalaba/dalaba/edge/uplink"
	"github.com/dalaba/dalaba/edge/whep"
	"github.com/dalaba/dalaba/protocol"
)

// Deps are what main gives the box.
type Deps struct {
	Logger    *slog.Logger // nil: discard
	Clock     clock.Clock  // nil: the wall clock
	Version   string       // the software's version, reported to the township
	BuildDate time.Time    // a clock reading earlier is not trusted; zero: no such check
}

// DBFile is the bbolt file's name in the data directory.
const DBFile = "edge.db"

// Reconnect backoff bounds. Not in the config: they matter to the township
// (how fast its boxes come back after an outage), not to an installer.
const (
	backoffMin = time.Second
	backoffMax = time.Minute
)

// Edge is the box daemon. Make it with New; Run it once.
type Edge struct {
	cfg     config.Config
	d       Deps
	log     *slog.Logger
	started time.Time

	st  *store.Store
	ob  *outbox.Outbox
	ap  *desired.Applier
	cmd *command.Runner
	up  *uplink.Uplink
	mon *health.Monitor
	api *localapi.Server
	med *media.Cache
	po  *playout.Playout
	rl  *relay.Relay
	wh  *whep.Server
	cc  *camctl.Controller
	pg  *paging.Server
	dg  *diag.Diag
	met *metrics.Metrics
	upd *update.Updater

	ring    *logring.Ring // the latest log lines, for diagnostics
	restart *restarter

	drv *drivers

	health    atomic.Pointer[protocol.Health] // the latest reading, for Reported
	ran       atomic.Bool
	closeOnce sync.Once
	closeErr  error // Close's result
}

// New validates cfg, opens <data_dir>/edge.db (creating the directory) and
// builds every part; it starts nothing. A second box on the same data
// directory fails here, on the file lock. Close releases the file if Run is
// never called.
func New(cfg config.Config, deps Deps) (*Edge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Clock == nil {
		deps.Clock = clock.Real()
	}
	log, ring, err := withRing(deps.Logger, cfg.Diag)
	if err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	deps.Logger = log
	e := &Edge{cfg: cfg, d: deps, log: deps.Logger.With("component", "edge", "box_id", cfg.BoxID), started: deps.Clock.Now(),
		ring: ring, restart: newRestarter()}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("edge: data dir: %w", err)
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, DBFile), store.Options{})
	if err != nil {
		return nil, fmt.Errorf("edge: open %s (is another dalaba-edge running on this data dir?): %w", filepath.Join(cfg.DataDir, DBFile), err)
	}
	e.st = st
	if err := e.build(); err != nil {
		if cerr := e.Close(); cerr != nil {
			e.log.Error("closing the store", "err", cerr)
		}
		return nil, err
	}
	return e, nil
}

// build makes the parts over the open store. The callbacks between them
// are only called once Run runs.
func (e *Edge) build() error {
	var err error
	log, clk, cfg := e.d.Logger, e.d.Clock, e.cfg
	e.ob, err = outbox.New(e.st.DB(), outbox.Config{MaxBytes: cfg.Outbox.MaxBytes}, outbox.Deps{Logger: log, Clock: clk})
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	e.ap, err = desired.New(desired.Deps{
		Logger: log, Clock: clk, BoxID: cfg.BoxID, Key: cfg.PublicKey(), Store: e.st, Record: e.record,
		Applied: func(uint64) { e.up.PublishReported() },
	})
	if err != nil {
		return err
	}
	e.cmd, err = command.New(command.Config{}, command.Deps{
		Logger: log, Clock: clk, BoxID: cfg.BoxID, Key: cfg.PublicKey(), Store: e.st, Record: e.record,
		Results: func(r protocol.CommandResult) { e.up.PublishResult(r); e.restart.answered(r.ID) },
	})
	if err != nil {
		return err
	}
	e.mon, err = health.New(health.Config{Interval: cfg.HealthInterval}, health.Deps{
		Logger: log, Clock: clk, Floor: e.st, Outbox: backlog{e.ob}, DataDir: cfg.DataDir,
		BuildDate: e.d.BuildDate, Started: e.started, Record: e.record,
		Report: func(h protocol.Health) {
			e.health.Store(&h)
			if e.up.Connected() {
				if err := e.st.SetLastContact(h.Clock); err != nil {
					e.log.Error("recording the last contact", "err", err)
				}
			}
			e.up.PublishReported()
		},
	})
	if err != nil {
		return err
	}
	b := cfg.Broker
	e.med, err = media.New(media.Config{
		Dir: filepath.Join(cfg.DataDir, "media"), MaxBytes: cfg.Media.MaxBytes,
		BaseURL: cfg.Media.URL, Username: b.Username, Password: b.Password,
	}, media.Deps{Logger: log, DB: e.st.DB(), Now: clk.Now})
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	e.drv, err = newDrivers(cfg.Broadcast, log)
	if err != nil {
		return err
	}
	e.po, err = playout.New(playout.Config{Grace: cfg.Broadcast.Grace}, playout.Deps{
		Logger: log, Clock: clk, State: e.st, Media: e.med, Drivers: e.drv.make, Record: e.record,
		Trusted: e.mon.Trusted, Floor: e.st.TimeFloor, LastContact: e.lastContact,
	})
	if err != nil {
		return err
	}
	e.ap.Subscribe(func(s desired.State) { e.po.Apply(s.Spec.Broadcast) })
	e.rl, err = relay.New(relay.Config{Listen: cfg.Relay.Listen, Username: cfg.Relay.Username, Password: cfg.Relay.Password, Linger: cfg.Relay.Linger,
		RTPPort: cfg.Relay.RTPPort, TCPOnly: !cfg.Relay.UDP},
		relay.Deps{Logger: log, Events: e.cameraEvent})
	if err != nil {
		return fmt.Errorf("edge: camera relay: %w", err)
	}
	w := cfg.WebRTC
	e.wh, err = whep.New(whep.Config{MaxSessions: w.MaxViewers, SessionTimeout: w.SessionTimeout, DisconnectedTimeout: w.DisconnectedTimeout,
		UDPPortMin: uint16(w.UDPPortMin), UDPPortMax: uint16(w.UDPPortMax)}, whep.Deps{Logger: log, Source: e.rl, Events: e.viewing})
	if err != nil {
		return fmt.Errorf("edge: webrtc: %w", err)
	}
	e.cc, err = camctl.New(camctl.Config{Discovery: cfg.Relay.Discovery, Interface: cfg.Relay.DiscoveryInterface},
		camctl.Deps{Logger: log, Record: e.record})
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	e.pg, err = paging.New(paging.Config{MaxSessions: w.MaxPages, SessionTimeout: w.SessionTimeout, DisconnectedTimeout: w.DisconnectedTimeout,
		IdleTimeout: w.PageIdleTimeout, MaxDuration: w.PageMaxDuration, UDPPortMin: uint16(w.UDPPortMin), UDPPortMax: uint16(w.UDPPortMax)},
		paging.Deps{Logger: log, Air: pagingAir{e.po}})
	if err != nil {
		return fmt.Errorf("edge: paging: %w", err)
	}
	e.ap.Subscribe(e.applyCameras)
	e.po.Register(e.cmd)
	e.wh.Register(e.cmd)
	e.cc.Register(e.cmd)
	e.pg.Register(e.cmd)
	registerProbe(e.cmd, log)
	e.up, err = uplink.New(uplink.Config{
		BoxID: cfg.BoxID, BrokerURL: b.URL, Username: b.Username, Password: b.Password, CAFile: b.CAFile,
		KeepAlive: b.KeepAlive, ConnectTimeout: b.ConnectTimeout,
		BatchEvents: cfg.Outbox.BatchEvents, BatchBytes: cfg.Outbox.BatchBytes, Window: cfg.Outbox.Window,
		AckTimeout: cfg.Outbox.AckTimeout, Version: e.d.Version,
		BackoffMin: backoffMin, BackoffMax: backoffMax,
	}, uplink.Deps{
		Logger: log, Clock: clk, Outbox: e.ob,
		OnDesired: e.ap.Receive, OnCommand: e.cmd.Receive,
		Reported: e.reported,
	})
	if err != nil {
		return err
	}
	e.api, err = localapi.New(cfg.SocketPath(), localapi.Deps{
		Logger: log,
		Append: func(ctx context.Context, evs []localapi.Event) ([]uint64, error) {
			es := make([]outbox.Entry, len(evs))
			for i, ev := range evs {
				es[i] = outbox.Entry{Type: ev.Type, Priority: ev.Priority, Data: ev.Data}
			}
			return e.ob.AppendAll(ctx, es)
		},
		Status: e.status,
	})
	if err != nil {
		return err
	}
	if err := e.buildWatch(); err != nil {
		return err
	}
	return e.buildUpdate()
}

// Desired is the applier, for parts that subscribe to desired state;
// subscribe before Run.
func (e *Edge) Desired() *desired.Applier { return e.ap }

// Run runs the box until ctx ends or a part fails, then stops the parts in
// order (see the package doc) and closes the file. It returns the first
// part's failure, nil after a clean stop.
func (e *Edge) Run(ctx context.Context) error {
	if !e.ran.CompareAndSwap(false, true) {
		return errors.New("edge: Run called twice")
	}
	defer func() {
		if err := e.Close(); err != nil {
			e.log.Error("closing the store", "err", err)
		}
	}()
	if err := e.ap.Start(); err != nil {
		// Not fatal: the township's retained desired state arrives on
		// connect, and the box runs with no state until then.
		e.log.Error("resuming the stored desired state", "err", err)
	}

	g, intakeCtx := errgroup.WithContext(ctx)
	// The later stages outlive ctx: they stop when the stage before them
	// has ended.
	upCtx, stopUplink := context.WithCancel(context.WithoutCancel(ctx))
	obCtx, stopOutbox := context.WithCancel(context.WithoutCancel(ctx))
	defer stopUplink()
	defer stopOutbox()

	var intake sync.WaitGroup
	runIntake := func(name string, run func(context.Context) error) {
		intake.Add(1)
		g.Go(func() error {
			defer intake.Done()
			return mustRunUntil(intakeCtx, name, run)
		})
	}
	runIntake("desired state", e.ap.Run)
	runIntake("commands", e.cmd.Run)
	runIntake("local api", e.api.Run)
	runIntake("health", e.mon.Run)
	runIntake("playout", e.po.Run)
	runIntake("camera relay", e.rl.Run)
	runIntake("webrtc", e.wh.Run)
	runIntake("paging", e.pg.Run)
	runIntake("metrics", e.met.Run)
	runIntake("update", e.upd.Run)
	runIntake("service manager", e.notify)
	g.Go(func() error {
		select {
		case <-intakeCtx.Done():
			return nil
		case reason := <-e.restart.due:
			e.log.Info("stopping to restart, as the township asked", "reason", reason)
			return ErrRestart
		}
	})
	if e.drv.clip != nil {
		runIntake("clip server", e.drv.clip.Run)
	}
	runIntake("start event", func(ctx context.Context) error {
		if err := e.record(ctx, protocol.EventBoxStarted, protocol.PriorityNotice, map[string]string{"version": e.d.Version}); err != nil && ctx.Err() == nil {
			e.log.Error("recording the start", "err", err)
		}
		<-ctx.Done()
		return nil
	})
	upDone := make(chan struct{})
	g.Go(func() error {
		defer close(upDone)
		return mustRunUntil(upCtx, "uplink", e.up.Run)
	})
	g.Go(func() error { return mustRunUntil(obCtx, "outbox", e.ob.Run) })
	g.Go(func() error {
		<-intakeCtx.Done()
		intake.Wait()
		stopUplink()
		<-upDone
		stopOutbox()
		return nil
	})
	e.log.Info("box running", "version", e.d.Version, "data_dir", e.cfg.DataDir, "broker", e.cfg.Broker.URL, "local_api", e.cfg.SocketPath())
	err := g.Wait()
	if errors.Is(err, ErrRestart) {
		e.log.Info("box stopped to restart")
	} else if err != nil {
		e.log.Error("box stopped on a failure", "err", err)
	} else {
		e.log.Info("box stopped")
	}
	return err
}

// mustRunUntil runs a part and turns its ending before ctx into an error,
// so that one part quietly giving up stops the box rather than leaving it
// half alive.
func mustRunUntil(ctx context.Context, name string, run func(context.Context) error) error {
	err := run(ctx)
	if err == nil && ctx.Err() == nil {
		err = errors.New("stopped on its own")
	}
	if err != nil {
		return fmt.Errorf("edge: %s: %w", name, err)
	}
	return nil
}

// Close closes the bbolt file. Run closes it when it returns; Close is for
// an Edge that is never run, and is safe to call again.
func (e *Edge) Close() error {
	e.closeOnce.Do(func() {
		if e.rl != nil && !e.ran.Load() {
			if err := e.rl.Close(); err != nil {
				e.log.Warn("closing the camera relay", "err", err)
			}
		}
		if e.drv != nil && e.drv.clip != nil {
			if err := e.drv.clip.Close(); err != nil {
				e.log.Warn("closing the clip server", "err", err)
			}
		}
		e.closeErr = e.st.Close()
	})
	return e.closeErr
}

// record appends an event to the outbox; it returns once durable.
func (e *Edge) record(ctx context.Context, typ string, prio protocol.Priority, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("edge: encode %s event: %w", typ, err)
	}
	if _, err = e.ob.Append(ctx, outbox.Entry{Type: typ, Priority: prio, Data: b}); err != nil {
		return err
	}
	e.recorded(typ, data)
	return nil
}

// lastContact is now while the uplink is up (the broker hands the box the
// township's latest desired state on every connect), else the last time a
// health reading found it up.
func (e *Edge) lastContact() time.Time {
	if e.up.Connected() {
		return e.d.Clock.Now()
	}
	t, err := e.st.LastContact()
	if err != nil {
		e.log.Error("reading the last contact", "err", err)
	}
	return t
}

// reported is the box's summary for the township; the uplink adds the
// outbox backlog as it publishes.
func (e *Edge) reported() protocol.Reported {
	return protocol.Reported{V: protocol.Version, BoxID: e.cfg.BoxID, AppliedRev: e.ap.AppliedRev(),
		OutboxBacklog: e.ob.Stats().Backlog, At: e.d.Clock.Now(), Version: e.d.Version, Health: e.health.Load(),
		Update: e.upd.Status()}
}

func (e *Edge) status() localapi.Status {
	s := e.ob.Stats()
	return localapi.Status{BoxID: e.cfg.BoxID, Version: e.d.Version, Connected: e.up.Connected(), AppliedRev: e.ap.AppliedRev(),
		Outbox: localapi.OutboxStatus{Backlog: s.Backlog, Bytes: s.Bytes, FirstSeq: s.FirstSeq, LastSeq: s.LastSeq}}
}

// backlog adapts the outbox to what health reads.
type backlog struct{ o *outbox.Outbox }

func (b backlog) Backlog() (events, bytes uint64) {
	s := b.o.Stats()
	return s.Backlog, s.Bytes
}
