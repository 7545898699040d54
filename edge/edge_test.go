package edge

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/dalaba/dalaba/edge/config"
	"github.com/dalaba/dalaba/edge/localapi"
	"github.com/dalaba/dalaba/edge/store"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// testLogger discards logs unless EDGE_TEST_LOG is set, so a failing run
// can be replayed with the box's story.
func testLogger() *slog.Logger { return testenv.EnvLogger("EDGE_TEST_LOG") }

// embeddedBroker starts a mochi broker allowing everyone on a free loopback
// port and returns its URL.
func embeddedBroker(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddListener(listeners.NewNet("edge-test", l)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() }) // a test broker; its close error tells nothing
	return "tcp://" + l.Addr().String()
}

// township plays the cloud's side of one box's subtree: it records what
// the box publishes, stores events by seq and acks the contiguous
// watermark, and signs desired state and commands.
type township struct {
	t    *testing.T
	box  string
	key  ed25519.PrivateKey
	cl   mqtt.Client
	mu   sync.Mutex
	msgs map[protocol.Kind][][]byte
	evs  map[uint64]protocol.Event
	next uint64 // lowest seq not yet stored
	dups int
	ping chan struct{}
}

func newTownship(t *testing.T, brokerURL, box string) *township {
	t.Helper()
	key, err := protocol.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tw := &township{t: t, box: box, key: key, msgs: map[protocol.Kind][][]byte{}, evs: map[uint64]protocol.Event{}, next: 1, ping: make(chan struct{}, 1)}
	o := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID("township-" + box).SetCleanSession(true).
		SetAutoReconnect(false).SetOrderMatters(true)
	tw.cl = mqtt.NewClient(o)
	if tok := tw.cl.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("township connect: %v", tok.Error())
	}
	t.Cleanup(func() { tw.cl.Disconnect(0) })
	filters := map[string]byte{}
	for _, k := range protocol.Kinds() {
		if k.FromBox() {
			filters[protocol.Topic(box, k)] = 1
		}
	}
	if tok := tw.cl.SubscribeMultiple(filters, tw.receive); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("township subscribe: %v", tok.Error())
	}
	return tw
}

// receive runs on paho's router goroutine: it never waits on a token.
func (tw *township) receive(_ mqtt.Client, m mqtt.Message) {
	_, k, err := protocol.ParseTopic(m.Topic())
	if err != nil {
		tw.t.Errorf("township: %v", err)
		return
	}
	tw.mu.Lock()
	tw.msgs[k] = append(tw.msgs[k], append([]byte(nil), m.Payload()...))
	var ack []byte
	if k == protocol.KindEvents {
		ack = tw.store(m.Payload())
	}
	tw.mu.Unlock()
	if ack != nil {
		tw.cl.Publish(protocol.Topic(tw.box, protocol.KindEventsAck), 1, false, ack)
	}
	select {
	case tw.ping <- struct{}{}:
	default:
	}
}

// store keeps a batch's events by seq and returns the ack to send.
func (tw *township) store(payload []byte) []byte {
	b, err := protocol.DecodeEventBatch(tw.box, payload)
	if err != nil {
		tw.t.Errorf("township: bad batch: %v", err)
		return nil
	}
	for _, e := range b.Events {
		if _, ok := tw.evs[e.Seq]; ok {
			tw.dups++
		}
		tw.evs[e.Seq] = e
	}
	tw.next = max(tw.next, b.Floor)
	for {
		if _, ok := tw.evs[tw.next]; !ok {
			break
		}
		tw.next++
	}
	// As the township acks: the batch's epoch and range, through its end
	// at most.
	a := protocol.EventsAck{V: protocol.Version, BoxID: tw.box, Epoch: b.Epoch, Seq: tw.next - 1}
	if n := len(b.Events); n > 0 {
		a.From, a.Seq = b.Events[0].Seq, min(a.Seq, b.Events[n-1].Seq)
	} else {
		a.From, a.Seq = b.Floor, min(a.Seq, b.Floor-1)
	}
	if b.Epoch == "" {
		a.From = 0
	}
	ack, err := protocol.Marshal(protocol.KindEventsAck, a)
	if err != nil {
		tw.t.Errorf("township: %v", err)
		return nil
	}
	return ack
}

