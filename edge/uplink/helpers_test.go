package uplink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"golang.org/x/sync/errgroup"

	"github.com/dalaba/dalaba/edge/clock"
	"github.com/dalaba/dalaba/edge/outbox"
	"github.com/dalaba/dalaba/edge/store"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// testLogger discards logs unless UPLINK_TEST_LOG is set, so a failing run
// can be replayed with the session's story.
func testLogger() *slog.Logger { return testenv.EnvLogger("UPLINK_TEST_LOG") }

// broker is a real mochi broker on loopback that can be stopped and started
// again on the same address (losing every session, as a broker without
// persistence does).
type broker struct {
	t    testing.TB
	addr string
	mu   sync.Mutex
	srv  *mochi.Server
	l    *trackingListener
}

func startBroker(t testing.TB) *broker {
	t.Helper()
	b := &broker{t: t}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = l.Addr().String()
	b.serve(l)
	t.Cleanup(b.stop)
	return b
}

func (b *broker) url() string { return "tcp://" + b.addr }

func (b *broker) serve(l net.Listener) {
	b.t.Helper()
	tl := &trackingListener{Listener: l}
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler), InlineClient: false})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		b.t.Fatal(err)
	}
	if err := srv.AddListener(listeners.NewNet("t", tl)); err != nil {
		b.t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		b.t.Fatal(err)
	}
	b.mu.Lock()
	b.srv, b.l = srv, tl
	b.mu.Unlock()
}

// restart starts the broker again on the address it had.
func (b *broker) restart() {
	b.t.Helper()
	l, err := net.Listen("tcp", b.addr)
	if err != nil {
		b.t.Fatalf("restarting the broker on %s: %v", b.addr, err)
	}
	b.serve(l)
}

// stop closes the listener and every connection before asking mochi to
// close: mochi's Close waits for every client, and a client that
// reconnected between its disconnecting the known clients and closing the
// listener would keep it waiting for good.
func (b *broker) stop() {
	b.mu.Lock()
	srv, l := b.srv, b.l
	b.srv, b.l = nil, nil
	b.mu.Unlock()
	if srv == nil {
		return
	}
	l.shut()
	// mochi's Close read-locks its client list twice over (GetByListener
	// calls Len), so a connection still ending, which write-locks it to
	// delete its client, deadlocks the two. Its ClientsConnected drops
	// only after that delete: wait for the shut connections to end first.
	for deadline := time.Now().Add(10 * time.Second); atomic.LoadInt64(&srv.Info.ClientsConnected) > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond) // each ending connection's goroutine finishing
	}
	_ = srv.Close() // a test broker; its close error tells nothing
}

// trackingListener remembers what it accepted so that shut can close it
// all, and accepts nothing after.
type trackingListener struct {
	net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	l.conns = append(l.conns, c)
	return c, nil
}

func (l *trackingListener) shut() {
	l.mu.Lock()
	l.closed = true
	cs := l.conns
	l.conns = nil
	l.mu.Unlock()
	_ = l.Listener.Close() // ends Accept
	for _, c := range cs {
		_ = c.Close()
	}
}

// proxy forwards TCP to a target and can cut every connection through it
// (both sides see the socket die, as when a mobile link drops) and refuse
// new ones.
type proxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	refuse bool
	closed bool
	wg     sync.WaitGroup
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		_ = l.Close() // ends accept
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) url() string { return "tcp://" + p.l.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse
		p.mu.Unlock()
		if refuse {
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = c.Close()
			_ = up.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src) // ends when either side is cut
	_ = dst.Close()
	_ = src.Close()
}

func (p *proxy) setRefuse(r bool) {
	p.mu.Lock()
	p.refuse = r
	p.mu.Unlock()
}

// cut closes every connection through the proxy.
func (p *proxy) cut() {
	p.mu.Lock()
	cs := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
}

// cloud plays the township with its own paho client: it subscribes to a
// box's events, status, reported and cmd/result, stores events once by
// seq (whatever their epoch: the tests that change it use answer), and
// (when acking) acks each batch as the township does: its epoch, from its
// lowest seq through the contiguous watermark or the batch's end, which
// ever is lower.
type cloud struct {
	t   testing.TB
	box string
	cl  mqtt.Client

	mu       sync.Mutex
	ack      bool
	answer   func(protocol.EventBatch) (protocol.EventsAck, bool) // if set and true, replaces the ack
	batchLog []protocol.EventBatch                                // every batch received, in order
	events   map[uint64]protocol.Event
	received int // events received, duplicates included
	wm       uint64
	log      []uint64 // seqs in the order the watermark passed them: the stored order
	status   []protocol.Status
	reported []protocol.Reported
	results  []protocol.CommandResult
	batches  chan struct{}
}

