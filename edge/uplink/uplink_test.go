package uplink

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/edge/clock"
	"github.com/dalaba/dalaba/edge/clock/clocktest"
	"github.com/dalaba/dalaba/edge/outbox"
	"github.com/dalaba/dalaba/edge/store"
	"github.com/dalaba/dalaba/protocol"
)

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := New(Config{BackoffMin: time.Minute, BackoffMax: time.Second, Window: -1, BatchEvents: 5000, KeepAlive: -time.Second}, Deps{})
	if err == nil {
		t.Fatal("New accepted an empty config")
	}
	for _, want := range []string{"box id", "no broker URL", "backoff max", "window", "batch events", "keepalive", "no clock", "no outbox", "no OnDesired", "no OnCommand", "no Reported"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}

	ob := newOutbox(t)
	deps := Deps{Clock: clock.Real(), Outbox: ob, OnDesired: func(context.Context, []byte) {}, OnCommand: func(context.Context, []byte) {}, Reported: func() protocol.Reported { return protocol.Reported{} }}
	missingCA := filepath.Join(t.TempDir(), "none.pem")
	for _, tc := range []struct {
		name, url, ca, want string
	}{
		{"bad scheme", "http://127.0.0.1:1883", "", "scheme"},
		{"no port", "tcp://127.0.0.1", "", "host:port"},
		{"CA without TLS", "tcp://127.0.0.1:1883", missingCA, "not a TLS URL"},
		{"unreadable CA", "ssl://127.0.0.1:8883", missingCA, "CA file"},
	} {
		_, err := New(Config{BoxID: "box-1", BrokerURL: tc.url, CAFile: tc.ca}, deps)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	if _, err := New(Config{BoxID: "box-1", BrokerURL: "tls://127.0.0.1:8883"}, deps); err != nil {
		t.Errorf("a TLS URL with the system roots: %v", err)
	}
}

func newOutbox(t *testing.T) *outbox.Outbox {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "edge.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ob, err := outbox.New(st.DB(), outbox.Config{}, outbox.Deps{Clock: clock.Real()})
	if err != nil {
		t.Fatal(err)
	}
	return ob
}

func TestEventsDeletedOnlyAfterAck(t *testing.T) {
	br := startBroker(t)
	c := startCloud(t, br.url(), "box-ack", false)
	b := startBoxWith(t, br.url(), "box-ack", boxOpts{deferRun: true})
	// Queued before the first connect, so the full window goes out at once
	// (with a township that does not ack, only the window is ever sent).
	b.appendN(t, 1000)
	b.run()
	eventually(t, 10*time.Second, "connected", b.up.Connected)
	eventually(t, 5*time.Second, "reported state on connect", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.reported) > 0
	})
	c.mu.Lock()
	r := c.reported[0]
	c.mu.Unlock()
	if r.AppliedRev != 7 || r.Version != "test" || r.At.IsZero() {
		t.Errorf("reported on connect = %+v", r)
	}

	eventually(t, 10*time.Second, "1000 events at the cloud", func() bool { return c.distinct() == 1000 })
	if s := b.ob.Stats(); s.Backlog != 1000 {
		t.Fatalf("events deleted with no ack: backlog %d", s.Backlog)
	}
	c.publishAckFromTest(t, b.ob.Epoch(), 1, 600)
	eventually(t, 5*time.Second, "events through 600 deleted", func() bool { return b.ob.Stats().FirstSeq == 601 })
	if s := b.ob.Stats(); s.Backlog != 400 || s.LastSeq != 1000 {
		t.Fatalf("after an ack of 600: %+v, want 601-1000 queued", s)
	}

	// The township acks the rest: the drain completes and the box reports
	// its empty backlog without being asked.
	c.setAck(true)
	c.publishAckFromTest(t, b.ob.Epoch(), 601, 1000)
	eventually(t, 5*time.Second, "outbox empty", func() bool { return b.ob.Stats().Backlog == 0 })
	eventually(t, 5*time.Second, "reported after the drain", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.reported) > 1 && c.reported[len(c.reported)-1].OutboxBacklog == 0
	})
}

