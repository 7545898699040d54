package broker

import (
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// testLimit is small, so a flood is over it at once: 50 messages a second
// after a burst of 50; bytes as loose as allowed.
func testLimit() Limit {
	return Limit{MessagesPerSecond: 50, MessageBurst: 50, BytesPerSecond: MaxPacketSize(), ByteBurst: MaxPacketSize()}
}

var t0 = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

func newAllowance(l Limit) *allowance {
	return newLimits(l, slog.New(slog.DiscardHandler)).of(boxA, t0)
}

// At QoS 0 a box gets its burst at once and then its rate; the rest is
// dropped and counted, each drop holding the connection until the next
// token is due.
func TestLimitDropsQoS0OverTheAllowance(t *testing.T) {
	a := newAllowance(testLimit())
	passed, dropped := 0, 0
	// 1000 messages a second for 3 seconds, if the broker read them all.
	for i := range 3000 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		switch v := a.judge(100, 0, now); {
		case v.drop:
			dropped++
			if v.wait <= 0 || v.wait > time.Second/50 {
				t.Fatalf("publish %d dropped, the connection held %s; want until the next token, at most %s", i, v.wait, time.Second/50)
			}
		case v.wait > 0:
			t.Fatalf("a QoS 0 publish was paced by %s", v.wait)
		default:
			passed++
		}
	}
	// The burst, then 50 a second for the 3 s.
	if want := 50 + 3*50; passed < want-2 || passed > want {
		t.Fatalf("%d passed, want about %d (burst and rate)", passed, want)
	}
	if dropped != 3000-passed || a.dropped != uint64(dropped) {
		t.Fatalf("%d dropped, counted %d; want %d", dropped, a.dropped, 3000-passed)
	}
}

// At QoS 1 a box over its allowance is slowed: each publish waits for its
// tokens, up to MaxPace, and nothing is dropped.
func TestLimitPacesQoS1(t *testing.T) {
	a := newAllowance(testLimit())
	now := t0
	for i := range 200 {
		v := a.judge(100, 1, now)
		if v.drop {
			t.Fatalf("publish %d dropped", i)
		}
		if i < 50 && v.wait != 0 {
			t.Fatalf("publish %d within the burst waited %s", i, v.wait)
		}
		if i >= 50 && (v.wait <= 0 || v.wait > time.Second/50+time.Millisecond) {
			t.Fatalf("publish %d after the burst waits %s, want about %s", i, v.wait, time.Second/50)
		}
		now = now.Add(v.wait) // the connection waits before reading on
	}
	if took := now.Sub(t0); took < 3*time.Second-20*time.Millisecond {
		t.Fatalf("200 publishes took %s, want 3 s: 50 at once and 150 at 50 a second", took)
	}
	// A publish that would have to wait longer than MaxPace is dropped.
	l := testLimit()
	l.BytesPerSecond = MaxPacketSize()
	a = newAllowance(l)
	if v := a.judge(MaxPacketSize(), 1, t0); v.wait != 0 || v.drop {
		t.Fatalf("the largest packet within the burst: %+v", v)
	}
	if v := a.judge(MaxPacketSize(), 1, t0); v.drop || v.wait > MaxPace || v.wait < MaxPace-time.Millisecond {
		t.Fatalf("a second largest packet at once: %+v, want a wait of %s", v, MaxPace)
	}
	if v := a.judge(MaxPacketSize(), 1, t0); !v.drop || v.wait != MaxPace {
		t.Fatalf("a third largest packet at once, two seconds away: %+v, want it dropped after holding %s", v, MaxPace)
	}
}

// A box whose publishes keep being dropped for AbuseAfter is to be
// disconnected; a pause of more than a second forgives. The broker's
// sweeps every second in between change nothing.
func TestLimitAbuse(t *testing.T) {
	l := newLimits(testLimit(), slog.New(slog.DiscardHandler))
	now := t0
	flood := func(d time.Duration) (abusive bool) {
		for end := now.Add(d); now.Before(end); now = now.Add(time.Millisecond) {
			if now.Sub(t0)%time.Second == 0 {
				l.sweep(now, func(string, uint64) {}, false)
			}
			if l.of(boxA, now).judge(100, 0, now).abusive {
				return true
			}
		}
		return false
	}
	if flood(AbuseAfter - 100*time.Millisecond) {
		t.Fatal("abusive before AbuseAfter")
	}
	now = now.Add(2 * dropGap)
	if flood(AbuseAfter - 100*time.Millisecond) {
		t.Fatal("abusive although a pause had ended the run of drops")
	}
	if !flood(time.Second) {
		t.Fatal("never abusive")
	}
}

func TestLimitValidate(t *testing.T) {
	if err := DefaultLimit().Validate(); err != nil {
		t.Fatalf("the default: %v", err)
	}
	err := Limit{MessagesPerSecond: 0, MessageBurst: -1, BytesPerSecond: 1 << 10, ByteBurst: 1 << 20}.Validate()
	for _, want := range []string{"messages_per_second", "message_burst", "bytes_per_second", "byte_burst"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to mention %s", err, want)
		}
	}
	if _, err := New(Config{Listen: "127.0.0.1:0", Limit: Limit{MessagesPerSecond: 1}}, Deps{Logger: discardLogger(), Auth: tableAuth{}}); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("New with a bad limit = %v", err)
	}
}