func startCloud(t testing.TB, url, box string, ack bool) *cloud {
	t.Helper()
	c := &cloud{t: t, box: box, ack: ack, events: map[uint64]protocol.Event{}, batches: make(chan struct{}, 1)}
	ready := make(chan struct{}, 1)
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("cloud-%s-%08x", box, rand.Uint32())).SetCleanSession(true).
		SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(20 * time.Millisecond).SetMaxReconnectInterval(50 * time.Millisecond).
		SetOnConnectHandler(func(cl mqtt.Client) {
			// Subscribing again after every connect: a restarted broker
			// has forgotten the subscriptions. Not waited on here (this
			// runs on paho's goroutine); the test waits for ready.
			tok := cl.SubscribeMultiple(map[string]byte{
				protocol.Topic(box, protocol.KindEvents):    1,
				protocol.Topic(box, protocol.KindStatus):    1,
				protocol.Topic(box, protocol.KindReported):  1,
				protocol.Topic(box, protocol.KindCmdResult): 1,
			}, c.onMessage)
			go func() {
				if tok.Wait() && tok.Error() == nil {
					select {
					case ready <- struct{}{}:
					default:
					}
				}
			}()
		})
	c.cl = mqtt.NewClient(o)
	c.cl.Connect()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("the test cloud did not subscribe within 10s")
	}
	t.Cleanup(func() { c.cl.Disconnect(100) })
	return c
}

func (c *cloud) onMessage(cl mqtt.Client, m mqtt.Message) {
	_, k, err := protocol.ParseTopic(m.Topic())
	if err != nil {
		c.t.Errorf("cloud: %v", err)
		return
	}
	switch k {
	case protocol.KindEvents:
		c.onEvents(cl, m.Payload())
	case protocol.KindStatus:
		s, err := protocol.DecodeStatus(c.box, m.Payload())
		if err != nil {
			c.t.Errorf("cloud: status: %v", err)
			return
		}
		c.mu.Lock()
		c.status = append(c.status, s)
		c.mu.Unlock()
	case protocol.KindReported:
		r, err := protocol.DecodeReported(c.box, m.Payload())
		if err != nil {
			c.t.Errorf("cloud: reported: %v", err)
			return
		}
		c.mu.Lock()
		c.reported = append(c.reported, r)
		c.mu.Unlock()
	case protocol.KindCmdResult:
		r, err := protocol.DecodeCommandResult(c.box, m.Payload())
		if err != nil {
			c.t.Errorf("cloud: result: %v", err)
			return
		}
		c.mu.Lock()
		c.results = append(c.results, r)
		c.mu.Unlock()
	}
}

func (c *cloud) onEvents(cl mqtt.Client, payload []byte) {
	b, err := protocol.DecodeEventBatch(c.box, payload)
	if err != nil {
		c.t.Errorf("cloud: a batch the protocol refuses: %v", err)
		return
	}
	c.mu.Lock()
	c.batchLog = append(c.batchLog, b)
	if c.answer != nil {
		if a, ok := c.answer(b); ok {
			c.mu.Unlock()
			c.publishAck(cl, a)
			return
		}
	}
	for _, e := range b.Events {
		c.received++
		if _, dup := c.events[e.Seq]; !dup {
			c.events[e.Seq] = e
		}
	}
	// Below the floor everything is settled (acked before, or dropped).
	c.wm = max(c.wm, b.Floor-1)
	for {
		if _, ok := c.events[c.wm+1]; !ok {
			break
		}
		c.wm++
		c.log = append(c.log, c.wm)
	}
	a := rangeAck(c.box, b, c.wm)
	ack := c.ack
	c.mu.Unlock()
	select {
	case c.batches <- struct{}{}:
	default:
	}
	if ack {
		c.publishAck(cl, a)
	}
}

// rangeAck is the township's ack to batch b at watermark wm.
func rangeAck(box string, b protocol.EventBatch, wm uint64) protocol.EventsAck {
	from, top := b.Floor, b.Floor-1
	if len(b.Events) > 0 {
		from, top = b.Events[0].Seq, b.Events[len(b.Events)-1].Seq
	}
	a := protocol.EventsAck{V: protocol.Version, BoxID: box, Epoch: b.Epoch, Seq: min(wm, top)}
	if b.Epoch != "" {
		a.From = from
	}
	return a
}

func (c *cloud) publishAck(cl mqtt.Client, a protocol.EventsAck) {
	p, err := protocol.Marshal(protocol.KindEventsAck, a)
	if err != nil {
		c.t.Errorf("cloud: %v", err)
		return
	}
	cl.Publish(protocol.Topic(c.box, protocol.KindEventsAck), 1, false, p) // not awaited: may run on paho's goroutine
}

