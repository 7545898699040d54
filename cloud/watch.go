package cloud

import (
	"context"
	"time"

	"github.com/dalaba/dalaba/cloud/alert"
	"github.com/dalaba/dalaba/cloud/broker"
	"github.com/dalaba/dalaba/cloud/downlink"
	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/metrics"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// What lets the township watch its fleet: the alerting and the metrics,
// both told of every event batch once it is stored.
type watch struct {
	met *metrics.Metrics
	eng *alert.Engine
}

// watchDeps are what the alerting and the metrics read.
type watchDeps struct {
	store     store.Store
	presence  *fleet.Presence
	connected func() bool    // the service's MQTT connection
	undeliv   func() uint64  // the embedded broker's drops; nil with an external one
	shed      func() uint64  // batches a replica left to their boxes; nil alone
	broker    *broker.Broker // the embedded broker; nil with an external one
	link      string         // the console's alerts page
}

func (c *Cloud) newWatch(d watchDeps) (*watch, error) {
	eng, err := alert.New(alert.Config{Tick: c.cfg.Alerts.Tick, StartupGrace: c.cfg.Alerts.StartupGrace, Link: d.link,
		FromStore: c.cfg.Clustered()},
		alert.Deps{Logger: c.deps.Logger, Store: d.store, Presence: d.presence, Connected: d.connected})
	if err != nil {
		return nil, err
	}
	src := metrics.Source{
		Boxes: d.store.ListBoxes, Link: d.presence.Link, Connected: d.connected, Undelivered: d.undeliv, Shed: d.shed,
		AlertsOpen: eng.Open, AlertsSent: eng.Deliveries,
	}
	if d.broker != nil {
		src.Inflight, src.Connects = d.broker.Inflight, d.broker.Connects
	}
	met, err := metrics.New(src, c.deps.Version, c.deps.Logger)
	if err != nil {
		return nil, err
	}
	return &watch{met: met, eng: eng}, nil
}

// stored is ingest's hook: a batch stored.
func (w *watch) stored(box string, got store.Appended, evs []store.Event) {
	w.met.Stored(box, got, evs)
	w.eng.Observe(box, got, evs)
}

// counted is the downlink as the API uses it, each command's outcome
// counted.
type counted struct {
	*downlink.Downlink
	met *metrics.Metrics
}

func (c counted) SendCommand(ctx context.Context, box, typ string, args any, ttl time.Duration) (protocol.CommandResult, error) {
	res, err := c.Downlink.SendCommand(ctx, box, typ, args, ttl)
	c.met.Command(typ, res, err)
	return res, err
}
