package uplink

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/dalaba/dalaba/edge/clock"
	"github.com/dalaba/dalaba/edge/outbox"
	"github.com/dalaba/dalaba/edge/store"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// testBroker is a real MQTT broker on loopback that can be stopped and
// started again on the same address.
type testBroker struct {
	addr string
	srv  *mochi.Server
}

func newBroker(t testing.TB) *testBroker {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &testBroker{addr: l.Addr().String()}
	l.Close()
	b.start(t)
	t.Cleanup(b.stop)
	return b
}

func (b *testBroker) start(t testing.TB) {
	t.Helper()
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "t", Address: b.addr})); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	b.srv = srv
}

func (b *testBroker) stop() {
	if b.srv != nil {
		b.srv.Close()
		b.srv = nil
	}
}

// cloud plays the township: it collects batches, dedupes by seq and acks
// the contiguous watermark (when acking is on).
type cloud struct {
	t      testing.TB
	box    string
	cl     mqtt.Client
	mu     sync.Mutex
	seqs   map[uint64]int // seq → times received
	wm     uint64
	ack    bool
	status []protocol.Status
}

func newCloud(t testing.TB, url, box string, ack bool) *cloud {
	c := &cloud{t: t, box: box, seqs: map[uint64]int{}, ack: ack}
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID("cloud_" + box).SetCleanSession(true).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(50 * time.Millisecond).SetMaxReconnectInterval(200 * time.Millisecond)
	o.SetOnConnectHandler(func(cl mqtt.Client) {
		cl.Subscribe(protocol.Topic(box, protocol.KindEvents), 1, c.onEvents).WaitTimeout(5 * time.Second)
		cl.Subscribe(protocol.Topic(box, protocol.KindStatus), 1, func(_ mqtt.Client, m mqtt.Message) {
			if s, err := protocol.DecodeStatus(box, m.Payload()); err == nil {
				c.mu.Lock()
				c.status = append(c.status, s)
				c.mu.Unlock()
			}
		}).WaitTimeout(5 * time.Second)
	})
	c.cl = mqtt.NewClient(o)
	c.cl.Connect().WaitTimeout(5 * time.Second)
	t.Cleanup(func() { c.cl.Disconnect(50) })
	return c
}

func (c *cloud) onEvents(cl mqtt.Client, m mqtt.Message) {
	b, err := protocol.DecodeEventBatch(c.box, m.Payload())
	if err != nil {
		c.t.Errorf("bad batch from the box: %v", err)
		return
	}
	c.mu.Lock()
	for _, e := range b.Events {
		c.seqs[e.Seq]++
	}
	c.wm = max(c.wm, b.Floor-1)
	for c.seqs[c.wm+1] > 0 {
		c.wm++
	}
	wm, ack := c.wm, c.ack
	c.mu.Unlock()
	if ack {
		p, _ := protocol.Marshal(protocol.KindEventsAck, protocol.EventsAck{V: 1, BoxID: c.box, Seq: wm})
		cl.Publish(protocol.Topic(c.box, protocol.KindEventsAck), 1, false, p)
	}
}

func (c *cloud) received() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seqs)
}

type box struct {
	ob      *outbox.Outbox
	up      *Uplink
	mu      sync.Mutex
	desired [][]byte
	cmds    [][]byte
	cancel  func()
	done    chan struct{}
}

