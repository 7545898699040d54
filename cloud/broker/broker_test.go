package broker

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/protocol"
)

func TestEmbeddedIsolation(t *testing.T) {
	_, e := startEmbedded(t, Config{}, discardLogger())
	isolation(t, e)
}

func TestEmbeddedOverTLS(t *testing.T) {
	certFile, keyFile, clientTLS := writeCert(t, t.TempDir())
	b, e := startEmbedded(t, Config{CertFile: certFile, KeyFile: keyFile}, discardLogger())
	e.boxURL, e.cloudURL, e.tls = "ssl://"+b.Addr(), "ssl://"+b.Addr(), clientTLS

	a := e.mustDial(t, boxA, dialOpts{})
	a.mustSubscribe(t, protocol.Topic(boxA, protocol.KindCmd))
	cloud := e.mustDial(t, cloudUser, dialOpts{})
	cloud.mustPublish(t, protocol.Topic(boxA, protocol.KindCmd), 1, false, []byte("over tls"))
	a.until(t, protocol.Topic(boxA, protocol.KindCmd), []byte("over tls"))

	plain := env{boxURL: "tcp://" + b.Addr()}
	if _, err := plain.dial(t, boxA, dialOpts{}); err == nil {
		t.Fatal("a plain MQTT client connected to the TLS listener")
	}
}

func TestRefusalsAreLoggedAtWarn(t *testing.T) {
	rec := &logRecorder{}
	_, e := startEmbedded(t, Config{}, slog.New(rec))
	b := e.mustDial(t, boxB, dialOpts{})
	b.subscribe(t, protocol.Topic(boxA, protocol.KindCmd))
	if _, err := e.dial(t, boxA, dialOpts{password: "wrong"}); err == nil {
		t.Fatal("wrong password connected")
	}
	if got := rec.find(slog.LevelWarn, "refused", map[string]string{"box_id": boxB, "action": "read", "topic": protocol.Topic(boxA, protocol.KindCmd)}); len(got) != 1 {
		t.Errorf("%d Warn lines for box %s's refused subscription, want 1", len(got), boxB)
	}
	if got := rec.find(slog.LevelWarn, "refused", map[string]string{"action": "connect", "username": boxA, "reason": "bad username or password"}); len(got) != 1 {
		t.Errorf("%d Warn lines for the wrong password, want 1", len(got))
	}
	// mochi's own lines come through our logger, its chatter at Debug.
	if got := rec.find(slog.LevelDebug, "mochi mqtt starting", nil); len(got) != 1 {
		t.Errorf("mochi's start line: %d at Debug, want 1", len(got))
	}
}

func TestRefusalsFoldWhenTheyFlood(t *testing.T) {
	rec := &logRecorder{}
	now := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	r := newRefusals(slog.New(rec), func() time.Time { return now }, time.Minute)
	for range 50 {
		r.warn("village-b read", "read", "not allowed", "box_id", "village-b")
	}
	r.warn("village-c read", "read", "not allowed", "box_id", "village-c")
	if got := len(rec.find(slog.LevelWarn, "refused", nil)); got != 2 {
		t.Fatalf("%d lines for 50 refusals of one box and 1 of another, want 2", got)
	}
	now = now.Add(time.Minute)
	r.warn("village-b read", "read", "not allowed", "box_id", "village-b")
	if got := rec.find(slog.LevelWarn, "refused", map[string]string{"box_id": "village-b", "suppressed": "49"}); len(got) != 1 {
		t.Fatalf("after the window: %d lines saying 49 were suppressed, want 1", len(got))
	}
	r.warn("village-b read", "read", "not allowed", "box_id", "village-b")
	r.flush()
	if got := rec.find(slog.LevelWarn, "refusals folded", map[string]string{"suppressed": "1"}); len(got) != 1 {
		t.Fatalf("flush: %d lines, want 1 saying 1 was suppressed", len(got))
	}
}

func TestRules(t *testing.T) {
	a, b, cloud := Identity{Box: boxA}, Identity{Box: boxB}, Identity{Cloud: true}
	pub := []struct {
		id    Identity
		topic string
		ok    bool
	}{
		{a, protocol.Topic(boxA, protocol.KindEvents), true},
		{a, protocol.Topic(boxA, protocol.KindStatus), true},
		{a, protocol.Topic(boxA, protocol.KindReported), true},
		{a, protocol.Topic(boxA, protocol.KindCmdResult), true},
		{a, protocol.Topic(boxA, protocol.KindDesired), false},
		{a, protocol.Topic(boxA, protocol.KindCmd), false},
		{a, protocol.Topic(boxA, protocol.KindEventsAck), false},
		{b, protocol.Topic(boxA, protocol.KindEvents), false},
		{Identity{Box: "village"}, protocol.Topic(boxA, protocol.KindEvents), false},
		{a, protocol.Topic(boxA, protocol.KindEvents) + "/more", false},
		{a, "other", false},
		{cloud, protocol.Topic(boxA, protocol.KindDesired), true},
		{cloud, "$SYS/anything", true},
	}
	for _, c := range pub {
		if got := mayPublish(c.id, c.topic); got != c.ok {
			t.Errorf("mayPublish(%+v, %s) = %v, want %v", c.id, c.topic, got, c.ok)
		}
	}
	read := []struct {
		id     Identity
		filter string
		ok     bool
	}{
		{a, protocol.Topic(boxA, protocol.KindDesired), true},
		{a, protocol.Topic(boxA, protocol.KindCmd), true},
		{a, protocol.Topic(boxA, protocol.KindEventsAck), true},
		{a, protocol.Subtree(boxA), true},
		{a, protocol.Prefix + boxA + "/+", true},
		{a, protocol.Topic(boxB, protocol.KindDesired), false},
		{Identity{Box: "village"}, protocol.Subtree(boxA), false},
		{a, protocol.Prefix + boxA, false},
		{a, protocol.Prefix + boxA + "#", false},
		{a, "dalaba/v1/box/#", false},
		{a, "dalaba/v1/box/+/desired", false},
		{a, "#", false},
		{a, "$share/g/" + protocol.Topic(boxA, protocol.KindDesired), false},
		{cloud, "#", true},
		{cloud, "$share/cloud/" + protocol.AllBoxes(protocol.KindEvents), true},
	}
	for _, c := range read {
		if got := mayRead(c.id, c.filter); got != c.ok {
			t.Errorf("mayRead(%+v, %s) = %v, want %v", c.id, c.filter, got, c.ok)
		}
	}
}

