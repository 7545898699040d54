package downlink

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/sync/errgroup"

	"github.com/dalaba/dalaba/internal/tlsclient"
	"github.com/dalaba/dalaba/protocol"
)

// Config is how the service reaches its broker.
type Config struct {
	URL      string // tcp://, ssl:// or tls:// host:port
	Username string
	Password string
	ClientID string // fixed, so the broker keeps the session across restarts
	// TLS, when set, is used as is (the embedded broker pins its own
	// certificate); otherwise ssl:// and tls:// URLs trust CAFile or the
	// system's roots.
	TLS    *tls.Config
	CAFile string
	// Workers is how many boxes are handled in parallel; 0 = DefaultWorkers.
	Workers int
	// ShareGroup, set, makes this one of several replicas. Event batches,
	// the bulk of the traffic and each to be stored once, are taken
	// through the shared subscription $share/<group>/..., so the broker
	// hands each batch to one replica. The rest is small and subscribed
	// plainly, so every replica hears it: every command result, so the
	// replica whose request waits for it answers; every status and
	// reported state, so each replica knows every box's presence and
	// software (the rollouts, run by one replica, need every report). The
	// session is then clean: a replica that dies leaves nothing queued
	// for it, and a batch it had not acknowledged its box sends again.
	ShareGroup string
}

// DefaultWorkers bounds parallel handling. Each worker handles one box's
// message at a time; the event batches of workers waiting on the store at
// once share one commit (ingest's group commit), so more workers make
// fewer, larger writes.
const DefaultWorkers = 128

// Timings.
const (
	keepAlive      = 30 * time.Second
	connectTimeout = 10 * time.Second
	retryInterval  = 2 * time.Second  // between first connection attempts
	maxBackoff     = 30 * time.Second // between reconnects, doubling up to this
	opTimeout      = 10 * time.Second // subscribe, and confirmation of an async publish
	workerQueue    = 64               // messages queued per worker before paho waits
	pendingQueue   = 1024             // async publishes watched at once
	// warnEvery folds a flood of rejected messages from one box into one
	// Warn line per interval; the rest are counted and logged at Debug.
	warnEvery = time.Minute
)

// Message is one message a box published, as the downlink hands it on.
type Message struct {
	Box     string
	Kind    protocol.Kind // status, reported, events or cmd/result
	Payload []byte
	// Retained: the broker sent a stored copy because the service
	// subscribed, not a message published while it listened; it may be
	// old, or have been left by a client long gone.
	Retained bool
}

// Handler is what the downlink hands box messages to: the fleet.
type Handler interface {
	// Handle takes one message. Messages of one box arrive one at a time,
	// in the broker's order. It returns the reply to publish, if any (for
	// events: the events/ack payload, published on the box's events/ack
	// topic), and an error wrapping *protocol.RejectError for a payload
	// the protocol refuses.
	Handle(ctx context.Context, m Message) (reply []byte, err error)
	// Connected runs after every (re)connect, once subscribed: where
	// retained state the broker may have lost is published again.
	Connected(ctx context.Context)
}

// Deps are what the downlink uses.
type Deps struct {
	Logger  *slog.Logger
	Handler Handler
	Key     ed25519.PrivateKey // the township key, signs commands
	Now     func() time.Time   // nil = time.Now
}

// Errors callers branch on.
var (
	ErrNotConnected   = errors.New("downlink: not connected to the broker")
	ErrInvalidCommand = errors.New("downlink: invalid command")
	ErrNoResult       = errors.New("downlink: no result from the box")
)

// subscribed are the box→cloud kinds the service listens to.
var subscribed = [...]protocol.Kind{protocol.KindStatus, protocol.KindReported, protocol.KindEvents, protocol.KindCmdResult}

type pendingPub struct {
	box   string
	topic string
	tok   mqtt.Token
}