func newBox(t testing.TB, url, id string) *box {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "edge.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := outbox.New(st.DB(), outbox.Config{}, outbox.Deps{Clock: clock.Real()})
	if err != nil {
		t.Fatal(err)
	}
	b := &box{ob: ob, done: make(chan struct{})}
	b.up, err = New(Config{BoxID: id, BrokerURL: url, AckTimeout: 2 * time.Second, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, KeepAlive: 5 * time.Second}, Deps{
		Clock: clock.Real(), Outbox: ob,
		OnDesired: func(_ context.Context, p []byte) { b.mu.Lock(); b.desired = append(b.desired, p); b.mu.Unlock() },
		OnCommand: func(_ context.Context, p []byte) { b.mu.Lock(); b.cmds = append(b.cmds, p); b.mu.Unlock() },
		Reported: func() protocol.Reported {
			return protocol.Reported{AppliedRev: 7, OutboxBacklog: ob.Stats().Backlog, At: time.Now()}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	go ob.Run(ctx)
	go func() { b.up.Run(ctx); close(b.done) }()
	t.Cleanup(func() { cancel(); <-b.done; st.Close() })
	return b
}

func (b *box) appendN(t testing.TB, n int) {
	t.Helper()
	var wg sync.WaitGroup
	per := n / 10
	for w := 0; w < 10; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if _, err := b.ob.Append(context.Background(), outbox.Entry{Type: "t", Priority: 1, Data: []byte(`{"i":1}`)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func eventually(t testing.TB, d time.Duration, what string, f func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !f() {
		if time.Now().After(end) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDeletesOnlyWhatTheCloudAcknowledged(t *testing.T) {
	br := newBroker(t)
	url := "tcp://" + br.addr
	c := newCloud(t, url, "box-a", false)
	b := newBox(t, url, "box-a")
	b.appendN(t, 1000)
	eventually(t, 10*time.Second, "all 1000 events received", func() bool { return c.received() == 1000 })
	if s := b.ob.Stats(); s.Backlog != 1000 {
		t.Fatalf("events deleted without an ack: backlog %d", s.Backlog)
	}
	p, _ := protocol.Marshal(protocol.KindEventsAck, protocol.EventsAck{V: 1, BoxID: "box-a", Seq: 600})
	c.cl.Publish(protocol.Topic("box-a", protocol.KindEventsAck), 1, false, p).Wait()
	eventually(t, 5*time.Second, "acked events deleted", func() bool { return b.ob.Stats().FirstSeq == 601 })
	if s := b.ob.Stats(); s.Backlog != 400 {
		t.Fatalf("backlog %d after ack of 600, want 400", s.Backlog)
	}
}

func TestBrokerOutageDeliversEverythingOnce(t *testing.T) {
	br := newBroker(t)
	url := "tcp://" + br.addr
	c := newCloud(t, url, "box-b", true)
	b := newBox(t, url, "box-b")
	eventually(t, 5*time.Second, "connected", b.up.Connected)
	br.stop()
	eventually(t, 5*time.Second, "sees the broker gone", func() bool { return !b.up.Connected() })
	b.appendN(t, 10_000)
	br.start(t)
	eventually(t, 30*time.Second, "all 10,000 events delivered and acknowledged", func() bool { return b.ob.Stats().Backlog == 0 })
	c.mu.Lock()
	defer c.mu.Unlock()
	for seq := uint64(1); seq <= 10_000; seq++ {
		if c.seqs[seq] == 0 {
			t.Fatalf("seq %d never arrived", seq)
		}
	}
	if len(c.seqs) != 10_000 {
		t.Fatalf("%d distinct seqs, want 10,000", len(c.seqs))
	}
}

func TestInboundPassThroughAndGarbage(t *testing.T) {
	br := newBroker(t)
	url := "tcp://" + br.addr
	c := newCloud(t, url, "box-c", false)
	b := newBox(t, url, "box-c")
	eventually(t, 5*time.Second, "connected", b.up.Connected)
	pub := func(k protocol.Kind, p []byte) {
		c.cl.Publish(protocol.Topic("box-c", k), 1, false, p).Wait()
	}
	desired := []byte(`{"v":1,"body":{"anything":true},"sig":"AA=="}`)
	pub(protocol.KindDesired, desired)
	pub(protocol.KindCmd, []byte("not even json"))
	eventually(t, 5*time.Second, "desired and cmd handed on", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.desired) == 1 && len(b.cmds) == 1
	})
	if string(b.desired[0]) != string(desired) {
		t.Fatalf("desired altered: %s", b.desired[0])
	}
	b.appendN(t, 10)
	eventually(t, 5*time.Second, "events sent", func() bool { return c.received() == 10 })
	for _, g := range [][]byte{[]byte(`{`), []byte(`{"v":2,"box_id":"box-c","seq":10}`), []byte(`{"v":1,"box_id":"box-x","seq":10}`), make([]byte, 5000)} {
		pub(protocol.KindEventsAck, g)
	}
	good, _ := protocol.Marshal(protocol.KindEventsAck, protocol.EventsAck{V: 1, BoxID: "box-c", Seq: 10})
	pub(protocol.KindEventsAck, good)
	eventually(t, 5*time.Second, "the good ack after the garbage is applied", func() bool { return b.ob.Stats().Backlog == 0 })
	if b.up.badAcks.Load() != 4 {
		t.Errorf("%d malformed acks counted, want 4", b.up.badAcks.Load())
	}
}

func TestOfflineOnCleanShutdown(t *testing.T) {
	br := newBroker(t)
	url := "tcp://" + br.addr
	c := newCloud(t, url, "box-d", false)
	b := newBox(t, url, "box-d")
	eventually(t, 5*time.Second, "online status", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.status) > 0 && c.status[len(c.status)-1].Online
	})
	b.cancel()
	<-b.done
	eventually(t, 5*time.Second, "offline status", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.status[len(c.status)-1].Online
	})
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	lo, hi := time.Second, time.Minute
	seen := map[time.Duration]bool{}
	for n := 0; n < 40; n++ {
		ceil := min(hi, lo<<min(n, 30))
		for i := 0; i < 50; i++ {
			d := Backoff(n, lo, hi, r)
			if d < lo/2 || d > ceil {
				t.Fatalf("attempt %d: %s outside [%s, %s]", n, d, lo/2, ceil)
			}
			seen[d] = true
		}
	}
	if len(seen) < 1000 {
		t.Errorf("only %d distinct waits: no jitter", len(seen))
	}
	late := 0
	for i := 0; i < 100; i++ {
		if Backoff(10, lo, hi, r) > 10*time.Second {
			late++
		}
	}
	if late < 50 {
		t.Errorf("after 10 failures most waits should exceed 10 s, %d of 100 did", late)
	}
}

func TestMosquitto(t *testing.T) {
	addr := testenv.Mosquitto(t)
	id := fmt.Sprintf("uplink-%d", rand.Uint32())
	url := "tcp://" + addr
	newCloud(t, url, id, true)
	b := newBox(t, url, id)
	b.appendN(t, 500)
	eventually(t, 10*time.Second, "events acknowledged through Mosquitto", func() bool { return b.ob.Stats().Backlog == 0 })
}

// BenchmarkDrain100k: 100,000 buffered events sent and acknowledged over
// the loopback broker.
func BenchmarkDrain100k(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		br := newBroker(b)
		url := "tcp://" + br.addr
		id := fmt.Sprintf("bench-%d", i)
		newCloud(b, url, id, true)
		bx := newBox(b, url, id)
		eventually(b, 5*time.Second, "connected", bx.up.Connected)
		br.stop()
		eventually(b, 5*time.Second, "disconnected", func() bool { return !bx.up.Connected() })
		bx.appendN(b, 100_000)
		b.StartTimer()
		start := time.Now()
		br.start(b)
		eventually(b, 60*time.Second, "drained", func() bool { return bx.ob.Stats().Backlog == 0 })
		b.ReportMetric(100_000/time.Since(start).Seconds(), "events/s")
	}
}
