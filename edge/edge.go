// Package edge assembles the village box: the bbolt store, the outbox, the
// desired-state applier, the MQTT uplink, the health monitor and the local
// API, started together and stopped in order (intake first, the outbox's
// last commit, offline on the broker, then the file closed).
package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dalaba/dalaba/edge/clock"
	"github.com/dalaba/dalaba/edge/config"
	"github.com/dalaba/dalaba/edge/desired"
	"github.com/dalaba/dalaba/edge/health"
	"github.com/dalaba/dalaba/edge/localapi"
	"github.com/dalaba/dalaba/edge/outbox"
	"github.com/dalaba/dalaba/edge/store"
	"github.com/dalaba/dalaba/edge/uplink"
	"github.com/dalaba/dalaba/protocol"
)

// Deps are what main gives the box.
type Deps struct {
	Logger    *slog.Logger
	Clock     clock.Clock
	Version   string
	BuildDate time.Time
}

// Edge is the box daemon.
type Edge struct {
	cfg config.Config
	d   Deps
	log *slog.Logger
}

// New checks the configuration; nothing opens before Run.
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
	return &Edge{cfg: cfg, d: deps, log: deps.Logger.With("component", "edge", "box_id", cfg.BoxID)}, nil
}

// Run runs the box until ctx ends.
func (e *Edge) Run(ctx context.Context) error {
	started := e.d.Clock.Now()
	if err := os.MkdirAll(e.cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("edge: data dir: %w", err)
	}
	st, err := store.Open(filepath.Join(e.cfg.DataDir, "edge.db"), store.Options{})
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			e.log.Error("closing the store", "err", err)
		}
	}()
	ob, err := outbox.New(st.DB(), outbox.Config{MaxBytes: e.cfg.Outbox.MaxBytes}, outbox.Deps{Logger: e.d.Logger, Clock: e.d.Clock})
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	record := func(ctx context.Context, typ string, prio protocol.Priority, data any) error {
		b, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("edge: encode %s event: %w", typ, err)
		}
		_, err = ob.Append(ctx, outbox.Entry{Type: typ, Priority: prio, Data: b})
		return err
	}

	var up *uplink.Uplink
	ap, err := desired.New(desired.Deps{
		Logger: e.d.Logger, Clock: e.d.Clock, BoxID: e.cfg.BoxID, Key: e.cfg.PublicKey(), Store: st, Record: record,
		Results: func(r protocol.CommandResult) { up.PublishResult(r) },
		Applied: func(uint64) { up.PublishReported() },
	})
	if err != nil {
		return err
	}
	mon, err := health.New(e.cfg.HealthInterval, health.Deps{
		Logger: e.d.Logger, Clock: e.d.Clock, Floor: st, Outbox: backlog{ob}, DataDir: e.cfg.DataDir,
		BuildDate: e.d.BuildDate, Started: started, Record: record,
		Report: func() { up.PublishReported() },
	})
	if err != nil {
		return err
	}
	b := e.cfg.Broker
	up, err = uplink.New(uplink.Config{
		BoxID: e.cfg.BoxID, BrokerURL: b.URL, Username: b.Username, Password: b.Password, CAFile: b.CAFile,
		KeepAlive: b.KeepAlive, ConnectTimeout: b.ConnectTimeout,
		BatchEvents: e.cfg.Outbox.BatchEvents, BatchBytes: e.cfg.Outbox.BatchBytes, Window: e.cfg.Outbox.Window,
		AckTimeout: e.cfg.Outbox.AckTimeout, Version: e.d.Version,
		BackoffMin: time.Second, BackoffMax: time.Minute,
	}, uplink.Deps{
		Logger: e.d.Logger, Clock: e.d.Clock, Outbox: ob,
		OnDesired: ap.HandleDesired, OnCommand: ap.HandleCommand,
		Reported: func() protocol.Reported {
			s := ob.Stats()
			return protocol.Reported{V: protocol.Version, BoxID: e.cfg.BoxID, AppliedRev: ap.AppliedRev(),
				OutboxBacklog: s.Backlog, At: e.d.Clock.Now(), Version: e.d.Version}
		},
	})
	if err != nil {
		return err
	}
	api, err := localapi.New(e.cfg.SocketPath(), localapi.Deps{
		Logger: e.d.Logger,
		Append: func(ctx context.Context, ev localapi.Event) (uint64, error) {
			return ob.Append(ctx, outbox.Entry{Type: ev.Type, Priority: ev.Priority, Data: ev.Data})
		},
		Status: func() any {
			s := ob.Stats()
			return map[string]any{
				"box_id": e.cfg.BoxID, "version": e.d.Version, "connected": up.Connected(), "applied_rev": ap.AppliedRev(),
				"outbox": map[string]uint64{"backlog": s.Backlog, "bytes": s.Bytes, "first_seq": s.FirstSeq, "last_seq": s.LastSeq},
			}
		},
	})
	if err != nil {
		return err
	}
	if err := ap.Start(); err != nil {
		e.log.Error("handing on the stored desired state", "err", err)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return ob.Run(gctx) })
	g.Go(func() error {
		if err := record(gctx, protocol.EventBoxStarted, protocol.PriorityNotice, map[string]string{"version": e.d.Version}); err != nil && gctx.Err() == nil {
			e.log.Error("recording start", "err", err)
		}
		return nil
	})
	g.Go(func() error { return up.Run(gctx) })
	g.Go(func() error { return mon.Run(gctx) })
	g.Go(func() error { return api.Run(gctx) })
	e.log.Info("box running", "version", e.d.Version, "data_dir", e.cfg.DataDir, "broker", b.URL, "local_api", e.cfg.SocketPath())
	err = g.Wait()
	e.log.Info("box stopped")
	return err
}

// backlog adapts the outbox to what health reads.
type backlog struct{ o *outbox.Outbox }

func (b backlog) Backlog() (uint64, uint64) {
	s := b.o.Stats()
	return s.Backlog, s.Bytes
}