// publishAckFromTest sends an ack of epoch vouching for [from, seq].
func (c *cloud) publishAckFromTest(t *testing.T, epoch string, from, seq uint64) {
	t.Helper()
	p, err := protocol.Marshal(protocol.KindEventsAck, protocol.EventsAck{V: protocol.Version, BoxID: c.box, Epoch: epoch, From: from, Seq: seq})
	if err != nil {
		t.Fatal(err)
	}
	c.publish(protocol.KindEventsAck, p, false)
}

func TestBrokerRestartDeliversAllOnceInOrder(t *testing.T) {
	const n = 10_000
	br := startBroker(t)
	c := startCloud(t, br.url(), "box-outage", true)
	b := startBox(t, br.url(), "box-outage")
	eventually(t, 10*time.Second, "connected", b.up.Connected)

	br.stop()
	eventually(t, 10*time.Second, "the box sees the broker gone", func() bool { return !b.up.Connected() })
	seqs := b.appendN(t, n)
	if s := b.ob.Stats(); s.Backlog != n {
		t.Fatalf("backlog %d while offline, want %d", s.Backlog, n)
	}
	br.restart()

	eventually(t, 30*time.Second, "every event acknowledged and deleted", func() bool { return b.ob.Stats().Backlog == 0 })
	c.mu.Lock()
	defer c.mu.Unlock()
	want := make([]uint64, n)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	if !slices.Equal(c.log, want) {
		t.Fatalf("stored %d events, want seqs 1-%d each once in order (first stored: %v)", len(c.log), n, c.log[:min(5, len(c.log))])
	}
	for seq, e := range c.events {
		var d struct{ I int }
		if err := json.Unmarshal(e.Data, &d); err != nil || d.I != seqs[seq] || e.Type != "test.event" {
			t.Fatalf("seq %d arrived as %s %s, want data i=%d", seq, e.Type, e.Data, seqs[seq])
		}
	}
	t.Logf("%d events stored once; %d received (the rest resent after the outage and deduped)", len(c.events), c.received)
}

func TestWillOnKilledConnection(t *testing.T) {
	br := startBroker(t)
	c := startCloud(t, br.url(), "box-will", false)
	px := startProxy(t, br.addr)
	b := startBox(t, px.url(), "box-will")
	eventually(t, 10*time.Second, "online status", func() bool { s, ok := c.lastStatus(); return ok && s.Online })

	px.setRefuse(true)
	px.cut()
	eventually(t, 10*time.Second, "the will (offline) after the link died", func() bool { s, ok := c.lastStatus(); return ok && !s.Online })
	if s, _ := c.lastStatus(); !s.At.IsZero() {
		t.Errorf("offline status has at=%s: that is the clean goodbye, not the will", s.At)
	}
	eventually(t, 10*time.Second, "the box sees the link gone", func() bool { return !b.up.Connected() })

	// The will is retained: a township service starting now learns the
	// box is offline.
	late := startCloud(t, br.url(), "box-will", false)
	eventually(t, 5*time.Second, "retained offline status", func() bool { s, ok := late.lastStatus(); return ok && !s.Online })

	px.setRefuse(false)
	eventually(t, 10*time.Second, "back online after the link returns", func() bool { s, ok := c.lastStatus(); return ok && s.Online })
	if !b.up.Connected() {
		eventually(t, 5*time.Second, "connected", b.up.Connected)
	}
}

func TestCleanShutdownSaysOffline(t *testing.T) {
	br := startBroker(t)
	c := startCloud(t, br.url(), "box-bye", false)
	b := startBox(t, br.url(), "box-bye")
	eventually(t, 10*time.Second, "online status", func() bool { s, ok := c.lastStatus(); return ok && s.Online })
	if err := b.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if b.up.Connected() {
		t.Error("Connected after Run returned")
	}
	eventually(t, 5*time.Second, "offline status", func() bool { s, ok := c.lastStatus(); return ok && !s.Online })
	if s, _ := c.lastStatus(); s.At.IsZero() {
		t.Error("the goodbye status has no time")
	}
}

