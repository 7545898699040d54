package cloud

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// ackUnderFlood is how long an honest box's event batch may take from its
// publish to the township's ack while another box floods the broker: a few
// milliseconds when healthy (the flood in the field took it to 1.6 s),
// generous for a loaded 2-core machine.
const ackUnderFlood = 2 * time.Second

// ackBox is a box's credentials sending event batches and timing the
// township's acks.
type ackBox struct {
	id   string
	cl   mqtt.Client
	acks chan uint64
	seq  uint64
}

func dialAckBox(t testing.TB, ec edgeConfig, brokerURL string) *ackBox {
	t.Helper()
	a := &ackBox{id: ec.BoxID, acks: make(chan uint64, 64)}
	a.cl = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(ec.BoxID).
		SetUsername(ec.Broker.Username).SetPassword(ec.Broker.Password).SetAutoReconnect(false))
	if tok := a.cl.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", a.id, tok.Error())
	}
	t.Cleanup(func() { a.cl.Disconnect(0) })
	tok := a.cl.Subscribe(protocol.Topic(a.id, protocol.KindEventsAck), 1, func(_ mqtt.Client, m mqtt.Message) {
		if ack, err := protocol.DecodeEventsAck(a.id, m.Payload()); err == nil {
			select {
			case a.acks <- ack.Seq:
			default: // the test reads every ack it waits for
			}
		}
	})
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return a
}

// roundTrip sends the next event batch and returns how long the
// township's ack of it took.
func (a *ackBox) roundTrip(t testing.TB) time.Duration {
	t.Helper()
	a.seq++
	sent := time.Now()
	if tok := a.cl.Publish(protocol.Topic(a.id, protocol.KindEvents), 1, false, batch(t, a.id, 1, a.seq)); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish batch %d: %v", a.seq, tok.Error())
	}
	deadline := time.After(wait)
	for {
		select {
		case s := <-a.acks:
			if s >= a.seq {
				return time.Since(sent)
			}
		case <-deadline:
			t.Fatalf("no ack of seq %d within %s", a.seq, wait)
		}
	}
}

// flood publishes junk at QoS 0 on a box's events topic as fast as the
// broker takes it, until end.
type flood struct {
	start time.Time
	conn  atomic.Pointer[net.Conn]
	stop  chan struct{}
	sent  chan int
}

func startFlood(t testing.TB, ec edgeConfig, brokerURL string) *flood {
	t.Helper()
	f := &flood{start: time.Now(), stop: make(chan struct{}), sent: make(chan int, 1)}
	cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(ec.BoxID).
		SetUsername(ec.Broker.Username).SetPassword(ec.Broker.Password).SetAutoReconnect(false).
		// Publish waits for room in paho's queue; when the broker holds
		// the connection it must still see end.
		SetWriteTimeout(time.Second).
		SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
			c, err := net.DialTimeout("tcp", u.Host, wait)
			if err == nil {
				f.conn.Store(&c)
			}
			return c, err
		}))
	if tok := cl.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("flooder connect: %v", tok.Error())
	}
	topic := protocol.Topic(ec.BoxID, protocol.KindEvents)
	go func() {
		n := 0
		for {
			select {
			case <-f.stop:
				f.sent <- n
				return
			default:
			}
			cl.Publish(topic, 0, false, "junk")
			n++
		}
	}()
	t.Cleanup(func() { f.end() })
	return f
}

// end stops the flood by cutting its connection, whose backlog the broker
// would take minutes to read, and returns how many were published.
func (f *flood) end() int {
	select {
	case <-f.stop:
		return 0
	default:
	}
	close(f.stop)
	if c := f.conn.Load(); c != nil {
		_ = (*c).Close() // ends the flood; the error would say it was closed
	}
	return <-f.sent
}

// One box flooding the broker as fast as it can gets no more than its
// allowance to the township and is counted, while another box's event
// batches are acked as fast as ever.
func TestFloodDoesNotSlowOtherBoxes(t *testing.T) {
	r := startCloud(t, t.TempDir(), nil)
	lim := testConfig("").MQTT.BoxLimit
	honest := dialAckBox(t, r.addBox(t, "village-honest"), "tcp://"+r.mqtt)
	honest.roundTrip(t) // the first batch stores the box's first events
	const flooder = "village-flood"
	f := startFlood(t, r.addBox(t, flooder), "tcp://"+r.mqtt)

	var worst time.Duration
	for range 20 {
		d := honest.roundTrip(t)
		worst = max(worst, d)
		if d > ackUnderFlood {
			t.Errorf("batch %d acked after %s under the flood, bound %s", honest.seq, d, ackUnderFlood)
		}
	}
	waitFor(t, "the flood counted as rate limited", func() bool { return r.box(t, flooder).RateLimited > 0 })
	// Every junk message that reached the township was refused there, and
	// no more can have reached it than the allowance grew to since the
	// flood began.
	b := r.box(t, flooder)
	allowance := uint64(lim.MessageBurst) + uint64(time.Since(f.start).Seconds()*float64(lim.MessagesPerSecond))
	sent := f.end()
	t.Logf("flooder published %d in %s: %d reached the township (allowance %d), %d rate limited; worst honest ack %s",
		sent, time.Since(f.start).Round(time.Millisecond), b.RejectedMessages, allowance, b.RateLimited, worst)
	if b.RejectedMessages > allowance {
		t.Fatalf("%d of the flood reached the township, allowance %d", b.RejectedMessages, allowance)
	}
	if h := r.box(t, honest.id); h.RateLimited != 0 || h.RejectedMessages != 0 {
		t.Fatalf("the honest box: %d rate limited, %d rejected", h.RateLimited, h.RejectedMessages)
	}
}

// BenchmarkAckLatencyUnderFlood: an event batch's round trip from a box's
// publish to the township's ack (ns/op, and the 99th percentile), alone
// and while another box floods the broker with junk as fast as it can. The
// batches come from honestBoxes boxes in turn, as a township's do, so none
// of them is slowed by its own allowance (20 messages a second after a
// burst of 200).
func BenchmarkAckLatencyUnderFlood(b *testing.B) {
	const honestBoxes = 16
	for _, flooding := range []bool{false, true} {
		name := "alone"
		if flooding {
			name = "flood"
		}
		b.Run(name, func(b *testing.B) {
			r := startCloud(b, b.TempDir(), nil)
			var honest []*ackBox
			for i := range honestBoxes {
				h := dialAckBox(b, r.addBox(b, fmt.Sprintf("village-%d", i)), "tcp://"+r.mqtt)
				h.roundTrip(b)
				honest = append(honest, h)
			}
			if flooding {
				startFlood(b, r.addBox(b, "village-flood"), "tcp://"+r.mqtt)
				testenv.WaitFor(b, wait, "the flood limited", func() bool { return r.box(b, "village-flood").RateLimited > 0 })
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				lat = append(lat, honest[i%honestBoxes].roundTrip(b))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
		})
	}
}