// Downlink is the service's MQTT connection.
type Downlink struct {
	cfg  Config
	log  *slog.Logger
	h    Handler
	key  ed25519.PrivateKey
	now  func() time.Time
	opts *mqtt.ClientOptions

	client    mqtt.Client
	shards    []chan Message
	pending   chan pendingPub
	connected chan struct{} // a (re)connect happened; buffered 1
	stop      chan struct{} // closed when Run stops taking messages
	running   atomic.Bool
	shed      atomic.Uint64 // event batches left to their boxes (Shed)
	// lostMu, lostDone and lostLogs keep paho's connection-lost callback,
	// which paho runs on a goroutine of its own, from outliving Run.
	lostMu   sync.Mutex
	lostDone bool
	lostLogs sync.WaitGroup

	mu       sync.Mutex
	rejected map[string]*rejects
	waiters  map[string]chan protocol.CommandResult // by box + "/" + command id
}

type rejects struct {
	total    uint64
	lastWarn time.Time
}

// New validates cfg and deps and builds the client; nothing connects before
// Run.
func New(cfg Config, deps Deps) (*Downlink, error) {
	var errs []error
	if cfg.URL == "" {
		errs = append(errs, errors.New("no broker URL"))
	}
	if cfg.ClientID == "" {
		errs = append(errs, errors.New("no client id"))
	}
	if cfg.Workers < 0 {
		errs = append(errs, fmt.Errorf("workers %d: must not be negative", cfg.Workers))
	}
	if deps.Logger == nil {
		errs = append(errs, errors.New("no Deps.Logger"))
	}
	if deps.Handler == nil {
		errs = append(errs, errors.New("no Deps.Handler"))
	}
	if len(deps.Key) != ed25519.PrivateKeySize {
		errs = append(errs, errors.New("no township key in Deps.Key"))
	}
	tlsCfg := cfg.TLS
	if tlsCfg == nil && isTLS(cfg.URL) {
		var err error
		if tlsCfg, err = tlsclient.Config(cfg.CAFile); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("downlink: new: %w", err)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	workers := cfg.Workers
	if workers == 0 {
		workers = DefaultWorkers
	}
	d := &Downlink{
		cfg: cfg, log: deps.Logger.With("component", "downlink"), h: deps.Handler, key: deps.Key, now: deps.Now,
		shards:    make([]chan Message, workers),
		pending:   make(chan pendingPub, pendingQueue),
		connected: make(chan struct{}, 1),
		stop:      make(chan struct{}),
		rejected:  map[string]*rejects{},
		waiters:   map[string]chan protocol.CommandResult{},
	}
	for i := range d.shards {
		d.shards[i] = make(chan Message, workerQueue)
	}
	d.opts = mqtt.NewClientOptions().
		AddBroker(cfg.URL).
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		// Alone, a persistent session: what boxes publish while the
		// service restarts waits at the broker.
		SetCleanSession(cfg.ShareGroup != "").
		// route only queues, so paho's ordered delivery costs nothing.
		SetOrderMatters(true).
		SetKeepAlive(keepAlive).
		SetConnectTimeout(connectTimeout).
		SetWriteTimeout(opTimeout).
		SetConnectRetry(true).
		SetConnectRetryInterval(retryInterval).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(maxBackoff).
		SetTLSConfig(tlsCfg).
		SetDefaultPublishHandler(d.route).
		SetOnConnectHandler(func(mqtt.Client) {
			select {
			case d.connected <- struct{}{}:
			default: // a signal is already waiting; one subscribe covers both
			}
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			d.lostMu.Lock()
			if d.lostDone {
				d.lostMu.Unlock()
				return
			}
			d.lostLogs.Add(1)
			d.lostMu.Unlock()
			defer d.lostLogs.Done()
			d.log.Warn("connection lost, reconnecting", "broker", cfg.URL, "err", err)
		})
	d.client = mqtt.NewClient(d.opts)
	return d, nil
}

func isTLS(url string) bool {
	for _, p := range []string{"ssl://", "tls://", "mqtts://"} {
		if strings.HasPrefix(url, p) {
			return true
		}
	}
	return false
}

// Run connects (retrying until it succeeds), subscribes after every
// connect, handles messages, and returns after disconnecting once ctx ends.
// A Downlink runs once.
func (d *Downlink) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("downlink: Run called twice")
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, ch := range d.shards {
		g.Go(func() error { d.work(gctx, ch); return nil })
	}
	g.Go(func() error { d.watch(gctx); return nil })
	g.Go(func() error { d.session(gctx); return nil })
	<-gctx.Done()
	// Workers are stopping: route must stop waiting for them before paho's
	// Disconnect waits for route.
	close(d.stop)
	d.client.Disconnect(250)
	d.lostMu.Lock()
	d.lostDone = true
	d.lostMu.Unlock()
	d.lostLogs.Wait()
	err := g.Wait()
	d.log.Info("disconnected", "broker", d.cfg.URL)
	return err
}

