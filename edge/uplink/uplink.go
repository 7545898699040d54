package uplink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dalaba/dalaba/edge/clock"
	"github.com/dalaba/dalaba/edge/outbox"
	"github.com/dalaba/dalaba/internal/tlsclient"
	"github.com/dalaba/dalaba/protocol"
)

// Config is the session's settings. Zero durations and sizes take the
// defaults noted.
type Config struct {
	BoxID     string // also the MQTT client id: the township's broker forces it anyway
	BrokerURL string // tcp://, mqtt://, ssl://, tls://, mqtts://, ws:// or wss://
	Username  string
	Password  string
	CAFile    string // PEM CA to trust instead of the system roots; TLS URLs only

	KeepAlive      time.Duration // default 30s
	ConnectTimeout time.Duration // connect, subscribe and the online status; default 10s

	BatchEvents int           // events per batch; default 500, at most protocol.MaxBatchEvents
	BatchBytes  int           // stored bytes per batch, about; default 512 KiB
	Window      int           // batches in flight before waiting for acks; default 4
	AckTimeout  time.Duration // no ack progress this long with batches in flight: resend; default 10s

	Version string // the box software's version, put into Reported

	BackoffMin time.Duration // default 1s
	BackoffMax time.Duration // default 60s
}

// Deps are what the session uses.
type Deps struct {
	Logger *slog.Logger // nil: discard
	Clock  clock.Clock  // backoff and ack timeouts
	Outbox *outbox.Outbox

	// OnDesired and OnCommand get raw payloads from the desired and cmd
	// topics, byte for byte, one at a time and in arrival order, on the
	// uplink's own goroutine (never paho's). Verifying them is theirs.
	// They hand the payload on and return (edge/desired's and
	// edge/command's Receive): nothing a command does may hold up the
	// next payload.
	OnDesired func(ctx context.Context, payload []byte)
	OnCommand func(ctx context.Context, payload []byte)

	// Reported builds the current reported state; the uplink fills in V,
	// BoxID, OutboxBacklog, a missing At and a missing Version.
	Reported func() protocol.Reported
}

// Queue sizes. Inbound desired state and commands are few and small; if the
// applier falls 64 behind something is badly wrong and dropping (loudly)
// beats stalling paho's router, which would stall keepalives too. Results
// wait here while the box is offline; a command is worth answering only
// within its short lifetime, so the oldest go first. Acks answer at most
// a window (64 batches) each; a dropped one costs a resend after the ack
// timeout, nothing more.
const (
	inboundQueue = 64
	resultQueue  = 64
	ackQueue     = 128
)

// Token waits on paho's I/O use real time (paho's own timers are real);
// this bounds the offline status on shutdown.
const goodbyeWait = 2 * time.Second

// Uplink is the box's MQTT session. Make it with New; Run it once.
type Uplink struct {
	cfg  Config
	d    Deps
	log  *slog.Logger
	tls  *tls.Config // nil for plain TCP
	rng  *rand.Rand  // backoff jitter; used by Run's session goroutine only
	once atomic.Bool // Run was called

	connected  atomic.Bool
	sessionsUp atomic.Uint64 // sessions brought up since New

	// published is the highest seq ever handed to paho, stored before the
	// publish so an honest ack can never exceed it. An ack above it would
	// delete events the township never saw; it is refused.
	published atomic.Uint64
	// epoch is the outbox's epoch, for paho's goroutine to sort acks by
	// without taking the outbox's lock; the session goroutine, the only
	// one that changes the outbox's epoch, keeps it current.
	epoch atomic.Pointer[string]
	// acks are acceptable acks decoded on paho's goroutine, in arrival
	// order, for the session goroutine to apply.
	acks chan protocol.EventsAck

	in      chan inbound                // desired and cmd payloads for the dispatcher
	report  chan struct{}               // a pending PublishReported (1 slot: requests coalesce)
	results chan protocol.CommandResult // command results waiting for cmd/result

	// Counters for logs and tests: acks refused (malformed, wrong box or
	// version, oversized, ahead of what was sent, of another epoch, not
	// reaching the lowest queued seq, or over a full queue) and inbound
	// payloads dropped on a full queue.
	badAcks, aheadAcks, otherAcks, gapAcks, droppedAcks, droppedIn atomic.Uint64

	// Owned by the session goroutine.
	acked uint64 // highest seq the outbox deleted through on the township's word
}

type inbound struct {
	kind    protocol.Kind
	payload []byte
}

