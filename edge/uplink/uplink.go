// Package uplink is the box's MQTT session with the township (paho): it
// connects with a persistent session and a will, reconnects with capped,
// jittered backoff, hands desired state and commands to the applier, and
// drains the outbox in batches with a bounded window, deleting only what
// the township acknowledged. It knows topics through protocol and nothing
// of what desired state means.
//
// paho facts this leans on: a publish token can complete after a reconnect
// without any broker ack, and paho's file store does not fsync; so the
// bbolt outbox, not paho, is the durable copy, and a new paho client (with a
// memory store) is made for every connection.
package uplink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/dalaba/dalaba/edge/clock"
	"github.com/dalaba/dalaba/edge/outbox"
	"github.com/dalaba/dalaba/internal/tlsclient"
	"github.com/dalaba/dalaba/protocol"
)

// Config is the session's settings.
type Config struct {
	BoxID, BrokerURL, Username, Password, CAFile string
	KeepAlive, ConnectTimeout                    time.Duration
	BatchEvents                                  int // events per batch; default 500
	BatchBytes                                   int // bytes per batch, about; default 512 KiB
	Window                                       int // batches in flight; default 4
	AckTimeout                                   time.Duration
	Version                                      string
	BackoffMin, BackoffMax                       time.Duration
}

// Deps are what the session uses.
type Deps struct {
	Logger *slog.Logger
	Clock  clock.Clock
	Outbox *outbox.Outbox
	// OnDesired and OnCommand get raw payloads, in arrival order, on the
	// session's goroutine (never paho's).
	OnDesired func(ctx context.Context, payload []byte)
	OnCommand func(ctx context.Context, payload []byte)
	Reported  func() protocol.Reported
}

// Uplink is the session.
type Uplink struct {
	cfg  Config
	d    Deps
	log  *slog.Logger
	rand *rand.Rand

	connected atomic.Bool
	ackMax    atomic.Uint64 // highest ack seen, folded by the session loop
	ackSignal chan struct{}
	badAcks   atomic.Uint64
	in        chan message
	report    chan struct{}
	results   chan protocol.CommandResult
}

type message struct {
	kind    protocol.Kind
	payload []byte
}

// New validates cfg, reporting every problem.
func New(cfg Config, deps Deps) (*Uplink, error) {
	if cfg.BatchEvents == 0 {
		cfg.BatchEvents = 500
	}
	if cfg.BatchBytes == 0 {
		cfg.BatchBytes = 512 << 10
	}
	if cfg.Window == 0 {
		cfg.Window = 4
	}
	if cfg.AckTimeout == 0 {
		cfg.AckTimeout = 10 * time.Second
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 30 * time.Second
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin = time.Second
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = time.Minute
	}
	var errs []error
	if err := protocol.ValidateBoxID(cfg.BoxID); err != nil {
		errs = append(errs, err)
	}
	if cfg.BrokerURL == "" {
		errs = append(errs, errors.New("no broker URL"))
	}
	if cfg.BatchEvents > protocol.MaxBatchEvents || cfg.BatchBytes > protocol.KindEvents.MaxPayload()/2 {
		errs = append(errs, fmt.Errorf("batches of %d events / %d bytes exceed the protocol's limits", cfg.BatchEvents, cfg.BatchBytes))
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		errs = append(errs, errors.New("backoff max below min"))
	}
	if deps.Clock == nil || deps.Outbox == nil || deps.OnDesired == nil || deps.OnCommand == nil || deps.Reported == nil {
		errs = append(errs, errors.New("clock, outbox, handlers and reported are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("uplink: %w", err)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return &Uplink{
		cfg: cfg, d: deps, log: deps.Logger.With("component", "uplink", "box_id", cfg.BoxID),
		rand:      rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x6461)),
		ackSignal: make(chan struct{}, 1),
		in:        make(chan message, 256),
		report:    make(chan struct{}, 1),
		results:   make(chan protocol.CommandResult, 64),
	}, nil
}

// Connected reports whether the session is up.
func (u *Uplink) Connected() bool { return u.connected.Load() }

// PublishReported asks for the reported state to be published now;
// requests while one is pending fold into it.
func (u *Uplink) PublishReported() {
	select {
	case u.report <- struct{}{}:
	default:
	}
}

// PublishResult queues a command result for cmd/result. If the queue is
// full the result is dropped with a warning: the caller's command will time
// out at the township, which is what it would see offline.
func (u *Uplink) PublishResult(r protocol.CommandResult) {
	select {
	case u.results <- r:
	default:
		u.log.Warn("command result queue full; result dropped", "id", r.ID)
	}
}

