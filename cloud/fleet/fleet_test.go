package fleet

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dalaba/dalaba/cloud/downlink"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

const validity = 720 * time.Hour

// wait bounds waits on the store in these tests; a healthy run needs
// milliseconds.
const wait = 10 * time.Second

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// recorder is a Publisher that keeps what was published, by box.
type recorder struct {
	mu   sync.Mutex
	last map[string][]byte
	n    int
	fail error
}

func (r *recorder) PublishDesired(_ context.Context, box string, payload []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.last[box] = payload
	r.n++
	return nil
}

func (r *recorder) count() int { r.mu.Lock(); defer r.mu.Unlock(); return r.n }

type env struct {
	f    *Fleet
	pres *Presence // not running: tests run it when they need the store written
	st   store.Store
	pub  *recorder
	clk  *clock
	key  ed25519.PrivateKey
}

// newEnv is a fleet whose presence follows the broker's sessions.
func newEnv(t *testing.T) *env { return newEnvTimeout(t, 0) }

// newEnvTimeout is a fleet whose presence has the given Timeout (0:
// sessions).
func newEnvTimeout(t *testing.T, timeout time.Duration) *env {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, err := protocol.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, pub: &recorder{last: map[string][]byte{}}, clk: &clock{t: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)}, key: key}
	e.pres, err = NewPresence(PresenceConfig{Timeout: timeout}, PresenceDeps{Logger: slog.New(slog.DiscardHandler), Store: st, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.f, err = New(Config{Validity: validity, BrokerURL: "tls://township.example:8883", MediaURL: "https://township.example/media/", CloudUser: "township-cloud"},
		Deps{Logger: slog.New(slog.DiscardHandler), Store: st, Key: key, Publisher: e.pub, Presence: e.pres, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// published opens the last desired state published for box.
func (e *env) published(t *testing.T, box string) protocol.Desired {
	t.Helper()
	e.pub.mu.Lock()
	p := e.pub.last[box]
	e.pub.mu.Unlock()
	if p == nil {
		t.Fatalf("nothing published for %s", box)
	}
	d, err := protocol.OpenDesired(e.key.Public().(ed25519.PublicKey), box, p, e.clk.Now())
	if err != nil {
		t.Fatalf("published desired state of %s: %v", box, err)
	}
	return d
}

func TestAddBox(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	b, secret, err := e.f.AddBox(ctx, "village-1", "一村")
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 43 || strings.ContainsAny(secret, "+/=") {
		t.Errorf("secret %q: want 32 bytes in unpadded base64url", secret)
	}
	stored, err := e.st.GetBox(ctx, "village-1")
	if err != nil {
		t.Fatal(err)
	}
	if string(stored.SecretHash) != string(SecretHash(secret)) || strings.Contains(string(stored.SecretHash), secret) {
		t.Error("the store does not hold exactly sha256 of the secret")
	}
	if b.DesiredRev != 1 || stored.DesiredRev != 1 || stored.Name != "一村" || !stored.CreatedAt.Equal(e.clk.Now()) {
		t.Errorf("box %+v, stored %+v", b, stored)
	}
	d := e.published(t, "village-1")
	if d.Rev != 1 || !d.IssuedAt.Equal(e.clk.Now()) || !d.ExpiresAt.Equal(e.clk.Now().Add(validity)) || string(d.Spec) != "{}" {
		t.Errorf("desired %+v", d)
	}
	sd, err := e.st.GetDesired(ctx, "village-1")
	if err != nil || sd.Rev != 1 {
		t.Fatalf("stored desired %+v %v", sd, err)
	}
	if _, _, err := e.f.AddBox(ctx, "village-1", "again"); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate: %v, want store.ErrExists", err)
	}
}

func TestAddBoxRefusesBadInput(t *testing.T) {
	cases := []struct{ name, id, boxName string }{
		{"empty id", "", "x"},
		{"upper case", "Village", "x"},
		{"leading dash", "-village", "x"},
		{"topic separator", "a/b", "x"},
		{"wildcard plus", "a+", "x"},
		{"wildcard hash", "a#", "x"},
		{"underscore", "a_b", "x"},
		{"too long", strings.Repeat("a", protocol.MaxBoxIDLen+1), "x"},
		{"the cloud's own MQTT user", "township-cloud", "x"},
		{"empty name", "village-2", ""},
		{"control character in name", "village-2", "a\nb"},
		{"name too long", "village-2", strings.Repeat("村", 65)},
	}
	e := newEnv(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := e.f.AddBox(t.Context(), c.id, c.boxName); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	if boxes, _ := e.st.ListBoxes(t.Context()); len(boxes) != 0 || e.pub.count() != 0 {
		t.Errorf("refused adds left %d boxes and %d publications", len(boxes), e.pub.count())
	}
}

func TestAddBoxStoresWhenPublishFails(t *testing.T) {
	e := newEnv(t)
	e.pub.fail = errors.New("broker down")
	if _, _, err := e.f.AddBox(t.Context(), "village-1", "一村"); err != nil {
		t.Fatalf("a broker outage failed the add: %v", err)
	}
	if sd, err := e.st.GetDesired(t.Context(), "village-1"); err != nil || sd.Rev != 1 {
		t.Fatalf("desired not stored for later: %+v %v", sd, err)
	}
}

func TestEdgeConfig(t *testing.T) {
	e := newEnv(t)
	b, secret, err := e.f.AddBox(t.Context(), "village-1", "一村: \"东头\"")
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.f.EdgeConfig(b, secret)
	if err != nil {
		t.Fatal(err)
	}
	var ec struct {
		BoxID       string `yaml:"box_id"`
		TownshipKey string `yaml:"township_key"`
		Broker      struct {
			URL      string `yaml:"url"`
			Username string `yaml:"username"`
			Password string `yaml:"password"`
		} `yaml:"broker"`
		DataDir string `yaml:"data_dir"`
		Media   struct {
			URL string `yaml:"url"`
		} `yaml:"media"`
	}
	dec := yaml.NewDecoder(strings.NewReader(out))
	dec.KnownFields(true)
	if err := dec.Decode(&ec); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	pub, err := protocol.ParsePublicKey(ec.TownshipKey)
	if err != nil || !pub.Equal(e.key.Public()) {
		t.Errorf("township_key %q is not the township's public key (%v)", ec.TownshipKey, err)
	}
	if ec.BoxID != "village-1" || ec.Broker.URL != "tls://township.example:8883" || ec.Broker.Username != "village-1" ||
		ec.Broker.Password != secret || ec.DataDir != EdgeDataDir || ec.Media.URL != "https://township.example/media/" {
		t.Errorf("edge config %+v", ec)
	}
	if !strings.HasPrefix(out, "# dalaba-edge config for box village-1") || !strings.Contains(out, "# Village: 一村: \"东头\"\n") {
		t.Errorf("header:\n%s", out)
	}

	// Every key written is one dalaba-edge documents.
	raw, err := os.ReadFile("../../configs/edge.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var example, ours map[string]any
	if err := yaml.Unmarshal(raw, &example); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(out), &ours); err != nil {
		t.Fatal(err)
	}
	for k, v := range ours {
		ex, ok := example[k]
		if !ok {
			t.Errorf("key %s is not in configs/edge.example.yaml", k)
			continue
		}
		if sub, ok := v.(map[string]any); ok {
			exSub, _ := ex.(map[string]any)
			for sk := range sub {
				if _, ok := exSub[sk]; !ok {
					t.Errorf("key %s.%s is not in configs/edge.example.yaml", k, sk)
				}
			}
		}
	}
}

func TestRefreshReSignsAgeingStates(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if _, _, err := e.f.AddBox(ctx, "village-1", "一村"); err != nil {
		t.Fatal(err)
	}
	spec := json.RawMessage(`{"broadcast":{"speakers":[{"id":"s1","driver":"soundcard"}],"zones":[{"id":"all","speakers":["s1"]}]}}`)
	if rev, err := e.f.SetSpec(ctx, "village-1", spec); err != nil || rev != 2 {
		t.Fatalf("SetSpec: rev %d, %v", rev, err)
	}
	for _, bad := range []string{`{`, `{"speakers":[]}`, `{"broadcast":{"zones":[{"id":"all","speakers":["nobody"]}]}}`} {
		if _, err := e.f.SetSpec(ctx, "village-1", json.RawMessage(bad)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("bad spec %s: %v", bad, err)
		}
	}
	n := e.pub.count()

	e.clk.Add(validity/2 - time.Second)
	e.f.Refresh(ctx)
	if e.pub.count() != n {
		t.Fatal("a state younger than half its validity was re-signed")
	}

	e.clk.Add(time.Second)
	e.f.Refresh(ctx)
	d := e.published(t, "village-1")
	if d.Rev != 3 || !d.IssuedAt.Equal(e.clk.Now()) || string(d.Spec) != string(spec) {
		t.Fatalf("re-signed %+v, want rev 3 issued now with the same spec", d)
	}
	if b, _ := e.st.GetBox(ctx, "village-1"); b.DesiredRev != 3 {
		t.Fatalf("stored desired rev %d", b.DesiredRev)
	}
}

func TestConnectedRepublishesEveryBox(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	for _, id := range []string{"village-1", "village-2"} {
		if _, _, err := e.f.AddBox(ctx, id, id); err != nil {
			t.Fatal(err)
		}
	}
	// A box whose first desired state was never stored (a crash between
	// the two writes) gets one now.
	if err := e.st.CreateBox(ctx, store.Box{ID: "village-3", Name: "三村", CreatedAt: e.clk.Now()}); err != nil {
		t.Fatal(err)
	}
	e.pub.mu.Lock()
	e.pub.last, e.pub.n = map[string][]byte{}, 0
	e.pub.mu.Unlock()

	e.f.Connected(ctx)
	if e.pub.count() != 3 {
		t.Fatalf("%d publications after connect, want 3", e.pub.count())
	}
	for id, rev := range map[string]uint64{"village-1": 1, "village-2": 1, "village-3": 1} {
		if d := e.published(t, id); d.Rev != rev {
			t.Errorf("%s: rev %d, want %d", id, d.Rev, rev)
		}
	}
}

// msg marshals v for kind k, failing the test if the protocol refuses it.
func msg(t *testing.T, k protocol.Kind, v any) []byte {
	t.Helper()
	b, err := protocol.Marshal(k, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// handle hands the fleet a message of village-1, live or retained, and
// fails on an error.
func (e *env) handle(t *testing.T, k protocol.Kind, retained bool, payload []byte) []byte {
	t.Helper()
	ack, err := e.f.Handle(t.Context(), downlink.Message{Box: "village-1", Kind: k, Payload: payload, Retained: retained})
	if err != nil {
		t.Fatalf("%s: %v", k, err)
	}
	return ack
}

func (e *env) box(t *testing.T, id string) store.Box {
	t.Helper()
	b, err := e.st.GetBox(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *env) link(t *testing.T, id string) Link {
	t.Helper()
	return e.f.Link(e.box(t, id))
}

func TestHandle(t *testing.T) {
	e := newEnv(t)
	if _, _, err := e.f.AddBox(t.Context(), "village-1", "一村"); err != nil {
		t.Fatal(err)
	}
	e.pres.Connected("village-1")

	t0 := e.clk.Now()
	e.handle(t, protocol.KindReported, false, msg(t, protocol.KindReported, protocol.Reported{V: 1, BoxID: "village-1", AppliedRev: 1, OutboxBacklog: 42, At: t0}))
	// Reported state is soft: held in memory, written with the next flush.
	if b := e.box(t, "village-1"); b.AppliedRev != 0 {
		t.Fatalf("reported state written before the flush: %+v", b)
	}
	e.pres.flush(t.Context())
	if b := e.box(t, "village-1"); b.AppliedRev != 1 || b.OutboxBacklog != 42 || !b.ReportedAt.Equal(t0) {
		t.Fatalf("after reported: %+v", b)
	}

	// A retained copy, sent because the service subscribed again, records
	// what it says but is no sign of the box now.
	e.clk.Add(time.Minute)
	e.handle(t, protocol.KindReported, true, msg(t, protocol.KindReported, protocol.Reported{V: 1, BoxID: "village-1", AppliedRev: 2, OutboxBacklog: 7, At: t0}))
	e.pres.flush(t.Context())
	if b := e.box(t, "village-1"); b.AppliedRev != 2 || b.OutboxBacklog != 7 || !b.ReportedAt.Equal(t0) {
		t.Fatalf("after a retained reported: %+v, want rev 2, backlog 7, reported at %s", b, t0)
	}
	if l := e.link(t, "village-1"); !l.LastSeen.Equal(t0) {
		t.Fatalf("a retained message moved LastSeen to %s", l.LastSeen)
	}

	// Events: stored, acked with the watermark, the box seen.
	e.clk.Add(time.Minute)
	t1 := e.clk.Now()
	ack := e.handle(t, protocol.KindEvents, false, msg(t, protocol.KindEvents, protocol.EventBatch{V: 1, BoxID: "village-1", Floor: 1,
		Events: []protocol.Event{{Seq: 1, Time: t0, Type: "x", Priority: 1}, {Seq: 2, Time: t0, Type: "x", Priority: 1}}}))
	a, err := protocol.DecodeEventsAck("village-1", ack)
	if err != nil || a.Seq != 2 {
		t.Fatalf("ack %s: %v", ack, err)
	}
	if b, l := e.box(t, "village-1"), e.link(t, "village-1"); b.Watermark != 2 || !l.LastSeen.Equal(t1) {
		t.Fatalf("after events: watermark %d, last seen %s", b.Watermark, l.LastSeen)
	}
	e.clk.Add(time.Second)
	e.handle(t, protocol.KindCmdResult, false, msg(t, protocol.KindCmdResult, protocol.CommandResult{V: 1, ID: "c", BoxID: "village-1", OK: true}))
	if l := e.link(t, "village-1"); !l.LastSeen.Equal(e.clk.Now()) {
		t.Fatalf("a result did not move LastSeen: %s", l.LastSeen)
	}
}

// With the embedded broker, what a box publishes on its status topic
// never changes presence: only its connection does.
func TestStatusIsOnlyInformationWithSessions(t *testing.T) {
	e := newEnv(t)
	if _, _, err := e.f.AddBox(t.Context(), "village-1", "一村"); err != nil {
		t.Fatal(err)
	}
	online := msg(t, protocol.KindStatus, protocol.Status{V: 1, BoxID: "village-1", Online: true})
	offline := msg(t, protocol.KindStatus, protocol.Status{V: 1, BoxID: "village-1", Online: false})

	e.handle(t, protocol.KindStatus, true, online)
	e.handle(t, protocol.KindStatus, false, online)
	if l := e.link(t, "village-1"); l.Online {
		t.Fatal("online by a status, with no connection")
	}
	e.pres.Connected("village-1")
	connected := e.clk.Now()
	e.clk.Add(time.Minute)
	e.handle(t, protocol.KindStatus, false, offline)
	if l := e.link(t, "village-1"); !l.Online || !l.Since.Equal(connected) {
		t.Fatalf("connected box after an offline status: %+v, want online since %s", l, connected)
	}
	e.pres.Disconnected("village-1")
	if l := e.link(t, "village-1"); l.Online || !l.Since.IsZero() {
		t.Fatalf("after its connection ended: %+v", l)
	}
	// An offline status (the will, or the box's goodbye) is no sign of
	// life.
	e.clk.Add(time.Minute)
	e.handle(t, protocol.KindStatus, false, offline)
	if l := e.link(t, "village-1"); !l.LastSeen.Equal(connected) {
		t.Fatalf("last seen %s, want the connect at %s", l.LastSeen, connected)
	}
}

// With an external broker, live traffic keeps a box online for Timeout;
// its offline status ends that at once; retained copies never count.
func TestPresenceFromTraffic(t *testing.T) {
	const timeout = 150 * time.Second
	e := newEnvTimeout(t, timeout)
	if _, _, err := e.f.AddBox(t.Context(), "village-1", "一村"); err != nil {
		t.Fatal(err)
	}
	online := msg(t, protocol.KindStatus, protocol.Status{V: 1, BoxID: "village-1", Online: true})
	offline := msg(t, protocol.KindStatus, protocol.Status{V: 1, BoxID: "village-1", Online: false})
	reported := msg(t, protocol.KindReported, protocol.Reported{V: 1, BoxID: "village-1", AppliedRev: 1, At: e.clk.Now()})

	e.handle(t, protocol.KindStatus, true, online)
	e.handle(t, protocol.KindReported, true, reported)
	e.pres.expire()
	if l := e.link(t, "village-1"); l.Online {
		t.Fatal("online by retained messages")
	}

	t0 := e.clk.Now()
	e.handle(t, protocol.KindReported, false, reported)
	if l := e.link(t, "village-1"); !l.Online || !l.Since.Equal(t0) || !l.LastSeen.Equal(t0) {
		t.Fatalf("after a live reported: %+v", l)
	}
	e.clk.Add(time.Minute)
	e.handle(t, protocol.KindCmdResult, false, msg(t, protocol.KindCmdResult, protocol.CommandResult{V: 1, ID: "c", BoxID: "village-1", OK: true}))
	t1 := e.clk.Now()
	e.clk.Add(timeout - time.Second)
	if next := e.pres.expire(); next != time.Second || !e.link(t, "village-1").Online {
		t.Fatalf("a second before the timeout: online %v, next check in %s", e.link(t, "village-1").Online, next)
	}
	e.clk.Add(time.Second)
	e.pres.expire()
	if l := e.link(t, "village-1"); l.Online || !l.LastSeen.Equal(t1) {
		t.Fatalf("at the timeout: %+v, want offline, last seen %s", l, t1)
	}

	e.handle(t, protocol.KindStatus, false, online)
	if !e.link(t, "village-1").Online {
		t.Fatal("a live online status did not count as traffic")
	}
	e.handle(t, protocol.KindStatus, false, offline)
	if e.link(t, "village-1").Online {
		t.Fatal("online after the box's offline status")
	}
}

// Replicas each hear a share of a box's traffic over one store: a
// replica that last heard the box long ago takes the word of the one
// that heard it lately, both in what it shows and in what it writes; the
// box's goodbye, heard by either, takes it offline for both.
func TestReplicasTakeEachOthersWordFromTheStore(t *testing.T) {
	const timeout = 150 * time.Second
	e := newEnvTimeout(t, timeout) // replica a
	if _, _, err := e.f.AddBox(t.Context(), "village-1", "一村"); err != nil {
		t.Fatal(err)
	}
	b, err := NewPresence(PresenceConfig{Timeout: timeout}, PresenceDeps{Logger: slog.New(slog.DiscardHandler), Store: e.st, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	linkB := func() Link { return b.Link(e.box(t, "village-1")) }

	b.Heard("village-1", false, false) // b hears the box once
	b.flush(t.Context())
	e.clk.Add(100 * time.Second)
	e.pres.Heard("village-1", false, false) // then only a does
	e.pres.flush(t.Context())
	heard := e.clk.Now()

	e.clk.Add(timeout - 100*time.Second + time.Second) // b's own word has run out, a's has not
	b.expire()
	if l := linkB(); !l.Online || !l.LastSeen.Equal(heard) {
		t.Fatalf("b shows %+v, want online, last seen %s (a heard it)", l, heard)
	}
	b.flush(t.Context())
	if st := e.box(t, "village-1"); !st.Online || !st.LastSeen.Equal(heard) {
		t.Fatalf("b wrote online %v, last seen %s over a's word (online, %s)", st.Online, st.LastSeen, heard)
	}

	e.pres.Heard("village-1", false, true) // a hears the goodbye
	e.pres.flush(t.Context())
	if l := linkB(); l.Online {
		t.Fatalf("b shows %+v after the box's goodbye to a", l)
	}
	b.flush(t.Context())
	if e.box(t, "village-1").Online {
		t.Fatal("the box is online in the store after its goodbye")
	}
	e.clk.Add(timeout) // and what a wrote runs out on its own
	e.pres.Heard("village-1", false, false)
	e.pres.flush(t.Context())
	e.clk.Add(timeout)
	if l := linkB(); l.Online {
		t.Fatalf("b shows %+v a Timeout after anyone heard the box", l)
	}
}

// Presence reaches the store's Online and LastSeen while Run runs, and
// the last change is written when it stops.
func TestPresenceReachesTheStore(t *testing.T) {
	e := newEnv(t)
	if _, _, err := e.f.AddBox(t.Context(), "village-1", "一村"); err != nil {
		t.Fatal(err)
	}
	run := testenv.Background(t, wait, "presence", e.pres.Run)
	e.pres.Connected("village-1")
	testenv.WaitFor(t, wait, "online in the store", func() bool { return e.box(t, "village-1").Online })
	if b := e.box(t, "village-1"); !b.LastSeen.Equal(e.clk.Now()) {
		t.Fatalf("last seen %s, want the connect at %s", b.LastSeen, e.clk.Now())
	}
	e.pres.Disconnected("village-1")
	testenv.WaitFor(t, wait, "offline in the store", func() bool { return !e.box(t, "village-1").Online })
	e.pres.Connected("village-1")
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	if !e.box(t, "village-1").Online {
		t.Fatal("the change before the stop was not written")
	}
}

// What a box seemed at the end of the last run is not presence now: with
// sessions every box starts offline; with traffic a box stays online only
// for what is left of its Timeout.
func TestPresenceDoesNotSurviveARestart(t *testing.T) {
	for _, c := range []struct {
		name     string
		timeout  time.Duration
		lastSeen time.Duration // before now
		online   bool
	}{
		{"sessions", 0, 0, false},
		{"traffic, heard within the timeout", time.Minute, 30 * time.Second, true},
		{"traffic, heard before the timeout", time.Minute, 2 * time.Minute, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnvTimeout(t, c.timeout)
			if _, _, err := e.f.AddBox(t.Context(), "village-1", "一村"); err != nil {
				t.Fatal(err)
			}
			seen := e.clk.Now().Add(-c.lastSeen)
			if err := e.st.UpdateBox(t.Context(), "village-1", func(b *store.Box) error { b.Online, b.LastSeen = true, seen; return nil }); err != nil {
				t.Fatal(err)
			}
			// What Run does first.
			if err := e.pres.load(t.Context()); err != nil {
				t.Fatal(err)
			}
			e.pres.expire()
			e.pres.flush(t.Context())
			if l, b := e.link(t, "village-1"), e.box(t, "village-1"); l.Online != c.online || b.Online != c.online || !l.LastSeen.Equal(seen) {
				t.Fatalf("after the restart: %+v, stored online %v; want online %v, last seen %s", l, b.Online, c.online, seen)
			}
		})
	}
}

func TestPresenceCountsDropsAndForgetsUnknownBoxes(t *testing.T) {
	e := newEnv(t)
	if _, _, err := e.f.AddBox(t.Context(), "village-1", "一村"); err != nil {
		t.Fatal(err)
	}
	e.pres.Limited("village-1", 3)
	e.pres.Limited("village-1", 4)
	if l := e.link(t, "village-1"); l.RateLimited != 7 {
		t.Fatalf("rate limited %d, want 7", l.RateLimited)
	}
	e.pres.Connected("ghost")
	e.pres.flush(t.Context())
	e.pres.mu.Lock()
	_, kept := e.pres.boxes["ghost"]
	e.pres.mu.Unlock()
	if kept {
		t.Fatal("a box the store does not hold is still kept")
	}
}

func TestNewPresenceValidates(t *testing.T) {
	_, err := NewPresence(PresenceConfig{Timeout: -time.Second}, PresenceDeps{})
	for _, want := range []string{"negative", "Logger", "Store"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewPresence with everything wrong = %v, want it to mention %s", err, want)
		}
	}
}

func TestHandleRejectsBadPayloads(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if _, _, err := e.f.AddBox(ctx, "village-1", "一村"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		kind    protocol.Kind
		payload string
	}{
		{"status not JSON", protocol.KindStatus, `nope`},
		{"status of another box", protocol.KindStatus, `{"v":1,"box_id":"village-2","online":true}`},
		{"status from the future", protocol.KindStatus, `{"v":2,"box_id":"village-1","online":true}`},
		{"reported unknown field", protocol.KindReported, `{"v":1,"box_id":"village-1","applied_rev":1,"outbox_backlog":0,"at":"2026-11-01T08:00:00Z","x":1}`},
		{"events truncated", protocol.KindEvents, `{"v":1,"box_id":"village-1","floor":1,"events":[`},
		{"events seq going back", protocol.KindEvents, `{"v":1,"box_id":"village-1","floor":1,"events":[{"seq":2,"time":"2026-11-01T08:00:00Z","type":"x","prio":1},{"seq":1,"time":"2026-11-01T08:00:00Z","type":"x","prio":1}]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ack, err := e.f.Handle(ctx, downlink.Message{Box: "village-1", Kind: c.kind, Payload: []byte(c.payload)})
			if _, ok := errors.AsType[*protocol.RejectError](err); !ok || ack != nil {
				t.Fatalf("ack %q, err %v: want a *protocol.RejectError and no ack", ack, err)
			}
		})
	}
	if b, _ := e.st.GetBox(ctx, "village-1"); b.Online || b.Watermark != 0 || b.AppliedRev != 0 {
		t.Fatalf("a rejected message changed the box: %+v", b)
	}
}

func TestHandleUnregisteredBox(t *testing.T) {
	e := newEnv(t)
	p, _ := protocol.Marshal(protocol.KindEvents, protocol.EventBatch{V: 1, BoxID: "ghost", Floor: 1, Events: []protocol.Event{{Seq: 1, Time: time.Now(), Type: "x", Priority: 1}}})
	if ack, err := e.f.Handle(t.Context(), downlink.Message{Box: "ghost", Kind: protocol.KindEvents, Payload: p}); err != nil || ack != nil {
		t.Fatalf("unregistered box: ack %q, err %v; want it dropped quietly", ack, err)
	}
}

func TestAuthenticator(t *testing.T) {
	e := newEnv(t)
	_, secret, err := e.f.AddBox(t.Context(), "village-1", "一村")
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAuthenticator(e.st, "dalaba_cloud")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewAuthenticator(e.st, "dalaba_cloud")
	if a.CloudPassword() == "" || a.CloudPassword() == other.CloudPassword() {
		t.Fatal("the cloud's password is not made afresh")
	}
	cases := []struct {
		name, user, pass string
		ok               bool
		cloud            bool
		box              string
	}{
		{"the cloud", "dalaba_cloud", a.CloudPassword(), true, true, ""},
		{"the cloud, wrong password", "dalaba_cloud", "guess", false, false, ""},
		{"the cloud, empty password", "dalaba_cloud", "", false, false, ""},
		{"the cloud, last run's password", "dalaba_cloud", other.CloudPassword(), false, false, ""},
		{"a box", "village-1", secret, true, false, "village-1"},
		{"a box, wrong secret", "village-1", secret + "x", false, false, ""},
		{"a box, empty secret", "village-1", "", false, false, ""},
		{"another box's name", "village-2", secret, false, false, ""},
		{"not a box id", "Village-1", secret, false, false, ""},
		{"wildcard", "#", secret, false, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, ok := a.Authenticate(t.Context(), c.user, []byte(c.pass))
			if ok != c.ok || id.Cloud != c.cloud || id.Box != c.box {
				t.Fatalf("got %+v, %v", id, ok)
			}
		})
	}
}
