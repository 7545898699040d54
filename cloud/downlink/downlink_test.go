package downlink

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/dalaba/dalaba/cloud/broker"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

const wait = 10 * time.Second

const cloudUser, cloudPass = "dalaba_cloud", "cloud-secret"

// passwords admits the cloud and any box whose password is "secret-<id>".
type passwords struct{}

func (passwords) Authenticate(_ context.Context, user string, pass []byte) (broker.Identity, bool) {
	if user == cloudUser {
		return broker.Identity{Cloud: true}, string(pass) == cloudPass
	}
	if protocol.ValidateBoxID(user) == nil && string(pass) == "secret-"+user {
		return broker.Identity{Box: user}, true
	}
	return broker.Identity{}, false
}

// startBroker runs an embedded broker on listen until the test ends (or
// stop is called) and returns its address.
func startBroker(t *testing.T, listen string) (addr string, stop func()) {
	t.Helper()
	b, err := broker.New(broker.Config{Listen: listen}, broker.Deps{Logger: slog.New(slog.DiscardHandler), Auth: passwords{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	select {
	case <-b.Ready():
	case err := <-done:
		t.Fatalf("broker: %v", err)
	}
	return b.Addr(), stop
}

// handler records what the downlink hands it.
type handler struct {
	mu        sync.Mutex
	got       map[string][]string // box → "kind payload", "retained " first if so, in order
	connected int
	reject    bool // answer every message with a rejection
}

func (h *handler) Handle(_ context.Context, m Message) ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.got == nil {
		h.got = map[string][]string{}
	}
	box, k, payload := m.Box, m.Kind, m.Payload
	line := string(k) + " " + string(payload)
	if m.Retained {
		line = "retained " + line
	}
	h.got[box] = append(h.got[box], line)
	if h.reject && k != protocol.KindCmdResult {
		return nil, fmt.Errorf("test: %w", &protocol.RejectError{Kind: k, Reason: protocol.ReasonMalformed})
	}
	if k == protocol.KindEvents {
		return []byte("ack of " + string(payload)), nil
	}
	return nil, nil
}

func (h *handler) Connected(context.Context) { h.mu.Lock(); h.connected++; h.mu.Unlock() }

func (h *handler) messages(box string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.got[box]...)
}

func (h *handler) connects() int { h.mu.Lock(); defer h.mu.Unlock(); return h.connected }

// waitFor polls cond until it holds or wait has passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, wait, what, cond)
}

func newDownlink(t *testing.T, addr string, h Handler) (*Downlink, ed25519.PrivateKey) {
	t.Helper()
	key, err := protocol.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{URL: "tcp://" + addr, Username: cloudUser, Password: cloudPass, ClientID: "dalaba_cloud_test"},
		Deps{Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), Handler: h, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return d, key
}

// run runs d until the test ends and waits for its first connect.
func run(t *testing.T, d *Downlink, h *handler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	waitFor(t, "connected and subscribed", func() bool { return h.connects() > 0 })
}

// box connects as box id and subscribes to its cloud→box topics, keeping
// what arrives.
type box struct {
	id string
	cl mqtt.Client
	mu sync.Mutex
	in map[protocol.Kind][][]byte
}

func connectBox(t *testing.T, addr, id string) *box {
	t.Helper()
	b := &box{id: id, in: map[protocol.Kind][][]byte{}}
	b.cl = mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetUsername(id).SetPassword("secret-" + id).SetAutoReconnect(false))
	if tok := b.cl.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("box connect: %v", tok.Error())
	}
	t.Cleanup(func() { b.cl.Disconnect(0) })
	for _, k := range []protocol.Kind{protocol.KindDesired, protocol.KindCmd, protocol.KindEventsAck} {
		tok := b.cl.Subscribe(protocol.Topic(id, k), 1, func(_ mqtt.Client, m mqtt.Message) {
			b.mu.Lock()
			b.in[k] = append(b.in[k], m.Payload())
			b.mu.Unlock()
		})
		if !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("box subscribe: %v", tok.Error())
		}
	}
	return b
}

func (b *box) publish(t *testing.T, k protocol.Kind, payload string) {
	t.Helper()
	if tok := b.cl.Publish(protocol.Topic(b.id, k), 1, false, payload); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}

func (b *box) received(k protocol.Kind) [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]byte(nil), b.in[k]...)
}