func TestMaxPacketSizeCoversTheLargestPayload(t *testing.T) {
	for _, k := range protocol.Kinds() {
		// fixed header 5, topic length 2, topic, packet id 2
		if need := 5 + 2 + len(protocol.Topic(strings.Repeat("b", protocol.MaxBoxIDLen), k)) + 2 + k.MaxPayload(); need > MaxPacketSize() {
			t.Errorf("%s: a full payload needs a %d-byte packet, the limit is %d", k, need, MaxPacketSize())
		}
	}
	// Retained desired state must outlive any outage: mochi's default
	// expires it after a day.
	if got := options(discardLogger(), DefaultMaxInflight).Capabilities.MaximumMessageExpiryInterval; got != 0 {
		t.Errorf("message expiry cap %d s, want none", got)
	}
}

func TestNewValidates(t *testing.T) {
	certFile, keyFile, _ := writeCert(t, t.TempDir())
	deps := Deps{Logger: discardLogger(), Auth: tableAuth{}}
	cases := []struct {
		name string
		cfg  Config
		deps Deps
		want string // in the error; "" = valid
	}{
		{"loopback, any port", Config{Listen: "127.0.0.1:0"}, deps, ""},
		{"all interfaces with TLS", Config{Listen: ":8883", CertFile: certFile, KeyFile: keyFile}, deps, ""},
		{"no listen address", Config{}, deps, "listen"},
		{"listen without a port", Config{Listen: "127.0.0.1"}, deps, "listen"},
		{"cert without key", Config{Listen: ":0", CertFile: certFile}, deps, "together"},
		{"missing key file", Config{Listen: ":0", CertFile: certFile, KeyFile: filepath.Join(t.TempDir(), "none")}, deps, "key pair"},
		{"no authenticator", Config{Listen: ":0"}, Deps{Logger: discardLogger()}, "Auth"},
		{"no logger", Config{Listen: ":0"}, Deps{Auth: tableAuth{}}, "Logger"},
		{"in-flight window past 16 bits", Config{Listen: ":0", MaxInflight: 1 << 16}, deps, "inflight"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.cfg, c.deps)
			if c.want == "" && err != nil {
				t.Fatalf("New: %v", err)
			}
			if c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("New = %v, want an error about %s", err, c.want)
			}
		})
	}
	// Every problem at once.
	_, err := New(Config{CertFile: certFile}, Deps{})
	for _, w := range []string{"Logger", "Auth", "listen", "together"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("New with everything wrong = %v, want it to mention %s", err, w)
		}
	}
}

// Run stops on cancel even with a connection that never sent CONNECT and
// a connected client, and leaves nothing listening.
func TestRunStopsEverythingOnCancel(t *testing.T) {
	b, err := New(Config{Listen: "127.0.0.1:0"}, Deps{Logger: discardLogger(), Auth: tableAuth{}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Addr() != "" {
		t.Fatalf("Addr before Run = %q", b.Addr())
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	select {
	case <-b.Ready():
	case <-time.After(wait):
		t.Fatal("not ready")
	}
	idle, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	e := env{boxURL: "tcp://" + b.Addr(), cloudURL: "tcp://" + b.Addr()}
	a := e.mustDial(t, boxA, dialOpts{})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Run did not return")
	}
	if c, err := net.Dial("tcp", b.Addr()); err == nil {
		c.Close()
		t.Fatal("still listening after Run returned")
	}
	_ = idle.SetReadDeadline(time.Now().Add(wait))
	if _, err := idle.Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		t.Fatalf("the idle connection was not closed: %v", err)
	}
	deadline := time.Now().Add(wait)
	for a.IsConnectionOpen() {
		if time.Now().After(deadline) {
			t.Fatal("the client is still connected")
		}
		time.Sleep(10 * time.Millisecond) // polling paho's view of the connection
	}
	if err := b.Run(t.Context()); err == nil {
		t.Fatal("a second Run succeeded")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
