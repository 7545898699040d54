// Package downlink is the township service's own MQTT client: it subscribes
// to what every box publishes, hands each message to one handler in arrival
// order, and publishes desired state, commands and acks. It knows topics
// only through protocol and nothing of stores or HTTP.
package downlink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/dalaba/dalaba/internal/tlsclient"
	"github.com/dalaba/dalaba/protocol"
)

// Config is how the service reaches its broker.
type Config struct {
	URL      string // tcp://, ssl:// or tls://
	Username string
	Password string
	ClientID string
	CAFile   string // optional PEM for TLS
}

// Deps are what the downlink uses.
type Deps struct {
	Logger *slog.Logger
	// Handle gets every message from a box's subtree, in arrival order, on
	// the MQTT client's goroutine: it must not wait on a publish.
	Handle func(box string, k protocol.Kind, payload []byte)
	// OnConnect runs after every (re)connect and subscribe, on its own
	// goroutine: republishing retained state belongs here.
	OnConnect func(ctx context.Context)
}

// Downlink is the connection.
type Downlink struct {
	cfg    Config
	deps   Deps
	log    *slog.Logger
	mu     sync.Mutex
	client mqtt.Client // set once Run starts
}

// subscribed are the box→cloud kinds the service listens to.
var subscribed = []protocol.Kind{protocol.KindStatus, protocol.KindReported, protocol.KindEvents, protocol.KindCmdResult}

// New validates cfg; nothing connects before Run.
func New(cfg Config, deps Deps) (*Downlink, error) {
	var errs []error
	if cfg.URL == "" {
		errs = append(errs, errors.New("no broker URL"))
	}
	if cfg.ClientID == "" {
		errs = append(errs, errors.New("no client id"))
	}
	if deps.Handle == nil {
		errs = append(errs, errors.New("no handler"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("downlink: %w", err)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return &Downlink{cfg: cfg, deps: deps, log: deps.Logger.With("component", "downlink")}, nil
}

// Run connects, keeps reconnecting with paho's capped backoff, and returns
// after disconnecting when ctx ends.
func (d *Downlink) Run(ctx context.Context) error {
	o := mqtt.NewClientOptions().
		AddBroker(d.cfg.URL).
		SetClientID(d.cfg.ClientID).
		SetUsername(d.cfg.Username).
		SetPassword(d.cfg.Password).
		// A persistent session: what boxes publish while the service
		// restarts waits at the broker.
		SetCleanSession(false).
		SetOrderMatters(true).
		SetKeepAlive(30 * time.Second).
		SetConnectTimeout(10 * time.Second).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(30 * time.Second).
		SetDefaultPublishHandler(func(mqtt.Client, mqtt.Message) {})
	if d.cfg.CAFile != "" || strings.HasPrefix(d.cfg.URL, "ssl://") || strings.HasPrefix(d.cfg.URL, "tls://") {
		tc, err := tlsclient.Config(d.cfg.CAFile)
		if err != nil {
			return err
		}
		o.SetTLSConfig(tc)
	}
	o.SetOnConnectHandler(func(c mqtt.Client) {
		// paho runs this on its own goroutine, so waiting here is safe.
		for _, k := range subscribed {
			tok := c.Subscribe(protocol.AllBoxes(k), 1, d.route)
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				d.log.Error("subscribe failed", "filter", protocol.AllBoxes(k), "err", tok.Error())
			}
		}
		d.log.Info("connected", "broker", d.cfg.URL)
		if d.deps.OnConnect != nil {
			d.deps.OnConnect(ctx)
		}
	})
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) { d.log.Warn("connection lost", "err", err) })
	c := mqtt.NewClient(o)
	d.mu.Lock()
	d.client = c
	d.mu.Unlock()
	c.Connect() // with ConnectRetry it keeps trying in the background
	<-ctx.Done()
	c.Disconnect(500)
	return nil
}

func (d *Downlink) route(_ mqtt.Client, m mqtt.Message) {
	box, k, err := protocol.ParseTopic(m.Topic())
	if err != nil {
		d.log.Warn("message on an unknown topic", "topic", m.Topic(), "err", err)
		return
	}
	d.deps.Handle(box, k, m.Payload())
}

// ErrNotConnected is returned by Publish before the first connect.
var ErrNotConnected = errors.New("downlink: not connected")

// Publish sends payload on topic at QoS 1 and waits for the broker's
// acknowledgement or ctx. Never call it from Handle.
func (d *Downlink) Publish(ctx context.Context, topic string, retained bool, payload []byte) error {
	c := d.conn()
	if c == nil || !c.IsConnectionOpen() {
		return ErrNotConnected
	}
	tok := c.Publish(topic, 1, retained, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("downlink: publish %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("downlink: publish %s: %w", topic, ctx.Err())
	}
}

// PublishAsync sends payload on topic at QoS 1 without waiting: what Handle
// uses for acks. A lost ack only delays the box, which resends and is
// deduplicated.
func (d *Downlink) PublishAsync(topic string, retained bool, payload []byte) {
	if c := d.conn(); c != nil {
		c.Publish(topic, 1, retained, payload)
	}
}

func (d *Downlink) conn() mqtt.Client {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.client
}

// Connected reports whether the connection is up.
func (d *Downlink) Connected() bool {
	c := d.conn()
	return c != nil && c.IsConnectionOpen()
}
