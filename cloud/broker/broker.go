package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
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

// Config is where and how the broker listens.
type Config struct {
	Listen string // e.g. "127.0.0.1:0", ":8883"
	// CertFile and KeyFile, both or neither, make the listener TLS only.
	CertFile, KeyFile string
}

// Deps are what the broker uses.
type Deps struct {
	Logger *slog.Logger
	Auth   Authenticator
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
	cfg     Config
	log     *slog.Logger
	auth    Authenticator
	tls     *tls.Config
	now     func() time.Time
	ready   chan struct{}
	addr    atomic.Pointer[string]
	running atomic.Bool
	srv     atomic.Pointer[mqtt.Server] // while Run serves; for Kick
}

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
	return &Broker{
		cfg:   cfg,
		log:   deps.Logger.With("component", "broker"),
		auth:  deps.Auth,
		tls:   tlsCfg,
		now:   time.Now,
		ready: make(chan struct{}),
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
	srv := mqtt.New(options(b.log))
	refused := newRefusals(b.log, b.now, refusalWindow)
	if err := srv.AddHook(newGuard(ctx, srv, b.auth, b.log, refused), nil); err != nil {
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
	b.log.Info("broker listening", "addr", addr, "tls", b.tls != nil, "max_packet_bytes", MaxPacketSize())

	<-ctx.Done()
	b.srv.Store(nil)
	_ = srv.Close() // always nil; it disconnects clients and closes the listener
	l.wait()
	refused.flush()
	b.log.Info("broker stopped", "addr", addr)
	return nil
}

// options are mochi's settings; see the package comment for why.
func options(log *slog.Logger) *mqtt.Options {
	caps := mqtt.NewDefaultServerCapabilities()
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