// eventually waits, on the township's messages or a short poll, until ok.
func (tw *township) eventually(what string, ok func() bool) {
	tw.t.Helper()
	deadline := time.After(10 * time.Second)
	for !ok() {
		select {
		case <-tw.ping:
		case <-time.After(20 * time.Millisecond): // for conditions read elsewhere (the box's API)
		case <-deadline:
			tw.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// last returns the last message of kind k, decoded into v; false if none.
func (tw *township) last(k protocol.Kind, v any) bool {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	m := tw.msgs[k]
	if len(m) == 0 {
		return false
	}
	if err := json.Unmarshal(m[len(m)-1], v); err != nil {
		tw.t.Errorf("township: %s: %v", k, err)
		return false
	}
	return true
}

func (tw *township) eventsOfType(typ string) []protocol.Event {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	var out []protocol.Event
	for _, e := range tw.evs {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func (tw *township) publish(k protocol.Kind, payload []byte, retained bool) {
	tw.t.Helper()
	if tok := tw.cl.Publish(protocol.Topic(tw.box, k), 1, retained, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		tw.t.Fatalf("township publish %s: %v", k, tok.Error())
	}
}

func (tw *township) desired(rev uint64) []byte {
	tw.t.Helper()
	now := time.Now()
	p, err := protocol.SignDesired(tw.key, protocol.Desired{BoxID: tw.box, Rev: rev, IssuedAt: now, ExpiresAt: now.Add(time.Hour), Spec: json.RawMessage(`{}`)})
	if err != nil {
		tw.t.Fatal(err)
	}
	return p
}

func (tw *township) command(id, typ string) []byte {
	tw.t.Helper()
	now := time.Now()
	p, err := protocol.SignCommand(tw.key, protocol.Command{ID: id, BoxID: tw.box, Type: typ, IssuedAt: now, ExpiresAt: now.Add(time.Minute)})
	if err != nil {
		tw.t.Fatal(err)
	}
	return p
}

// box is a running Edge and a client for its local API.
type box struct {
	t      testing.TB
	e      *Edge
	cfg    config.Config
	cancel context.CancelFunc
	done   chan error
	api    *http.Client
}

func testConfig(t testing.TB, brokerURL, id string, key ed25519.PublicKey) config.Config {
	cfg := config.Default()
	cfg.BoxID, cfg.TownshipKey, cfg.Broker.URL = id, protocol.EncodePublicKey(key), brokerURL
	cfg.DataDir = t.TempDir()
	cfg.HealthInterval = time.Hour // one reading at start
	cfg.Relay.Listen = "127.0.0.1:0"
	return cfg
}

func startBox(t testing.TB, cfg config.Config) *box {
	t.Helper()
	e, err := New(cfg, Deps{Logger: testLogger(), Version: "test-1", BuildDate: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	b := &box{t: t, e: e, cfg: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { b.done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-b.done
	})
	sock := cfg.SocketPath()
	b.api = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	return b
}

// status asks the local API; ok is false while it is not up yet.
func (b *box) status() (s localapi.Status, ok bool) {
	resp, err := b.api.Get("http://box/v1/status")
	if err != nil {
		return s, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&s) != nil {
		b.t.Fatalf("status answered %d", resp.StatusCode)
	}
	return s, true
}

func (b *box) post(body string) []uint64 {
	b.t.Helper()
	resp, err := b.api.Post("http://box/v1/events", "application/json", strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct{ Seqs []uint64 }
	if resp.StatusCode != 200 || json.Unmarshal(raw, &out) != nil {
		b.t.Fatalf("POST /v1/events: %d %s", resp.StatusCode, raw)
	}
	return out.Seqs
}

// stop cancels Run and waits for it.
func (b *box) stop() {
	b.t.Helper()
	b.cancel()
	select {
	case err := <-b.done:
		if err != nil {
			b.t.Fatalf("Run: %v", err)
		}
		b.done <- nil // for the cleanup
	case <-time.After(15 * time.Second):
		b.t.Fatal("Run did not return after cancel")
	}
}

func TestBoxOverTheEmbeddedBroker(t *testing.T) {
	lifecycle(t, embeddedBroker(t), "village-1")
}

func TestBoxOverMosquitto(t *testing.T) {
	addr := testenv.Mosquitto(t)
	// Parallel runs share this broker: a box id of their own keeps their
	// sessions and retained messages apart.
	lifecycle(t, "tcp://"+addr, fmt.Sprintf("edge-test-%016x", rand.Uint64()))
}

// lifecycle runs a box through its life against a broker: online, events
// out and deleted on ack, desired state applied and reported, a command
// answered, garbage refused and recorded, a clean stop saying offline, and
// a restart resuming the stored desired state.
func lifecycle(t *testing.T, brokerURL, id string) {
	tw := newTownship(t, brokerURL, id)
	t.Cleanup(func() { // leave no retained messages on a shared broker
		for _, k := range []protocol.Kind{protocol.KindDesired, protocol.KindStatus, protocol.KindReported} {
			tw.cl.Publish(protocol.Topic(id, k), 1, true, []byte{}).WaitTimeout(5 * time.Second)
		}
	})
	cfg := testConfig(t, brokerURL, id, tw.key.Public().(ed25519.PublicKey))
	b := startBox(t, cfg)

	var st protocol.Status
	tw.eventually("the box online", func() bool { return tw.last(protocol.KindStatus, &st) && st.Online })
	tw.eventually("box.started and box.health events", func() bool {
		return len(tw.eventsOfType(protocol.EventBoxStarted)) == 1 && len(tw.eventsOfType(protocol.EventHealth)) == 1
	})
	if e := tw.eventsOfType(protocol.EventBoxStarted)[0]; string(e.Data) != `{"version":"test-1"}` {
		t.Errorf("box.started data %s", e.Data)
	}

	// Local events reach the township and are deleted once acked.
	seqs := b.post(`[{"type":"sensor.door","priority":2,"data":{"open":true}},{"type":"sensor.door","priority":2,"data":{"open":false}}]`)
	tw.eventually("the local events at the township", func() bool { return len(tw.eventsOfType("sensor.door")) == 2 })
	for _, e := range tw.eventsOfType("sensor.door") {
		if e.Seq != seqs[0] && e.Seq != seqs[1] {
			t.Errorf("event seq %d, the API answered %v", e.Seq, seqs)
		}
	}
	tw.eventually("the outbox emptied by acks", func() bool { s, ok := b.status(); return ok && s.Connected && s.Outbox.Backlog == 0 })

	// Desired state: applied, reported, recorded; commands answered.
	tw.publish(protocol.KindDesired, tw.desired(1), true)
	var rep protocol.Reported
	tw.eventually("reported applied_rev 1", func() bool { return tw.last(protocol.KindReported, &rep) && rep.AppliedRev == 1 })
	if rep.Version != "test-1" || rep.Health == nil || !rep.Health.ClockTrusted {
		t.Errorf("reported %+v", rep)
	}
	tw.publish(protocol.KindCmd, tw.command("c-1", "ping"), false)
	var res protocol.CommandResult
	tw.eventually("the ping's result", func() bool { return tw.last(protocol.KindCmdResult, &res) })
	if !res.OK || res.ID != "c-1" || !bytes.Contains(res.Data, []byte("pong")) {
		t.Errorf("result %+v", res)
	}

	// Garbage is refused with a recorded reason; the box stays connected
	// and still applies what is good.
	tw.publish(protocol.KindDesired, []byte("garbage"), false)
	tw.eventually("desired.rejected recorded", func() bool { return len(tw.eventsOfType(protocol.EventDesiredRejected)) == 1 })
	var rej protocol.Rejected
	if err := json.Unmarshal(tw.eventsOfType(protocol.EventDesiredRejected)[0].Data, &rej); err != nil || rej.Reason != protocol.ReasonMalformed {
		t.Errorf("rejection %+v %v", rej, err)
	}
	tw.publish(protocol.KindDesired, tw.desired(2), true)
	tw.eventually("reported applied_rev 2", func() bool { return tw.last(protocol.KindReported, &rep) && rep.AppliedRev == 2 })

	// A clean stop says offline, retained, and lets go of the file and
	// the socket.
	b.stop()
	tw.eventually("the box offline", func() bool { return tw.last(protocol.KindStatus, &st) && !st.Online })
	if _, err := os.Stat(cfg.SocketPath()); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
	s, err := store.Open(filepath.Join(cfg.DataDir, DBFile), store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("the file is still locked: %v", err)
	}
	if rev, _, err := s.AppliedDesired(); err != nil || rev != 2 {
		t.Errorf("stored rev %d, %v", rev, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tw.mu.Lock()
	dups := tw.dups
	tw.mu.Unlock()
	if dups != 0 {
		t.Logf("%d events were sent twice (allowed: the township dedupes)", dups)
	}

	// After a restart, with the retained copy gone from the broker, the
	// box still runs and reports the state it stored.
	tw.publish(protocol.KindDesired, []byte{}, true)
	tw.mu.Lock()
	tw.msgs = map[protocol.Kind][][]byte{}
	tw.mu.Unlock()
	b2 := startBox(t, cfg)
	tw.eventually("reported applied_rev 2 after the restart", func() bool {
		return tw.last(protocol.KindReported, &rep) && rep.AppliedRev == 2
	})
	if s, ok := b2.status(); !ok || s.AppliedRev != 2 || s.BoxID != id || s.Version != "test-1" {
		t.Errorf("status after restart %+v", s)
	}
	tw.eventually("a second box.started", func() bool { return len(tw.eventsOfType(protocol.EventBoxStarted)) == 2 })
	b2.stop()
}

func TestNewRefusesABadConfigWithEveryProblem(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Outbox.Window = 0
	_, err := New(cfg, Deps{})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"box_id", "township_key", "broker.url", "outbox.window"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
	if _, err := os.Stat(cfg.DataDir); !os.IsNotExist(err) {
		t.Errorf("a refused config created the data dir: %v", err)
	}
}

func TestASecondBoxOnTheSameDataDirIsRefused(t *testing.T) {
	key, err := protocol.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "tcp://127.0.0.1:1", "village-1", key.Public().(ed25519.PublicKey))
	first, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, Deps{}); err == nil || !strings.Contains(err.Error(), "another dalaba-edge") {
		t.Errorf("second New: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	again, err := New(cfg, Deps{})
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	again.Close()
}

func TestAFailingPartStopsTheBox(t *testing.T) {
	key, err := protocol.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	// The broker is unreachable (the box keeps retrying) but the local API
	// cannot listen: the box must stop and say why, not run half alive.
	cfg := testConfig(t, "tcp://127.0.0.1:1", "village-1", key.Public().(ed25519.PublicKey))
	cfg.LocalAPI = filepath.Join(t.TempDir(), "no-such-dir", "edge.sock")
	e, err := New(cfg, Deps{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Run(t.Context()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "local api") {
			t.Errorf("Run: %v, want the local API's failure", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run kept going without its local API")
	}
	if s, err := store.Open(filepath.Join(cfg.DataDir, DBFile), store.Options{Timeout: time.Second}); err != nil {
		t.Errorf("the file is still locked after Run: %v", err)
	} else {
		s.Close()
	}
}