// session connects and, after every connect, subscribes and runs the
// handler's Connected.
func (d *Downlink) session(ctx context.Context) {
	d.log.Info("connecting", "broker", d.cfg.URL, "client_id", d.cfg.ClientID)
	d.client.Connect() // with ConnectRetry it keeps trying in the background
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.connected:
		}
		if !d.subscribe(ctx) {
			continue // the connection dropped; the next connect signals again
		}
		d.log.Info("connected", "broker", d.cfg.URL)
		d.h.Connected(ctx)
	}
}

// subscribe subscribes to every box's box→cloud topics, retrying with
// backoff while the connection is up. It reports whether it succeeded.
func (d *Downlink) subscribe(ctx context.Context) bool {
	filters := d.filters()
	wait := time.Second
	for {
		tok := d.client.SubscribeMultiple(filters, d.route)
		err := waitToken(ctx, tok, opTimeout)
		if err == nil {
			err = refused(tok)
		}
		if err == nil {
			return true
		}
		if ctx.Err() != nil || !d.client.IsConnectionOpen() {
			return false
		}
		// Without these subscriptions no box is heard at all.
		d.log.Error("subscribe failed; retrying", "broker", d.cfg.URL, "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, maxBackoff)
	}
}

// filters are the subscriptions, each at QoS 1.
func (d *Downlink) filters() map[string]byte {
	f := make(map[string]byte, len(subscribed))
	for _, k := range subscribed {
		filter := protocol.AllBoxes(k)
		if d.cfg.ShareGroup != "" && k == protocol.KindEvents {
			filter = "$share/" + d.cfg.ShareGroup + "/" + filter
		}
		f[filter] = 1
	}
	return f
}

// route runs on paho's router goroutine: it only queues the message for its
// box's worker.
func (d *Downlink) route(_ mqtt.Client, m mqtt.Message) {
	box, k, err := protocol.ParseTopic(m.Topic())
	if err != nil || !k.FromBox() {
		d.log.Warn("message on a topic the service does not take", "topic", m.Topic(), "err", err)
		return
	}
	if k == protocol.KindCmdResult {
		// Matched at once (a decode and a lookup): a request waiting for
		// its answer must not queue behind the box's event batches, whose
		// store writes can take long.
		d.report(box, k, d.result(box, m.Payload()))
	}
	msg := Message{Box: box, Kind: k, Payload: m.Payload(), Retained: m.Retained()}
	shard := d.shards[shardOf(box, len(d.shards))]
	if k == protocol.KindEvents && d.cfg.ShareGroup != "" {
		// A replica never holds up its MQTT connection for a batch: the
		// other replicas and every answer to a request travel on it too.
		// A batch that finds its worker's queue full is left to its box,
		// which sends it again when no ack comes.
		select {
		case shard <- msg:
		default:
			d.shed.Add(1)
			d.log.Debug("event batch left to its box: the worker is behind", "box_id", box)
		}
		return
	}
	select {
	case shard <- msg:
	case <-d.stop:
		// Shutting down. An event batch is resent by its box until acked;
		// status and reported are retained and come again on subscribe.
	}
}

// Shed counts the event batches a replica left to their boxes because
// their worker was behind (ShareGroup set); the boxes send them again.
func (d *Downlink) Shed() uint64 { return d.shed.Load() }

// refused returns an error naming the filters a SUBACK refused (0x80),
// which paho does not report as a token error.
func refused(tok mqtt.Token) error {
	st, ok := tok.(*mqtt.SubscribeToken)
	if !ok {
		return nil
	}
	var bad []string
	for filter, code := range st.Result() {
		if code >= 0x80 {
			bad = append(bad, filter)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("broker refused %s", strings.Join(bad, ", "))
	}
	return nil
}

func shardOf(box string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(box)) // a hash.Hash never fails to write
	return int(h.Sum32() % uint32(n))
}

func (d *Downlink) work(ctx context.Context, ch <-chan Message) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-ch:
			d.dispatch(ctx, m)
		}
	}
}