// Drops reach Sessions and the log folded: one line per box per minute,
// however many were dropped.
func TestLimitReportsFolded(t *testing.T) {
	rec := &logRecorder{}
	l := newLimits(testLimit(), slog.New(rec))
	sl := &sessionLog{}
	// As the guard does: the box's allowance looked up for each publish.
	flood := func(from time.Time) {
		for i := range 1000 {
			now := from.Add(time.Duration(i) * time.Microsecond)
			l.of(boxA, now).judge(100, 0, now)
		}
	}
	flood(t0)
	l.sweep(t0.Add(time.Second), sl.Limited, false)
	flood(t0.Add(time.Second))
	l.sweep(t0.Add(2*time.Second), sl.Limited, false)
	if got := sl.dropped(boxA); got != 2000-50-50 {
		t.Fatalf("Sessions heard of %d drops, want %d", got, 2000-50-50)
	}
	if got := rec.find(slog.LevelWarn, "box over its publish limit: messages dropped", map[string]string{"box_id": boxA, "dropped": "950"}); len(got) != 1 {
		t.Fatalf("%d Warn lines for the first second's 950 drops, want 1", len(got))
	}
	l.sweep(t0.Add(3*time.Second), sl.Limited, true)
	if got := rec.find(slog.LevelWarn, "box over its publish limit: messages dropped", map[string]string{"box_id": boxA}); len(got) != 2 {
		t.Fatalf("%d Warn lines after the final sweep, want 2", len(got))
	}
	// Quiet and full again: forgotten.
	l.sweep(t0.Add(time.Minute), sl.Limited, false)
	if len(l.boxes) != 0 {
		t.Fatalf("%d allowances kept for quiet boxes", len(l.boxes))
	}
}

// One box flooding the broker as fast as it can gets no more than its
// allowance through, is counted, and another box's messages still reach
// the service at once.
func TestFloodIsLimitedAndOthersPass(t *testing.T) {
	sl := &sessionLog{}
	lim := testLimit()
	_, e := startWith(t, Config{Limit: lim}, Deps{Logger: discardLogger(), Sessions: sl})
	cloud := e.mustDial(t, cloudUser, dialOpts{})
	var fromA atomic.Int64
	got := make(chan string, 64)
	tok := cloud.SubscribeMultiple(map[string]byte{protocol.AllBoxes(protocol.KindEvents): 1}, func(_ paho.Client, m paho.Message) {
		box, _, _ := protocol.ParseTopic(m.Topic())
		if box == boxA {
			fromA.Add(1)
			return
		}
		got <- string(m.Payload())
	})
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	flood := startFlood(t, e.boxURL, boxA)

	b := e.mustDial(t, boxB, dialOpts{})
	const honest = 20
	for i := range honest {
		sent := time.Now()
		b.mustPublish(t, protocol.Topic(boxB, protocol.KindEvents), 1, false, []byte{byte(i)})
		select {
		case p := <-got:
			if p != string([]byte{byte(i)}) {
				t.Fatalf("box B's message %d arrived as %q", i, p)
			}
		case <-time.After(wait):
			t.Fatalf("box B's message %d did not arrive", i)
		}
		if d := time.Since(sent); d > honestBound {
			t.Errorf("box B's message %d took %s under the flood, bound %s", i, d, honestBound)
		}
	}
	testenv.WaitFor(t, wait, "drops reported", func() bool { return sl.dropped(boxA) > 0 })
	// What reached the service can only have grown less than the
	// allowance since the flood began.
	through := fromA.Load()
	allowed := int64(lim.MessageBurst) + int64(time.Since(flood.start).Seconds()*float64(lim.MessagesPerSecond))
	sent := flood.end()
	t.Logf("box A sent %d in %s; %d reached the service (allowance %d), %d dropped", sent, time.Since(flood.start).Round(time.Millisecond), through, allowed, sl.dropped(boxA))
	if through > allowed {
		t.Fatalf("%d of box A's messages reached the service, allowance %d", through, allowed)
	}
	if sl.dropped(boxB) != 0 {
		t.Fatalf("box B had %d dropped", sl.dropped(boxB))
	}
}

// flooder publishes junk at QoS 0 on a box's events topic as fast as the
// broker lets it, until end.
type flooder struct {
	start time.Time
	conn  atomic.Pointer[net.Conn]
	stop  chan struct{}
	sent  chan int
}

func startFlood(t *testing.T, brokerURL, box string) *flooder {
	t.Helper()
	f := &flooder{start: time.Now(), stop: make(chan struct{}), sent: make(chan int, 1)}
	cl := paho.NewClient(paho.NewClientOptions().AddBroker(brokerURL).SetClientID(uniqueClientID(box)).
		SetUsername(box).SetPassword(password(box)).SetAutoReconnect(false).
		// Publish waits for room in paho's queue; when the broker holds
		// the connection it must still see end.
		SetWriteTimeout(time.Second).
		SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			c, err := net.DialTimeout("tcp", u.Host, wait)
			if err == nil {
				f.conn.Store(&c)
			}
			return c, err
		}))
	if tok := cl.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("flooder connect: %v", tok.Error())
	}
	topic := protocol.Topic(box, protocol.KindEvents)
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
func (f *flooder) end() int {
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

// honestBound is how long a well-behaved box's message may take to reach
// the service while another box floods: milliseconds when healthy,
// generous for a loaded 2-core machine.
const honestBound = 2 * time.Second