func TestMalformedAcksIgnored(t *testing.T) {
	br := startBroker(t)
	c := startCloud(t, br.url(), "box-garbage", false)
	b := startBoxWith(t, br.url(), "box-garbage", boxOpts{deferRun: true})
	b.appendN(t, 10)
	b.run()
	eventually(t, 10*time.Second, "events at the cloud", func() bool { return c.distinct() == 10 })

	garbage := [][]byte{
		[]byte(`{`),
		[]byte(`not json at all`),
		[]byte(`{"v":2,"box_id":"box-garbage","seq":10}`),
		[]byte(`{"v":1,"box_id":"box-other","seq":10}`),
		[]byte(`{"v":1,"box_id":"box-garbage","seq":10,"extra":true}`),
		[]byte(`{"v":1,"box_id":"box-garbage","seq":10,"pad":"` + strings.Repeat("x", 2000) + `"}`),
	}
	for _, g := range garbage {
		c.publish(protocol.KindEventsAck, g, false)
	}
	// Well formed but beyond anything sent: obeying it would delete
	// events the township never saw.
	c.publishAckFromTest(t, b.ob.Epoch(), 1, 1_000_000)
	c.publishAckFromTest(t, b.ob.Epoch(), 1, 4)

	eventually(t, 5*time.Second, "the good ack after the garbage applied", func() bool { return b.ob.Stats().FirstSeq == 5 })
	if s := b.ob.Stats(); s.Backlog != 6 {
		t.Fatalf("backlog %d, want 6: a refused ack deleted events", s.Backlog)
	}
	if got := b.up.badAcks.Load(); got != uint64(len(garbage)) {
		t.Errorf("%d malformed acks counted, want %d", got, len(garbage))
	}
	if got := b.up.aheadAcks.Load(); got != 1 {
		t.Errorf("%d acks beyond what was sent counted, want 1", got)
	}
	if !b.up.Connected() {
		t.Error("the garbage broke the session")
	}
	c.publishAckFromTest(t, b.ob.Epoch(), 5, 10)
	eventually(t, 5*time.Second, "the session still works", func() bool { return b.ob.Stats().Backlog == 0 })
}

func TestDesiredAndCommandsPassThrough(t *testing.T) {
	br := startBroker(t)
	c := startCloud(t, br.url(), "box-in", false)
	// Retained before the box exists: it arrives on subscribe.
	desired := []byte("{\"v\":1,\"body\":{\"rev\":3},\"sig\":\"c2ln\"}\x00\xff\xfe trailing bytes are the applier's business")
	c.publish(protocol.KindDesired, desired, true)

	path := filepath.Join(t.TempDir(), "edge.db")
	b := startBoxWith(t, br.url(), "box-in", boxOpts{path: path})
	eventually(t, 10*time.Second, "connected", b.up.Connected)
	cmd1 := []byte(`{"v":1,"body":{"id":"c1"},"sig":"AA=="}`)
	c.publish(protocol.KindCmd, cmd1, false)
	eventually(t, 5*time.Second, "desired and command handed on", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.desired) == 1 && len(b.commands) == 1
	})
	b.mu.Lock()
	gotD, gotC := b.desired[0], b.commands[0]
	b.mu.Unlock()
	if string(gotD) != string(desired) || string(gotC) != string(cmd1) {
		t.Fatalf("payloads altered:\ndesired %q\ncommand %q", gotD, gotC)
	}

	b.up.PublishResult(protocol.CommandResult{ID: "c1", OK: true, Data: json.RawMessage(`{"answer":"sdp"}`)})
	eventually(t, 5*time.Second, "command result at the cloud", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.results) == 1
	})
	if r := c.results[0]; r.ID != "c1" || !r.OK || string(r.Data) != `{"answer":"sdp"}` {
		t.Errorf("result = %+v", r)
	}

	// A command sent while the box is away waits in its persistent session
	// and arrives on the next connect, before the box has subscribed.
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	cmd2 := []byte(`{"v":1,"body":{"id":"c2"},"sig":"AA=="}`)
	c.publish(protocol.KindCmd, cmd2, false)
	b2 := startBoxWith(t, br.url(), "box-in", boxOpts{path: path})
	eventually(t, 10*time.Second, "the queued command after reconnecting", func() bool {
		b2.mu.Lock()
		defer b2.mu.Unlock()
		return slices.ContainsFunc(b2.commands, func(p []byte) bool { return string(p) == string(cmd2) })
	})
}

