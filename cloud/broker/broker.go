package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/dalaba/dalaba/protocol"
)

// Identity is who an authenticated client is.
type Identity struct {
	Box   string // the box id, when the client is a box
	Cloud bool   // the township service's own client: may do everything
}

// Authenticator checks a client's credentials. It is called once per
// connection attempt, from that connection's goroutine.
type Authenticator interface {
	Authenticate(ctx context.Context, username string, password []byte) (Identity, bool)
}

// Sessions hears what only the broker knows of boxes: when their
// connections begin and end, the township's presence, and how many of their
// messages the publish limit dropped. Its methods run on the broker's
// goroutines, in order for each box, and must not block.
type Sessions interface {
	// Connected: box's connection is up and is its session's current one.
	Connected(box string)
	// Disconnected: that connection ended, whether the box left cleanly,
	// its keepalive lapsed, another connection of the box took over or
	// the broker closed it.
	Disconnected(box string)
	// Limited: n more of box's messages were dropped over its limit.
	Limited(box string, n uint64)
}

// Config is where and how the broker listens.
type Config struct {
	Listen string // e.g. "127.0.0.1:0", ":8883"
	// CertFile and KeyFile, both or neither, make the listener TLS only.
	CertFile, KeyFile string
	// Limit is each box's publish allowance; zero: DefaultLimit.
	Limit Limit
	// MaxInflight is how many QoS 1 messages a subscriber may hold
	// unacknowledged; past it the broker drops what it would send it
	// (counted by Undelivered). Zero: DefaultMaxInflight.
	MaxInflight int
	// Connects paces box connections; zero: DefaultConnectLimit.
	Connects ConnectLimit
}

// DefaultMaxInflight is the most MQTT allows (packet ids are 16 bits). The
// township's session is the subscriber that needs the most: every box's
// messages wait in it while the service takes them, and past the window
// mochi drops instead of queueing. mochi's own default, 8,192, was
// overrun by 5,000 boxes connecting within 3 s. A box's session holds
// little (its acks, commands and desired state), so the bound costs boxes
// nothing.
const DefaultMaxInflight = 65535

// Deps are what the broker uses.
type Deps struct {
	Logger *slog.Logger
	Auth   Authenticator
	// Sessions is told of box connections and drops; nil: nobody.
	Sessions Sessions
}

// Limits and lifetimes.
const (
	// PacketHeadroom is allowed above the largest payload the protocol
	// accepts, for the fixed header, the topic and MQTT 5 properties.
	PacketHeadroom = 8 << 10
	// SessionExpiry is how long a persistent session (CleanSession=false)
	// is kept after its client left. Commands live at most
	// protocol.MaxCommandLifetime and desired state is retained, so a day
	// keeps every message worth delivering while bounding memory.
	SessionExpiry = 24 * time.Hour
	// ConnectTimeout bounds how long a new connection may take to send
	// CONNECT (and finish TLS), so idle sockets cannot pile up.
	ConnectTimeout = 10 * time.Second
	// refusalWindow folds repeated refusals of one identity into one log
	// line per window.
	refusalWindow = time.Minute
)

// MaxPacketSize is the largest MQTT packet the broker accepts: the
// protocol's largest payload plus PacketHeadroom.
func MaxPacketSize() int {
	largest := 0
	for _, k := range protocol.Kinds() {
		largest = max(largest, k.MaxPayload())
	}
	return largest + PacketHeadroom
}

// Broker is the embedded MQTT broker.
type Broker struct {
	cfg      Config
	log      *slog.Logger
	auth     Authenticator
	sessions Sessions
	limits   *limits
	gate     *gate
	tls      *tls.Config
	now      func() time.Time
	ready    chan struct{}
	addr     atomic.Pointer[string]
	running  atomic.Bool
	srv      atomic.Pointer[mqtt.Server] // set by Run; for Undelivered and Kick
	cloud    atomic.Pointer[mqtt.Client] // the service's current connection, for Inflight
}

type noSessions struct{}

func (noSessions) Connected(string)       {}
func (noSessions) Disconnected(string)    {}
func (noSessions) Limited(string, uint64) {}

// New checks cfg and deps and loads the TLS key pair; it binds nothing.
func New(cfg Config, deps Deps) (*Broker, error) {
	var errs []error
	if deps.Logger == nil {
		errs = append(errs, errors.New("no Deps.Logger"))
	}
	if deps.Auth == nil {
		errs = append(errs, errors.New("no Deps.Auth: a broker without authentication is not allowed"))
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q: %w", cfg.Listen, err))
	}
	if cfg.Limit == (Limit{}) {
		cfg.Limit = DefaultLimit()
	}
	if cfg.MaxInflight == 0 {
		cfg.MaxInflight = DefaultMaxInflight
	}
	if cfg.MaxInflight < 1 || cfg.MaxInflight > math.MaxUint16 {
		errs = append(errs, fmt.Errorf("max inflight %d: 1 to %d", cfg.MaxInflight, math.MaxUint16))
	}
	if err := cfg.Limit.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("limit: %w", err))
	}
	if cfg.Connects == (ConnectLimit{}) {
		cfg.Connects = DefaultConnectLimit()
	}
	if err := cfg.Connects.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("connects: %w", err))
	}
	var tlsCfg *tls.Config
	switch {
	case cfg.CertFile == "" && cfg.KeyFile == "":
	case cfg.CertFile == "" || cfg.KeyFile == "":
		errs = append(errs, errors.New("cert_file and key_file must be given together"))
	default:
		pair, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("tls key pair: %w", err))
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("broker: new: %w", err)
	}
	if deps.Sessions == nil {
		deps.Sessions = noSessions{}
	}
	log := deps.Logger.With("component", "broker")
	return &Broker{
		cfg:      cfg,
		log:      log,
		auth:     deps.Auth,
		sessions: deps.Sessions,
		limits:   newLimits(cfg.Limit, log),
		gate:     newGate(cfg.Connects, time.Now()),
		tls:      tlsCfg,
		now:      time.Now,
		ready:    make(chan struct{}),
	}, nil
}