// setAnswer replaces the ack to the batches f answers (f runs under c.mu).
func (c *cloud) setAnswer(f func(protocol.EventBatch) (protocol.EventsAck, bool)) {
	c.mu.Lock()
	c.answer = f
	c.mu.Unlock()
}

// batchesSeen copies the batches received so far.
func (c *cloud) batchesSeen() []protocol.EventBatch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]protocol.EventBatch(nil), c.batchLog...)
}

// publish sends a raw payload to the box, waiting for the broker's ack.
func (c *cloud) publish(k protocol.Kind, payload []byte, retained bool) {
	c.t.Helper()
	tok := c.cl.Publish(protocol.Topic(c.box, k), 1, retained, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		c.t.Fatalf("cloud: publish %s: %v", k, tok.Error())
	}
}

func (c *cloud) setAck(on bool) {
	c.mu.Lock()
	c.ack = on
	c.mu.Unlock()
}

func (c *cloud) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

func (c *cloud) lastStatus() (protocol.Status, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.status) == 0 {
		return protocol.Status{}, false
	}
	return c.status[len(c.status)-1], true
}

// box is a box's uplink on a real outbox in a real bbolt file.
type box struct {
	ob *outbox.Outbox
	up *Uplink

	mu       sync.Mutex
	desired  [][]byte
	commands [][]byte
	got      chan struct{}

	run  func()       // starts the uplink (startBox does, unless told deferRun)
	stop func() error // ends Run and the outbox; returns Run's error
}

// boxOpts vary a test box.
type boxOpts struct {
	path     string      // bbolt file; default a new one in t.TempDir()
	clock    clock.Clock // default the real clock
	deferRun bool        // the test calls box.run itself, e.g. after filling the outbox
	caFile   string
}

func startBox(t testing.TB, url, id string) *box {
	t.Helper()
	return startBoxWith(t, url, id, boxOpts{})
}

func startBoxWith(t testing.TB, url, id string, o boxOpts) *box {
	t.Helper()
	if o.path == "" {
		o.path = filepath.Join(t.TempDir(), "edge.db")
	}
	if o.clock == nil {
		o.clock = clock.Real()
	}
	st, err := store.Open(o.path, store.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		BoxID: id, BrokerURL: url, CAFile: o.caFile, Version: "test",
		KeepAlive: 5 * time.Second, ConnectTimeout: 5 * time.Second, AckTimeout: time.Second,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
	}
	deps := Deps{Logger: testLogger(), Clock: o.clock}
	ob, err := outbox.New(st.DB(), outbox.Config{}, outbox.Deps{Logger: deps.Logger, Clock: deps.Clock})
	if err != nil {
		t.Fatal(err)
	}
	b := &box{ob: ob, got: make(chan struct{}, 1)}
	deps.Outbox = ob
	deps.OnDesired = func(_ context.Context, p []byte) { b.record(&b.desired, p) }
	deps.OnCommand = func(_ context.Context, p []byte) { b.record(&b.commands, p) }
	deps.Reported = func() protocol.Reported { return protocol.Reported{AppliedRev: 7} }
	if b.up, err = New(cfg, deps); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return ob.Run(gctx) })
	var started sync.Once
	b.run = func() { started.Do(func() { g.Go(func() error { return b.up.Run(gctx) }) }) }
	var once sync.Once
	var runErr error
	b.stop = func() error {
		once.Do(func() {
			cancel()
			runErr = g.Wait()
			if err := st.Close(); err != nil && runErr == nil {
				runErr = err
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := b.stop(); err != nil {
			t.Errorf("box %s: %v", id, err)
		}
	})
	if !o.deferRun {
		b.run()
	}
	return b
}

func (b *box) record(into *[][]byte, p []byte) {
	b.mu.Lock()
	*into = append(*into, p)
	b.mu.Unlock()
	select {
	case b.got <- struct{}{}:
	default:
	}
}

// appendN appends n events from many goroutines (so the outbox's group
// commit shares fsyncs) and returns each seq's index i, also carried in the
// event's data as {"i":i}.
func (b *box) appendN(t testing.TB, n int) map[uint64]int {
	t.Helper()
	workers := min(n, 500)
	var mu sync.Mutex
	seqs := make(map[uint64]int, n)
	g, ctx := errgroup.WithContext(t.Context())
	for w := range workers {
		g.Go(func() error {
			for i := w; i < n; i += workers {
				data, _ := json.Marshal(map[string]int{"i": i}) // a map of ints always encodes
				seq, err := b.ob.Append(ctx, outbox.Entry{Type: "test.event", Priority: protocol.PriorityInfo, Data: data})
				if err != nil {
					return err
				}
				mu.Lock()
				seqs[seq] = i
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("append: %v", err)
	}
	return seqs
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatal(errors.New("test context ended"))
		}
	}
}