// Backoff returns the wait before reconnect attempt n (0-based): a random
// duration between lo/2 and lo·2ⁿ, the ceiling capped at hi, so a
// township's boxes coming back after an outage do not reconnect in step.
func Backoff(n int, lo, hi time.Duration, r *rand.Rand) time.Duration {
	ceil := hi
	if n < 32 && lo<<n < hi && lo<<n > 0 {
		ceil = lo << n
	}
	return lo/2 + time.Duration(r.Int64N(int64(ceil-lo/2)+1))
}

// Run keeps the session up until ctx ends.
func (u *Uplink) Run(ctx context.Context) error {
	attempt := 0
	for {
		cl, lost, err := u.connect(ctx)
		if err == nil {
			attempt = 0
			u.session(ctx, cl, lost)
			u.connected.Store(false)
			if ctx.Err() != nil {
				u.goodbye(cl)
				return nil
			}
			cl.Disconnect(0)
		} else if ctx.Err() == nil {
			u.log.Warn("connect failed", "broker", u.cfg.BrokerURL, "attempt", attempt+1, "err", err)
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := Backoff(attempt, u.cfg.BackoffMin, u.cfg.BackoffMax, u.rand)
		attempt++
		t := u.d.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}

func (u *Uplink) status(online bool) []byte {
	b, _ := protocol.Marshal(protocol.KindStatus, protocol.Status{V: protocol.Version, BoxID: u.cfg.BoxID, Online: online, At: u.d.Clock.Now()}) // small fixed shape: cannot fail
	return b
}

func (u *Uplink) connect(ctx context.Context) (mqtt.Client, <-chan error, error) {
	lost := make(chan error, 1)
	will, _ := protocol.Marshal(protocol.KindStatus, protocol.Status{V: protocol.Version, BoxID: u.cfg.BoxID, Online: false}) // cannot fail
	o := mqtt.NewClientOptions().
		AddBroker(u.cfg.BrokerURL).
		SetClientID(u.cfg.BoxID).
		SetUsername(u.cfg.Username).
		SetPassword(u.cfg.Password).
		SetCleanSession(false).
		SetKeepAlive(u.cfg.KeepAlive).
		SetConnectTimeout(u.cfg.ConnectTimeout).
		SetAutoReconnect(false).
		SetOrderMatters(true).
		SetBinaryWill(protocol.Topic(u.cfg.BoxID, protocol.KindStatus), will, 1, true).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
	if strings.HasPrefix(u.cfg.BrokerURL, "ssl://") || strings.HasPrefix(u.cfg.BrokerURL, "tls://") {
		tc, err := tlsclient.Config(u.cfg.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("uplink: %w", err)
		}
		o.SetTLSConfig(tc)
	}
	cl := mqtt.NewClient(o)
	if err := wait(ctx, cl.Connect(), u.cfg.ConnectTimeout+time.Second); err != nil {
		cl.Disconnect(0)
		return nil, nil, err
	}
	// Subscribe on every connect: a broker that restarted lost the session.
	subs := map[string]byte{
		protocol.Topic(u.cfg.BoxID, protocol.KindDesired):   1,
		protocol.Topic(u.cfg.BoxID, protocol.KindCmd):       1,
		protocol.Topic(u.cfg.BoxID, protocol.KindEventsAck): 1,
	}
	if err := wait(ctx, cl.SubscribeMultiple(subs, u.route), u.cfg.ConnectTimeout); err != nil {
		cl.Disconnect(0)
		return nil, nil, fmt.Errorf("subscribe: %w", err)
	}
	if err := wait(ctx, cl.Publish(protocol.Topic(u.cfg.BoxID, protocol.KindStatus), 1, true, u.status(true)), u.cfg.ConnectTimeout); err != nil {
		cl.Disconnect(0)
		return nil, nil, fmt.Errorf("publish online: %w", err)
	}
	u.connected.Store(true)
	u.log.Info("connected", "broker", u.cfg.BrokerURL)
	return cl, lost, nil
}

func wait(ctx context.Context, tok mqtt.Token, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-t.C:
		return errors.New("timed out")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// route runs on paho's goroutine: it never blocks. Acks fold into ackMax;
// desired state and commands queue for the session loop.
func (u *Uplink) route(_ mqtt.Client, m mqtt.Message) {
	_, k, err := protocol.ParseTopic(m.Topic())
	if err != nil {
		return
	}
	if k == protocol.KindEventsAck {
		a, err := protocol.DecodeEventsAck(u.cfg.BoxID, m.Payload())
		if err != nil {
			n := u.badAcks.Add(1)
			if n&(n-1) == 0 { // 1, 2, 4, 8…: a flood folds into a few lines
				u.log.Warn("malformed ack ignored", "count", n, "err", err)
			}
			return
		}
		for {
			cur := u.ackMax.Load()
			if a.Seq <= cur || u.ackMax.CompareAndSwap(cur, a.Seq) {
				break
			}
		}
		select {
		case u.ackSignal <- struct{}{}:
		default:
		}
		return
	}
	select {
	case u.in <- message{k, append([]byte(nil), m.Payload()...)}:
	default:
		u.log.Error("inbound queue full; message dropped", "topic", m.Topic())
	}
}

// session drains the outbox and serves inbound messages until the
// connection is lost or ctx ends.
func (u *Uplink) session(ctx context.Context, cl mqtt.Client, lost <-chan error) {
	ob := u.d.Outbox
	acked := u.ackMax.Load()
	sent := acked // resend everything not acknowledged: the cloud dedupes
	var inflight []uint64
	timer := u.d.Clock.NewTimer(u.cfg.AckTimeout)
	defer timer.Stop()
	u.publishReported(cl)
	eventsTopic := protocol.Topic(u.cfg.BoxID, protocol.KindEvents)
	drained := true
	for {
		for len(inflight) < u.cfg.Window {
			evs, floor, err := ob.Read(sent, u.cfg.BatchEvents, u.cfg.BatchBytes)
			if err != nil {
				u.log.Error("reading the outbox", "err", err)
				break
			}
			if len(evs) == 0 {
				break
			}
			payload, err := protocol.Marshal(protocol.KindEvents, protocol.EventBatch{V: protocol.Version, BoxID: u.cfg.BoxID, Floor: floor, Events: evs})
			if err != nil {
				u.log.Error("encoding a batch", "first_seq", evs[0].Seq, "err", err)
				break
			}
			if len(inflight) == 0 {
				timer.Reset(u.cfg.AckTimeout)
			}
			cl.Publish(eventsTopic, 1, false, payload)
			sent = evs[len(evs)-1].Seq
			inflight = append(inflight, sent)
			drained = false
		}
		select {
		case <-ctx.Done():
			return
		case err := <-lost:
			u.log.Warn("connection lost", "err", err)
			return
		case <-ob.Appended():
		case <-u.ackSignal:
			s := u.ackMax.Load()
			if s <= acked {
				continue
			}
			if _, err := ob.Ack(s); err != nil {
				u.log.Error("deleting acknowledged events", "seq", s, "err", err)
				continue
			}
			acked = s
			sent = max(sent, acked)
			for len(inflight) > 0 && inflight[0] <= acked {
				inflight = inflight[1:]
			}
			timer.Reset(u.cfg.AckTimeout)
			if !drained && len(inflight) == 0 && ob.Stats().Backlog == 0 {
				drained = true
				u.publishReported(cl)
			}
		case <-timer.C():
			if len(inflight) > 0 {
				u.log.Warn("no ack in time; resending", "from_seq", acked+1, "in_flight", len(inflight))
				sent, inflight = acked, inflight[:0]
			}
			timer.Reset(u.cfg.AckTimeout)
		case m := <-u.in:
			if m.kind == protocol.KindDesired {
				u.d.OnDesired(ctx, m.payload)
			} else if m.kind == protocol.KindCmd {
				u.d.OnCommand(ctx, m.payload)
			}
		case <-u.report:
			u.publishReported(cl)
		case r := <-u.results:
			if b, err := protocol.Marshal(protocol.KindCmdResult, r); err == nil {
				cl.Publish(protocol.Topic(u.cfg.BoxID, protocol.KindCmdResult), 1, false, b)
			} else {
				u.log.Error("encoding a command result", "id", r.ID, "err", err)
			}
		}
	}
}

func (u *Uplink) publishReported(cl mqtt.Client) {
	r := u.d.Reported()
	r.V, r.BoxID, r.Version = protocol.Version, u.cfg.BoxID, u.cfg.Version
	b, err := protocol.Marshal(protocol.KindReported, r)
	if err != nil {
		u.log.Error("encoding reported state", "err", err)
		return
	}
	cl.Publish(protocol.Topic(u.cfg.BoxID, protocol.KindReported), 1, true, b)
}

// goodbye says offline, retained, before a clean disconnect, so the
// township does not wait for the keepalive to time out.
func (u *Uplink) goodbye(cl mqtt.Client) {
	tok := cl.Publish(protocol.Topic(u.cfg.BoxID, protocol.KindStatus), 1, true, u.status(false))
	tok.WaitTimeout(2 * time.Second)
	cl.Disconnect(250)
	u.log.Info("disconnected")
}