// Ready is closed once the listener is bound and serving.
func (b *Broker) Ready() <-chan struct{} { return b.ready }

// Addr is the "host:port" actually bound; valid after Ready.
func (b *Broker) Addr() string {
	if p := b.addr.Load(); p != nil {
		return *p
	}
	return ""
}

// Run binds, serves until ctx is done, then disconnects every client,
// closes the listener and returns once its connections have ended. A
// broker runs once.
func (b *Broker) Run(ctx context.Context) error {
	if !b.running.CompareAndSwap(false, true) {
		return errors.New("broker: Run called twice")
	}
	raw, err := new(net.ListenConfig).Listen(ctx, "tcp", b.cfg.Listen)
	if err != nil {
		return fmt.Errorf("broker: listen %s: %w", b.cfg.Listen, err)
	}
	srv := mqtt.New(options(b.log, b.cfg.MaxInflight))
	refused := newRefusals(b.log, b.now, refusalWindow)
	gd := newGuard(ctx, srv, b.auth, b.log, refused, b.sessions, b.limits, b.now)
	gd.gate, gd.cloud = b.gate, &b.cloud
	if err := srv.AddHook(gd, nil); err != nil {
		_ = raw.Close() // the hook error is the one to report
		return fmt.Errorf("broker: add hook: %w", err)
	}
	l := newListener(raw, b.tls, b.log)
	if err := srv.AddListener(l); err != nil {
		_ = raw.Close() // the listener error is the one to report
		return fmt.Errorf("broker: add listener: %w", err)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close() // always nil; it stops what Serve started
		l.wait()
		return fmt.Errorf("broker: serve: %w", err)
	}
	addr := raw.Addr().String()
	b.addr.Store(&addr)
	b.srv.Store(srv)
	close(b.ready)
	b.log.Info("broker listening", "addr", addr, "tls", b.tls != nil, "max_packet_bytes", MaxPacketSize(),
		"box_messages_per_second", b.cfg.Limit.MessagesPerSecond, "box_bytes_per_second", b.cfg.Limit.BytesPerSecond)

	b.watch(ctx, srv)
	_ = srv.Close() // always nil; it disconnects clients and closes the listener
	l.wait()
	b.limits.sweep(b.now(), b.sessions.Limited, true)
	refused.flush()
	b.log.Info("broker stopped", "addr", addr)
	return nil
}

// watch reports the boxes' drops and the messages mochi could not deliver
// to a subscriber every limitReportEvery until ctx ends.
func (b *Broker) watch(ctx context.Context, srv *mqtt.Server) {
	t := time.NewTicker(limitReportEvery)
	defer t.Stop()
	var folded undeliveredLog
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := b.now()
		b.limits.sweep(now, b.sessions.Limited, false)
		folded.check(b.log, now, undelivered(srv))
	}
}

// Undelivered counts the messages the broker dropped instead of delivering
// them to a subscriber since it started: a subscriber's queue or its
// in-flight window was full. For the township's own session every such
// message is a box message it never heard, so a rising count is an Error.
func (b *Broker) Undelivered() uint64 {
	if srv := b.srv.Load(); srv != nil {
		return undelivered(srv)
	}
	return 0
}

// Inflight is how many messages the service's own session holds
// unacknowledged now, and the most it may (the in-flight window): past
// the window the broker drops what it would send the service.
func (b *Broker) Inflight() (n, window int) {
	if cl := b.cloud.Load(); cl != nil {
		n = cl.State.Inflight.Len()
	}
	return n, b.cfg.MaxInflight
}

// Connects counts box connections that waited for their turn and those
// refused as the broker was busy (see ConnectLimit), since New.
func (b *Broker) Connects() (paced, refused uint64) {
	return b.gate.paced.Load(), b.gate.refused.Load()
}

// undelivered reads mochi's counters of messages dropped on the way out.
func undelivered(srv *mqtt.Server) uint64 {
	return uint64(atomic.LoadInt64(&srv.Info.InflightDropped) + atomic.LoadInt64(&srv.Info.MessagesDropped))
}

// undeliveredLog logs a rising Undelivered count, at most once per
// limitLogEvery.
type undeliveredLog struct {
	logged   uint64
	loggedAt time.Time
}

func (u *undeliveredLog) check(log *slog.Logger, now time.Time, total uint64) {
	if total == u.logged || !u.loggedAt.IsZero() && now.Sub(u.loggedAt) < limitLogEvery {
		return
	}
	log.Error("messages dropped before reaching their subscriber: a subscriber's queue or in-flight window is full", "dropped", total-u.logged, "dropped_total", total)
	u.logged, u.loggedAt = total, now
}

// options are mochi's settings; see the package comment for why.
func options(log *slog.Logger, maxInflight int) *mqtt.Options {
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumInflight = uint16(maxInflight)
	caps.MaximumPacketSize = uint32(MaxPacketSize())
	// mochi's default (a day) deletes retained messages and queued QoS 1
	// messages older than that: a box offline for two days would come back
	// to no desired state.
	caps.MaximumMessageExpiryInterval = 0
	caps.MaximumSessionExpiryInterval = uint32(SessionExpiry / time.Second)
	return &mqtt.Options{
		Capabilities: caps,
		Logger:       slog.New(mochiHandler{log.Handler()}),
	}
}