func TestRoutesInOrderAndAcks(t *testing.T) {
	addr, _ := startBroker(t, "127.0.0.1:0")
	h := &handler{}
	d, _ := newDownlink(t, addr, h)
	run(t, d, h)
	a, b := connectBox(t, addr, "village-a"), connectBox(t, addr, "village-b")

	const n = 200
	var want []string
	for i := range n {
		p := fmt.Sprintf("batch-%03d", i)
		a.cl.Publish(protocol.Topic("village-a", protocol.KindEvents), 1, false, p)
		want = append(want, "events "+p)
	}
	b.publish(t, protocol.KindStatus, "b-status")
	b.publish(t, protocol.KindReported, "b-reported")
	b.publish(t, protocol.KindCmdResult, "b-result")

	waitFor(t, "every message of village-a", func() bool { return len(h.messages("village-a")) == n })
	if got := h.messages("village-a"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("village-a's messages out of order:\n%v", got)
	}
	waitFor(t, "village-b's three kinds", func() bool { return len(h.messages("village-b")) == 3 })
	if got := h.messages("village-b"); strings.Join(got, "|") != "status b-status|reported b-reported|cmd/result b-result" {
		t.Fatalf("village-b: %v", got)
	}
	// Each batch's reply went to the box's events/ack topic, in order.
	waitFor(t, "every ack at village-a", func() bool { return len(a.received(protocol.KindEventsAck)) == n })
	for i, p := range a.received(protocol.KindEventsAck) {
		if w := fmt.Sprintf("ack of batch-%03d", i); string(p) != w {
			t.Fatalf("ack %d = %q, want %q", i, p, w)
		}
	}
	if len(b.received(protocol.KindEventsAck)) != 0 {
		t.Fatal("an ack went to a box that sent no events")
	}
	// cmd/result is not valid protocol here: it is counted, not fatal.
	if d.Rejected("village-b") != 1 || d.Rejected("village-a") != 0 {
		t.Fatalf("rejected: a %d, b %d", d.Rejected("village-a"), d.Rejected("village-b"))
	}
}

// A retained message sent because the service subscribed is marked so;
// the same topic published while the service listens is not.
func TestRetainedCopiesAreMarked(t *testing.T) {
	addr, _ := startBroker(t, "127.0.0.1:0")
	a := connectBox(t, addr, "village-a")
	if tok := a.cl.Publish(protocol.Topic("village-a", protocol.KindStatus), 1, true, "left behind"); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	// mochi acknowledges a publish before it hands it on; the box's next
	// packet is read only after that, so once a subscription of the box is
	// acknowledged no subscription made from now on can see it live.
	if tok := a.cl.Subscribe(protocol.Topic("village-a", protocol.KindDesired), 1, nil); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	h := &handler{}
	d, _ := newDownlink(t, addr, h)
	run(t, d, h)
	waitFor(t, "the retained status", func() bool { return len(h.messages("village-a")) == 1 })
	if tok := a.cl.Publish(protocol.Topic("village-a", protocol.KindStatus), 1, true, "now"); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	waitFor(t, "the live status", func() bool { return len(h.messages("village-a")) == 2 })
	if got := strings.Join(h.messages("village-a"), "|"); got != "retained status left behind|status now" {
		t.Fatalf("handed %q", got)
	}
}

func TestRejectionsAreCountedPerBox(t *testing.T) {
	addr, _ := startBroker(t, "127.0.0.1:0")
	h := &handler{reject: true}
	d, _ := newDownlink(t, addr, h)
	run(t, d, h)
	a := connectBox(t, addr, "village-a")
	for _, k := range []protocol.Kind{protocol.KindStatus, protocol.KindReported, protocol.KindEvents, protocol.KindEvents} {
		a.publish(t, k, "garbage")
	}
	waitFor(t, "4 rejections", func() bool { return d.Rejected("village-a") == 4 })
	if len(a.received(protocol.KindEventsAck)) != 0 {
		t.Fatal("a rejected batch was acked")
	}
	if !d.Connected() {
		t.Fatal("garbage cost the connection")
	}
}