func TestResendWithoutAckProgress(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC))
	br := startBroker(t)
	c := startCloud(t, br.url(), "box-resend", false)
	b := startBoxWith(t, br.url(), "box-resend", boxOpts{clock: clk, deferRun: true})
	b.appendN(t, 10)
	b.run()
	eventually(t, 10*time.Second, "first send", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.received == 10 })
	eventually(t, 5*time.Second, "ack timer armed", func() bool { return clk.Timers() > 0 })
	c.mu.Lock()
	got := c.received
	c.mu.Unlock()
	if got != 10 {
		t.Fatalf("resent before the ack timeout: %d received", got)
	}
	clk.Advance(time.Second) // AckTimeout in startBox
	eventually(t, 5*time.Second, "the batch sent again", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.received == 20 })
	c.setAck(true)
	// The next resend, after the (longer) wait, is acked.
	eventually(t, 5*time.Second, "ack timer armed again", func() bool { return clk.Timers() > 0 })
	clk.Advance(time.Minute)
	eventually(t, 5*time.Second, "acked after the resend", func() bool { return b.ob.Stats().Backlog == 0 })
}

func TestPublishResultDropsOldest(t *testing.T) {
	ob := newOutbox(t)
	u, err := New(Config{BoxID: "box-q", BrokerURL: "tcp://127.0.0.1:1"}, Deps{
		Clock: clock.Real(), Outbox: ob, OnDesired: func(context.Context, []byte) {}, OnCommand: func(context.Context, []byte) {},
		Reported: func() protocol.Reported { return protocol.Reported{} },
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range resultQueue + 3 {
		u.PublishResult(protocol.CommandResult{ID: fmt.Sprint(i)})
	}
	if len(u.results) != resultQueue {
		t.Fatalf("%d queued, want %d", len(u.results), resultQueue)
	}
	if r := <-u.results; r.ID != "3" || r.BoxID != "box-q" || r.V != protocol.Version {
		t.Errorf("oldest kept = %+v, want id 3 for box-q", r)
	}
}

func TestBackoffGrowsCappedAndJittered(t *testing.T) {
	lo, hi := time.Second, time.Minute
	r := rand.New(rand.NewPCG(7, 11))
	mean := func(n int) time.Duration {
		var sum time.Duration
		for range 2000 {
			d := backoff(n, lo, hi, r)
			ceil := hi
			if n < 6 {
				ceil = lo << n
			}
			if d < 0 || d > ceil {
				t.Fatalf("attempt %d: %s outside [0, %s]", n, d, ceil)
			}
			sum += d
		}
		return sum / 2000
	}
	prev := time.Duration(0)
	for n := range 6 { // ceilings 1s … 32s
		m := mean(n)
		want := lo << n / 2
		if m < want*8/10 || m > want*12/10 {
			t.Errorf("attempt %d: mean wait %s, want about %s (uniform up to %s)", n, m, want, lo<<n)
		}
		if m <= prev {
			t.Errorf("attempt %d: mean %s did not grow from %s", n, m, prev)
		}
		prev = m
	}
	for _, n := range []int{6, 10, 63, 64, 1000} {
		if m := mean(n); m < hi*4/10 || m > hi*6/10 {
			t.Errorf("attempt %d: mean %s, want about %s (capped at %s)", n, m, hi/2, hi)
		}
	}
	// Jitter: many distinct waits, and the same seed gives the same ones.
	a, b := rand.New(rand.NewPCG(1, 2)), rand.New(rand.NewPCG(1, 2))
	seen := map[time.Duration]bool{}
	for range 100 {
		x, y := backoff(3, lo, hi, a), backoff(3, lo, hi, b)
		if x != y {
			t.Fatal("same seed, different waits")
		}
		seen[x] = true
	}
	if len(seen) < 90 {
		t.Errorf("%d distinct waits out of 100: not jittered", len(seen))
	}
}

func TestRunTwiceRefused(t *testing.T) {
	ob := newOutbox(t)
	u, err := New(Config{BoxID: "box-twice", BrokerURL: "tcp://127.0.0.1:1"}, Deps{
		Clock: clock.Real(), Outbox: ob, OnDesired: func(context.Context, []byte) {}, OnCommand: func(context.Context, []byte) {},
		Reported: func() protocol.Reported { return protocol.Reported{} },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	eventually(t, 5*time.Second, "Run started", u.once.Load)
	if err := u.Run(ctx); err == nil {
		t.Error("a second Run was accepted")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