// New checks cfg and deps, reporting every problem at once, and builds the
// TLS settings (reading CAFile); it starts nothing.
func New(cfg Config, deps Deps) (*Uplink, error) {
	setDefault(&cfg.KeepAlive, 30*time.Second)
	setDefault(&cfg.ConnectTimeout, 10*time.Second)
	setDefault(&cfg.BatchEvents, 500)
	setDefault(&cfg.BatchBytes, 512<<10)
	setDefault(&cfg.Window, 4)
	setDefault(&cfg.AckTimeout, 10*time.Second)
	setDefault(&cfg.BackoffMin, time.Second)
	setDefault(&cfg.BackoffMax, time.Minute)

	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if err := protocol.ValidateBoxID(cfg.BoxID); err != nil {
		errs = append(errs, err)
	}
	useTLS, err := checkURL(cfg.BrokerURL)
	if err != nil {
		errs = append(errs, err)
	}
	var tc *tls.Config
	switch {
	case useTLS:
		if tc, err = tlsclient.Config(cfg.CAFile); err != nil {
			errs = append(errs, err)
		}
	case cfg.CAFile != "" && err == nil:
		bad("CA file %s given for %s, which is not a TLS URL (ssl://, tls://, mqtts://, wss://)", cfg.CAFile, cfg.BrokerURL)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"keepalive", cfg.KeepAlive}, {"connect timeout", cfg.ConnectTimeout}, {"ack timeout", cfg.AckTimeout}, {"backoff min", cfg.BackoffMin}, {"backoff max", cfg.BackoffMax}} {
		if d.v < 0 {
			bad("%s %s is negative", d.name, d.v)
		}
	}
	if cfg.KeepAlive > 0 && cfg.KeepAlive < time.Second {
		bad("keepalive %s: MQTT counts it in whole seconds", cfg.KeepAlive)
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		bad("backoff max %s is below backoff min %s", cfg.BackoffMax, cfg.BackoffMin)
	}
	if cfg.BatchEvents < 1 || cfg.BatchEvents > protocol.MaxBatchEvents {
		bad("batch events %d: must be 1-%d", cfg.BatchEvents, protocol.MaxBatchEvents)
	}
	// Half the topic's limit leaves room for JSON framing; a batch that
	// still encodes too large is split before sending.
	if maxB := protocol.KindEvents.MaxPayload() / 2; cfg.BatchBytes < 1<<10 || cfg.BatchBytes > maxB {
		bad("batch bytes %d: must be %d-%d", cfg.BatchBytes, 1<<10, maxB)
	}
	if cfg.Window < 1 || cfg.Window > 64 {
		bad("window %d: must be 1-64 batches", cfg.Window)
	}
	if deps.Clock == nil {
		bad("no clock")
	}
	if deps.Outbox == nil {
		bad("no outbox")
	}
	if deps.OnDesired == nil {
		bad("no OnDesired handler")
	}
	if deps.OnCommand == nil {
		bad("no OnCommand handler")
	}
	if deps.Reported == nil {
		bad("no Reported builder")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("uplink: config: %w", err)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	u := &Uplink{
		cfg:     cfg,
		d:       deps,
		log:     deps.Logger.With("component", "uplink", "box_id", cfg.BoxID),
		tls:     tc,
		rng:     rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		acks:    make(chan protocol.EventsAck, ackQueue),
		in:      make(chan inbound, inboundQueue),
		report:  make(chan struct{}, 1),
		results: make(chan protocol.CommandResult, resultQueue),
	}
	epoch := deps.Outbox.Epoch()
	u.epoch.Store(&epoch)
	return u, nil
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// checkURL validates a broker URL and says whether it asks for TLS.
func checkURL(raw string) (useTLS bool, err error) {
	if raw == "" {
		return false, errors.New("no broker URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return false, fmt.Errorf("broker URL: %w", err)
	}
	if u.Host == "" || u.Port() == "" {
		return false, fmt.Errorf("broker URL %q: want scheme://host:port", raw)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ws":
		return false, nil
	case "ssl", "tls", "mqtts", "wss":
		return true, nil
	}
	return false, fmt.Errorf("broker URL %q: scheme %q is not one of tcp, mqtt, ssl, tls, mqtts, ws, wss", raw, u.Scheme)
}

// Connected reports whether the session is up: connected, subscribed and
// announced online.
func (u *Uplink) Connected() bool { return u.connected.Load() }

// Sessions counts the sessions brought up since the uplink was made: the
// reconnects are this less one.
func (u *Uplink) Sessions() uint64 { return u.sessionsUp.Load() }

// PublishReported asks for the reported state to be published now. It
// never blocks; requests while one is pending fold into it, and a request
// while offline is served by the publish every connect makes anyway.
func (u *Uplink) PublishReported() {
	select {
	case u.report <- struct{}{}:
	default:
	}
}

// PublishResult queues a command result for cmd/result; V and BoxID are
// filled in. It never blocks: with the queue full (a long time offline)
// the oldest result is dropped with a warning, as its command has most
// likely expired at the township already.
func (u *Uplink) PublishResult(r protocol.CommandResult) {
	r.V, r.BoxID = protocol.Version, u.cfg.BoxID
	for {
		select {
		case u.results <- r:
			return
		default:
		}
		select {
		case old := <-u.results:
			u.log.Warn("command result queue full; dropped the oldest", "command_id", old.ID, "queued", resultQueue)
		default:
		}
	}
}

// Run keeps the session up, and hands inbound payloads to the handlers,
// until ctx ends; then it announces the box offline, disconnects and
// returns nil once its goroutines have ended. It may be called once.
func (u *Uplink) Run(ctx context.Context) error {
	if !u.once.CompareAndSwap(false, true) {
		return errors.New("uplink: Run called twice")
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return u.dispatch(ctx) })
	g.Go(func() error { return u.sessions(ctx) })
	return g.Wait()
}

// dispatch hands payloads to OnDesired and OnCommand, one at a time in
// arrival order. It is a goroutine apart from the session so that a
// receiver slow to take a payload (its queue full) never delays acks,
// keepalive-driven reconnects or the drain; the receivers run the payloads
// on lanes of their own.
func (u *Uplink) dispatch(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-u.in:
			switch m.kind {
			case protocol.KindDesired:
				u.d.OnDesired(ctx, m.payload)
			case protocol.KindCmd:
				u.d.OnCommand(ctx, m.payload)
			}
		}
	}
}