func TestSendCommand(t *testing.T) {
	addr, _ := startBroker(t, "127.0.0.1:0")
	h := &handler{}
	d, key := newDownlink(t, addr, h)
	run(t, d, h)
	a := connectBox(t, addr, "village-a")

	// The box answers every command it can verify, until the test ends.
	done := make(chan struct{})
	defer close(done)
	go func() {
		answered := 0
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			cmds := a.received(protocol.KindCmd)
			for _, p := range cmds[answered:] {
				c, err := protocol.OpenCommand(key.Public().(ed25519.PublicKey), "village-a", p, time.Now())
				if err != nil {
					t.Errorf("command does not verify: %v", err)
					return
				}
				if c.Type == "ignore" {
					continue
				}
				res, _ := protocol.Marshal(protocol.KindCmdResult, protocol.CommandResult{V: 1, ID: c.ID, BoxID: "village-a", OK: c.Type == "ping", Data: c.Args})
				a.cl.Publish(protocol.Topic("village-a", protocol.KindCmdResult), 1, false, res)
			}
			answered = len(cmds)
		}
	}()

	res, err := d.SendCommand(t.Context(), "village-a", "ping", map[string]int{"n": 7}, time.Minute)
	if err != nil || !res.OK || string(res.Data) != `{"n":7}` || res.BoxID != "village-a" {
		t.Fatalf("ping: %+v, %v", res, err)
	}
	res, err = d.SendCommand(t.Context(), "village-a", "fail", nil, time.Minute)
	if err != nil || res.OK || res.Data != nil {
		t.Fatalf("a failing command: %+v, %v (want the box's result, OK false)", res, err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := d.SendCommand(ctx, "village-a", "ignore", nil, time.Minute); !errors.Is(err, ErrNoResult) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered: %v, want ErrNoResult and the deadline", err)
	}

	bad := []struct {
		name, box, typ string
		args           any
		ttl            time.Duration
	}{
		{"zero ttl", "village-a", "ping", nil, 0},
		{"ttl over the protocol's limit", "village-a", "ping", nil, protocol.MaxCommandLifetime + time.Second},
		{"no type", "village-a", "", nil, time.Minute},
		{"bad box id", "Village A", "ping", nil, time.Minute},
		{"args not JSON-encodable", "village-a", "ping", func() {}, time.Minute},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			if _, err := d.SendCommand(t.Context(), c.box, c.typ, c.args, c.ttl); !errors.Is(err, ErrInvalidCommand) {
				t.Fatalf("err = %v, want ErrInvalidCommand", err)
			}
		})
	}
}

func TestNotConnected(t *testing.T) {
	d, _ := newDownlink(t, "127.0.0.1:1", &handler{})
	if _, err := d.SendCommand(t.Context(), "village-a", "ping", nil, time.Minute); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("SendCommand before Run: %v", err)
	}
	if err := d.PublishDesired(t.Context(), "village-a", []byte("{}")); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("PublishDesired before Run: %v", err)
	}
}

// After the broker restarts (an embedded broker loses subscriptions and
// retained messages), the downlink reconnects, subscribes again and runs
// Connected again, so the fleet can republish.
func TestReconnectsAndResubscribes(t *testing.T) {
	addr, stop := startBroker(t, "127.0.0.1:0")
	h := &handler{}
	d, _ := newDownlink(t, addr, h)
	run(t, d, h)
	if err := d.PublishDesired(t.Context(), "village-a", []byte("rev-1")); err != nil {
		t.Fatal(err)
	}
	a := connectBox(t, addr, "village-a")
	waitFor(t, "retained desired state", func() bool { return len(a.received(protocol.KindDesired)) == 1 })

	stop()
	waitFor(t, "connection lost", func() bool { return !d.Connected() })
	startBroker(t, addr) // same port: the address the downlink knows
	waitFor(t, "reconnected with Connected run again", func() bool { return h.connects() == 2 })
	a = connectBox(t, addr, "village-a")
	// The restarted broker may drop the first session of a client that
	// races its start; a box publishes again until the township has it,
	// so the test does too, every quarter second.
	last := time.Time{}
	waitFor(t, "a message routed after the reconnect", func() bool {
		m := h.messages("village-a")
		if len(m) > 0 && m[len(m)-1] == "status back" {
			return true
		}
		if time.Since(last) > 250*time.Millisecond {
			a.publish(t, protocol.KindStatus, "back")
			last = time.Now()
		}
		return false
	})
}

func TestNewRefusesIncompleteSetup(t *testing.T) {
	key, _ := protocol.GenerateKey()
	log := slog.New(slog.DiscardHandler)
	cases := []struct {
		name string
		cfg  Config
		deps Deps
		want string
	}{
		{"no url", Config{ClientID: "c_1"}, Deps{Logger: log, Handler: &handler{}, Key: key}, "no broker URL"},
		{"no client id", Config{URL: "tcp://127.0.0.1:1"}, Deps{Logger: log, Handler: &handler{}, Key: key}, "no client id"},
		{"no handler", Config{URL: "tcp://127.0.0.1:1", ClientID: "c_1"}, Deps{Logger: log, Key: key}, "Handler"},
		{"no key", Config{URL: "tcp://127.0.0.1:1", ClientID: "c_1"}, Deps{Logger: log, Handler: &handler{}}, "key"},
		{"missing CA file", Config{URL: "tls://127.0.0.1:1", ClientID: "c_1", CAFile: "/nonexistent/ca.pem"}, Deps{Logger: log, Handler: &handler{}, Key: key}, "CA file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := New(c.cfg, c.deps); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
}