func (d *Downlink) dispatch(ctx context.Context, m Message) {
	reply, err := d.h.Handle(ctx, m)
	if m.Kind == protocol.KindCmdResult {
		err = nil // judged by route; the handler only notes the box was seen
	}
	if err != nil && ctx.Err() != nil {
		return // stopping: the box sends the batch again to the next run
	}
	d.report(m.Box, m.Kind, err)
	if err == nil && reply != nil && m.Kind == protocol.KindEvents {
		d.publishAsync(m.Box, protocol.Topic(m.Box, protocol.KindEventsAck), reply)
	}
}

// report logs a handling error; a protocol rejection is also counted.
func (d *Downlink) report(box string, k protocol.Kind, err error) {
	if err == nil {
		return
	}
	topic := protocol.Topic(box, k)
	re, ok := errors.AsType[*protocol.RejectError](err)
	if !ok {
		d.log.Error("handling a box message failed", "box_id", box, "topic", topic, "err", err)
		return
	}
	now := d.now()
	d.mu.Lock()
	r := d.rejected[box]
	if r == nil {
		r = &rejects{}
		d.rejected[box] = r
	}
	r.total++
	total, warn := r.total, now.Sub(r.lastWarn) >= warnEvery
	if warn {
		r.lastWarn = now
	}
	d.mu.Unlock()
	level := slog.LevelDebug
	if warn {
		level = slog.LevelWarn
	}
	d.log.Log(context.Background(), level, "message rejected", "box_id", box, "topic", topic, "reason", re.Reason, "rejected_total", total, "err", err)
}

// Rejected counts the messages from box the protocol refused since the
// service started.
func (d *Downlink) Rejected(box string) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r := d.rejected[box]; r != nil {
		return r.total
	}
	return 0
}

// Connected reports whether the connection to the broker is up.
func (d *Downlink) Connected() bool { return d.client.IsConnectionOpen() }

// PublishDesired publishes a signed desired state of box, retained, and
// waits for the broker's acknowledgement or ctx. Never call it from
// Handler.Handle.
func (d *Downlink) PublishDesired(ctx context.Context, box string, payload []byte) error {
	return d.publish(ctx, protocol.Topic(box, protocol.KindDesired), true, payload)
}

func (d *Downlink) publish(ctx context.Context, topic string, retained bool, payload []byte) error {
	if !d.client.IsConnectionOpen() {
		return fmt.Errorf("downlink: publish %s: %w", topic, ErrNotConnected)
	}
	if err := waitToken(ctx, d.client.Publish(topic, 1, retained, payload), 0); err != nil {
		return fmt.Errorf("downlink: publish %s: %w", topic, err)
	}
	return nil
}

// publishAsync publishes at QoS 1 without waiting, for use on a worker: a
// worker waiting on a token can deadlock with paho waiting on the worker.
// The token is watched by Run's watcher.
func (d *Downlink) publishAsync(box, topic string, payload []byte) {
	p := pendingPub{box: box, topic: topic, tok: d.client.Publish(topic, 1, false, payload)}
	select {
	case d.pending <- p:
	default:
		// The watcher is behind; an ack lost now is resent when the box
		// sends its next batch, so only the log line is given up.
		d.log.Debug("publish not watched", "box_id", box, "topic", topic)
	}
}

// watch logs async publishes the broker did not confirm.
func (d *Downlink) watch(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-d.pending:
			if err := waitToken(ctx, p.tok, opTimeout); err != nil && ctx.Err() == nil {
				d.log.Warn("reply not delivered; the box will resend", "box_id", p.box, "topic", p.topic, "err", err)
			}
		}
	}
}

// waitToken waits for tok, ctx or timeout (0 = none).
func waitToken(ctx context.Context, tok mqtt.Token, timeout time.Duration) error {
	var expire <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expire = t.C
	}
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-expire:
		return fmt.Errorf("not confirmed within %s", timeout)
	}
}
