package cloud

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/dalaba/dalaba/cloud/config"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// wait bounds every wait on the network here; a healthy run needs
// milliseconds.
const wait = 10 * time.Second

const adminPassword = "test-admin-password"

// running is a Cloud started in-process on loopback port 0.
type running struct {
	dir, http, mqtt, token string
	stdout                 *bytes.Buffer
	stop                   func() error
}

func testConfig(dir string) config.Config {
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.MQTT.Listen = "127.0.0.1:0"
	return cfg
}

func startCloud(t testing.TB, dir string, edit func(*config.Config)) *running {
	t.Helper()
	cfg := testConfig(dir)
	if edit != nil {
		edit(&cfg)
	}
	t.Setenv(config.EnvAdminPassword, adminPassword)
	r := launch(t, cfg)
	r.login(t, "admin", adminPassword)
	return r
}

// launch runs a Cloud until the test ends and waits until it is ready.
func launch(t testing.TB, cfg config.Config) *running {
	t.Helper()
	return launchLogging(t, cfg, slog.LevelInfo)
}

// launchLogging is launch logging from level up.
func launchLogging(t testing.TB, cfg config.Config, level slog.Level) *running {
	t.Helper()
	r := &running{dir: cfg.DataDir, stdout: &bytes.Buffer{}}
	c, err := New(cfg, Deps{Logger: testenv.Logger(t, level), Version: "test", Stdout: r.stdout, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	// Run may spend drainTimeout draining HTTP before it returns.
	run := testenv.Background(t, drainTimeout+wait, "cloud", c.Run)
	r.stop = run.Stop
	waitFor(t, "listen.json", func() bool {
		select {
		case <-run.Done():
			t.Fatalf("cloud exited before it was ready: %v", run.Err())
		default:
		}
		b, err := os.ReadFile(filepath.Join(cfg.DataDir, c.listenFile()))
		if err != nil {
			return false
		}
		var l struct {
			HTTP string `json:"http"`
			MQTT string `json:"mqtt"`
		}
		if json.Unmarshal(b, &l) != nil {
			return false
		}
		r.http, r.mqtt = l.HTTP, l.MQTT
		return true
	})
	return r
}

func (r *running) login(t testing.TB, user, password string) {
	t.Helper()
	var login struct{ Token string }
	r.token = ""
	r.api(t, "POST", "/api/v1/login", fmt.Sprintf(`{"username":%q,"password":%q}`, user, password), &login, 200)
	r.token = login.Token
}

// waitFor polls cond until it holds or wait has passed.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, wait, what, cond)
}

func (r *running) api(t testing.TB, method, path, body string, out any, want int) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+r.http+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatal(err)
		}
	}
}

type boxView struct {
	Online           bool      `json:"online"`
	ConnectedSince   time.Time `json:"connected_since"`
	RateLimited      uint64    `json:"rate_limited"`
	LastSeen         time.Time `json:"last_seen"`
	AppliedRev       uint64    `json:"applied_rev"`
	DesiredRev       uint64    `json:"desired_rev"`
	OutboxBacklog    uint64    `json:"outbox_backlog"`
	ReportedAt       time.Time `json:"reported_at"`
	Watermark        uint64    `json:"watermark"`
	RejectedMessages uint64    `json:"rejected_messages"`
}

// box reads a box from the list, as the console does.
func (r *running) box(t testing.TB, id string) boxView {
	t.Helper()
	var boxes []struct {
		ID string `json:"id"`
		boxView
	}
	r.api(t, "GET", "/api/v1/boxes", "", &boxes, 200)
	for _, b := range boxes {
		if b.ID == id {
			return b.boxView
		}
	}
	t.Fatalf("box %s not listed", id)
	return boxView{}
}

// edgeConfig is the printed edge config, decoded strictly: it must hold
// these keys and no other.
type edgeConfig struct {
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

func parseEdgeConfig(t testing.TB, s string) edgeConfig {
	t.Helper()
	var ec edgeConfig
	dec := yaml.NewDecoder(strings.NewReader(s))
	dec.KnownFields(true)
	if err := dec.Decode(&ec); err != nil {
		t.Fatalf("edge config: %v\n%s", err, s)
	}
	return ec
}

func (r *running) addBox(t testing.TB, id string) edgeConfig {
	t.Helper()
	var out struct {
		EdgeConfig string `json:"edge_config"`
	}
	r.api(t, "POST", "/api/v1/boxes", fmt.Sprintf(`{"id":%q,"name":"测试村"}`, id), &out, 201)
	return parseEdgeConfig(t, out.EdgeConfig)
}

// fakeBox is a paho client with a box's credentials, playing the box. Its
// TCP connection is kept so a test can cut it as a crash would.
type fakeBox struct {
	id      string
	cl      mqtt.Client
	mu      sync.Mutex
	conn    net.Conn
	desired [][]byte
	acks    []protocol.EventsAck
	cmds    [][]byte
}

func connectBox(t testing.TB, ec edgeConfig, brokerURL string, will bool) *fakeBox {
	t.Helper()
	fb := &fakeBox{id: ec.BoxID}
	o := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(ec.BoxID).SetCleanSession(false).
		SetUsername(ec.Broker.Username).SetPassword(ec.Broker.Password).SetAutoReconnect(false).
		SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
			c, err := net.DialTimeout("tcp", u.Host, wait)
			if err == nil {
				fb.mu.Lock()
				fb.conn = c
				fb.mu.Unlock()
			}
			return c, err
		})
	if will {
		w := marshal(t, protocol.KindStatus, protocol.Status{V: 1, BoxID: ec.BoxID, Online: false})
		o.SetBinaryWill(protocol.Topic(ec.BoxID, protocol.KindStatus), w, 1, true)
	}
	fb.cl = mqtt.NewClient(o)
	if tok := fb.cl.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("box connect: %v", tok.Error())
	}
	t.Cleanup(func() { fb.cl.Disconnect(0) })
	sub := func(k protocol.Kind, f func([]byte)) {
		tok := fb.cl.Subscribe(protocol.Topic(ec.BoxID, k), 1, func(_ mqtt.Client, m mqtt.Message) { f(m.Payload()) })
		if !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
	}
	sub(protocol.KindDesired, func(p []byte) { fb.mu.Lock(); fb.desired = append(fb.desired, p); fb.mu.Unlock() })
	sub(protocol.KindCmd, func(p []byte) { fb.mu.Lock(); fb.cmds = append(fb.cmds, p); fb.mu.Unlock() })
	sub(protocol.KindEventsAck, func(p []byte) {
		if a, err := protocol.DecodeEventsAck(ec.BoxID, p); err == nil {
			fb.mu.Lock()
			fb.acks = append(fb.acks, a)
			fb.mu.Unlock()
		}
	})
	return fb
}

func (fb *fakeBox) publish(t testing.TB, k protocol.Kind, retained bool, payload []byte) {
	t.Helper()
	if tok := fb.cl.Publish(protocol.Topic(fb.id, k), 1, retained, payload); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", k, tok.Error())
	}
}

func (fb *fakeBox) lastAck() uint64 {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if len(fb.acks) == 0 {
		return 0
	}
	return fb.acks[len(fb.acks)-1].Seq
}

// firstDesired waits for a desired state and opens it with pub.
func (fb *fakeBox) firstDesired(t *testing.T, pub ed25519.PublicKey) protocol.Desired {
	t.Helper()
	waitFor(t, "retained desired state at "+fb.id, func() bool { fb.mu.Lock(); defer fb.mu.Unlock(); return len(fb.desired) > 0 })
	fb.mu.Lock()
	defer fb.mu.Unlock()
	d, err := protocol.OpenDesired(pub, fb.id, fb.desired[0], time.Now())
	if err != nil {
		t.Fatalf("desired state does not verify: %v", err)
	}
	return d
}

// crash closes the box's TCP connection without an MQTT DISCONNECT.
func (fb *fakeBox) crash(t *testing.T) {
	t.Helper()
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if fb.conn == nil {
		t.Fatal("no connection to cut")
	}
	if err := fb.conn.Close(); err != nil {
		t.Fatal(err)
	}
}

func marshal(t testing.TB, k protocol.Kind, v any) []byte {
	t.Helper()
	b, err := protocol.Marshal(k, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// batch builds a batch of the box's events with seqs; an event is the same
// whenever its seq is sent again, as a box's re-sent events are.
func batch(t testing.TB, box string, floor uint64, seqs ...uint64) []byte {
	t.Helper()
	var evs []protocol.Event
	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	for _, q := range seqs {
		evs = append(evs, protocol.Event{Seq: q, Time: at.Add(time.Duration(q) * time.Second), Type: "test.event", Priority: protocol.PriorityInfo, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, q))})
	}
	return marshal(t, protocol.KindEvents, protocol.EventBatch{V: 1, BoxID: box, Floor: floor, Events: evs})
}

func TestBoxLifecycleOverEmbeddedBroker(t *testing.T) {
	r := startCloud(t, t.TempDir(), nil)
	if r.stdout.Len() != 0 {
		t.Errorf("a password was printed although %s was set: %q", config.EnvAdminPassword, r.stdout)
	}
	const id = "village-1"
	ec := r.addBox(t, id)
	if ec.BoxID != id || ec.Broker.URL != "tcp://"+r.mqtt || ec.Broker.Username != id || ec.Broker.Password == "" || ec.DataDir == "" || ec.Media.URL != "http://"+r.http+"/media/" {
		t.Fatalf("edge config: %+v (mqtt %s)", ec, r.mqtt)
	}
	pub, err := protocol.ParsePublicKey(ec.TownshipKey)
	if err != nil {
		t.Fatal(err)
	}
	fb := connectBox(t, ec, ec.Broker.URL, true)

	t.Run("signed desired state rev 1 is waiting, retained", func(t *testing.T) {
		if d := fb.firstDesired(t, pub); d.Rev != 1 || d.BoxID != id || !d.ExpiresAt.After(time.Now().Add(700*time.Hour)) {
			t.Fatalf("desired %+v", d)
		}
	})

	t.Run("status and reported show in the API", func(t *testing.T) {
		fb.publish(t, protocol.KindStatus, true, marshal(t, protocol.KindStatus, protocol.Status{V: 1, BoxID: id, Online: true, At: time.Now()}))
		fb.publish(t, protocol.KindReported, true, marshal(t, protocol.KindReported, protocol.Reported{V: 1, BoxID: id, AppliedRev: 1, OutboxBacklog: 3, At: time.Now()}))
		waitFor(t, "online with rev 1 applied", func() bool { b := r.box(t, id); return b.Online && b.AppliedRev == 1 })
		b := r.box(t, id)
		if b.DesiredRev != 1 || b.OutboxBacklog != 3 || b.LastSeen.IsZero() || b.ReportedAt.IsZero() {
			t.Fatalf("box %+v", b)
		}
	})

	t.Run("events are acked after storing and paged by the API", func(t *testing.T) {
		fb.publish(t, protocol.KindEvents, false, batch(t, id, 1, 1, 2, 3))
		waitFor(t, "ack of seq 3", func() bool { return fb.lastAck() == 3 })
		// A re-sent batch is stored once; a later one moves the ack on.
		fb.publish(t, protocol.KindEvents, false, batch(t, id, 1, 1, 2, 3))
		fb.publish(t, protocol.KindEvents, false, batch(t, id, 1, 4, 5))
		waitFor(t, "ack of seq 5", func() bool { return fb.lastAck() == 5 })
		var seqs []uint64
		after := uint64(0)
		for range 10 {
			var page struct {
				Events []struct {
					Seq  uint64          `json:"seq"`
					Data json.RawMessage `json:"data"`
				} `json:"events"`
				NextAfter uint64 `json:"next_after"`
			}
			r.api(t, "GET", fmt.Sprintf("/api/v1/boxes/%s/events?after=%d&limit=2", id, after), "", &page, 200)
			if len(page.Events) == 0 {
				break
			}
			for _, e := range page.Events {
				seqs = append(seqs, e.Seq)
				if string(e.Data) != fmt.Sprintf(`{"n":%d}`, e.Seq) {
					t.Errorf("event %d data %s", e.Seq, e.Data)
				}
			}
			after = page.NextAfter
		}
		if fmt.Sprint(seqs) != "[1 2 3 4 5]" {
			t.Fatalf("stored seqs %v, want [1 2 3 4 5]", seqs)
		}
		if b := r.box(t, id); b.Watermark != 5 {
			t.Fatalf("watermark %d", b.Watermark)
		}
	})

	t.Run("garbage on every box topic is counted, and the cloud goes on", func(t *testing.T) {
		before := r.box(t, id).RejectedMessages
		bad := map[protocol.Kind][]byte{
			protocol.KindStatus:    []byte(`{"v":1,`),
			protocol.KindReported:  []byte(`not json`),
			protocol.KindEvents:    []byte(`{"v":2,"box_id":"village-1","floor":1,"events":[]}`),
			protocol.KindCmdResult: []byte(`{"v":1,"id":"x","box_id":"village-2","ok":true}`),
		}
		for k, p := range bad {
			fb.publish(t, k, false, p)
		}
		waitFor(t, "4 more rejected messages", func() bool { return r.box(t, id).RejectedMessages == before+4 })
		// Still served: a good batch after the garbage is stored and acked.
		fb.publish(t, protocol.KindEvents, false, batch(t, id, 1, 6))
		waitFor(t, "ack of seq 6 after the garbage", func() bool { return fb.lastAck() == 6 })
		if !r.box(t, id).Online {
			t.Fatal("garbage status changed presence")
		}
	})

	t.Run("a signed command reaches the box and its result the API caller", func(t *testing.T) {
		// The box answers once the command is there, until the test ends.
		done := make(chan struct{})
		defer close(done)
		go func() {
			var p []byte
			for p == nil {
				select {
				case <-done:
					return // the API call below failed first
				case <-time.After(10 * time.Millisecond):
				}
				fb.mu.Lock()
				if len(fb.cmds) > 0 {
					p = fb.cmds[0]
				}
				fb.mu.Unlock()
			}
			c, err := protocol.OpenCommand(pub, id, p, time.Now())
			if err != nil || c.Type != "ping" || string(c.Args) != `{"n":1}` {
				t.Errorf("command %+v: %v", c, err)
				return
			}
			res, _ := protocol.Marshal(protocol.KindCmdResult, protocol.CommandResult{V: 1, ID: c.ID, BoxID: id, OK: true, Data: json.RawMessage(`{"pong":true}`)})
			fb.cl.Publish(protocol.Topic(id, protocol.KindCmdResult), 1, false, res)
		}()
		var res protocol.CommandResult
		r.api(t, "POST", "/api/v1/boxes/"+id+"/commands", `{"type":"ping","args":{"n":1}}`, &res, 200)
		if !res.OK || res.BoxID != id || !bytes.Contains(res.Data, []byte("pong")) {
			t.Fatalf("command result %+v", res)
		}
	})

	t.Run("a crashed box goes offline through its will", func(t *testing.T) {
		fb.crash(t)
		waitFor(t, "offline after the will", func() bool { return !r.box(t, id).Online })
	})
}

func TestDesiredRepublishedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	r := startCloud(t, dir, nil)
	ec := r.addBox(t, "village-2")
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	// A new embedded broker knows no retained message: the restarted cloud
	// must publish the stored desired state again, with the same key.
	r2 := startCloud(t, dir, nil)
	pub, _ := protocol.ParsePublicKey(ec.TownshipKey)
	fb := connectBox(t, ec, "tcp://"+r2.mqtt, false)
	if d := fb.firstDesired(t, pub); d.Rev != 1 {
		t.Fatalf("rev %d after restart, want the stored rev 1", d.Rev)
	}
	if r2.stdout.Len() != 0 {
		t.Errorf("second start printed %q", r2.stdout)
	}
}

func TestAddBoxAndUserWhileStopped(t *testing.T) {
	t.Setenv(config.EnvAdminPassword, "")
	dir := t.TempDir()
	cfg := testConfig(dir)
	out, err := AddBox(t.Context(), cfg, "village-3", "三村", "", "tls://township.example:8883")
	if err != nil {
		t.Fatal(err)
	}
	ec := parseEdgeConfig(t, out)
	if ec.BoxID != "village-3" || ec.Broker.URL != "tls://township.example:8883" || ec.Broker.Username != "village-3" {
		t.Fatalf("edge config %+v", ec)
	}
	if _, err := AddBox(t.Context(), cfg, "village-3", "again", "", ""); err == nil {
		t.Fatal("a second box with the same id was accepted")
	}
	if _, err := AddBox(t.Context(), cfg, "Village 4", "x", "", ""); err == nil {
		t.Fatal("an invalid id was accepted")
	}
	gen, err := AddUser(t.Context(), cfg, "operator1", "operator", "", "")
	if err != nil || len(gen) < 12 {
		t.Fatalf("user add with a generated password: %q %v", gen, err)
	}
	if gen, err := AddUser(t.Context(), cfg, "viewer1", "viewer", "", "given-password"); err != nil || gen != "" {
		t.Fatalf("user add with a given password: %q %v", gen, err)
	}
	if _, err := AddUser(t.Context(), cfg, "x", "king", "", ""); err == nil {
		t.Fatal("an unknown role was accepted")
	}
	// What the command line did is in the audit trail, and only that.
	st, err := openStore(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := st.ListAudit(t.Context(), store.AuditFilter{Limit: 100})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Actor+": "+r.Action+" "+r.Target+" "+string(r.After))
	}
	want := []string{
		`dalaba-cloud (command line): box add box/village-3 {"id":"village-3","name":"三村"}`,
		`dalaba-cloud (command line): user add user/operator1 {"name":"operator1","role":"operator"}`,
		`dalaba-cloud (command line): user add user/viewer1 {"name":"viewer1","role":"viewer"}`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit trail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The service starts with a user already there: no admin is made,
	// nothing printed; the operator logs in with the generated password.
	r := launch(t, cfg)
	r.login(t, "operator1", gen)
	if r.stdout.Len() != 0 {
		t.Errorf("printed %q although users exist", r.stdout)
	}
	// The box added offline gets its desired state from the running cloud.
	pub, _ := protocol.ParsePublicKey(ec.TownshipKey)
	fb := connectBox(t, ec, "tcp://"+r.mqtt, false)
	if d := fb.firstDesired(t, pub); d.Rev != 1 {
		t.Fatalf("rev %d", d.Rev)
	}
	// While it runs the store is locked, and box add says what to do.
	if _, err := AddBox(t.Context(), cfg, "village-5", "五村", "", ""); !errors.Is(err, ErrRunning) || !strings.Contains(err.Error(), "POST /api/v1/boxes") {
		t.Fatalf("box add while running: %v", err)
	}
}

func TestFirstStartPrintsGeneratedPassword(t *testing.T) {
	t.Setenv(config.EnvAdminPassword, "")
	cfg := testConfig(t.TempDir())
	r := launch(t, cfg)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, listenFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("listen.json left after a clean stop (%v)", err)
	}
	line := r.stdout.String()
	_, pw, ok := strings.Cut(line, "password ")
	pw, _, _ = strings.Cut(pw, " ")
	if !ok || len(pw) < 12 || strings.Count(line, "\n") != 1 {
		t.Fatalf("stdout %q, want one line with the generated password", line)
	}
	r = launch(t, cfg)
	r.login(t, "admin", pw)
	if r.stdout.Len() != 0 {
		t.Errorf("second start printed %q", r.stdout)
	}
}

func TestKeyCreatedOnceAndPrivate(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	k1, err := loadKey(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, keyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	k2, err := loadKey(dir, log)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("second load gave another key (%v)", err)
	}
	if err := os.WriteFile(filepath.Join(dir, keyFile), []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadKey(dir, log); err == nil || !strings.Contains(err.Error(), keyFile) {
		t.Fatalf("a corrupt key loaded: %v", err)
	}
}

func TestStartFailsCleanlyOnTakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := testConfig(t.TempDir())
	cfg.HTTP.Listen = ln.Addr().String()
	t.Setenv(config.EnvAdminPassword, adminPassword)
	c, err := New(cfg, Deps{Logger: testenv.Logger(t, slog.LevelInfo), PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "http listen") {
		t.Fatalf("Run = %v, want the http listen error", err)
	}
	// The store was closed: it opens again at once.
	st, err := openStore(t.Context(), cfg)
	if err != nil {
		t.Fatalf("store still held after the failed start: %v", err)
	}
	st.Close()
}

func TestNewRefusesBadConfig(t *testing.T) {
	cfg := testConfig("")
	cfg.HTTP.Listen = "nope"
	_, err := New(cfg, Deps{Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "data_dir") || !strings.Contains(err.Error(), "http.listen") {
		t.Fatalf("New = %v, want both problems", err)
	}
}

func TestExternalMosquitto(t *testing.T) {
	addr := testenv.PrivateMosquitto(t)
	id := fmt.Sprintf("ext-%d", time.Now().UnixNano())
	r := startCloud(t, t.TempDir(), func(c *config.Config) {
		c.MQTT.Embedded = false
		c.MQTT.URL = "tcp://" + addr
		c.MQTT.ClientID = "dalaba_cloud_test_" + id
	})
	ec := r.addBox(t, id)
	if ec.Broker.URL != "tcp://"+addr {
		t.Fatalf("box told to use %s", ec.Broker.URL)
	}
	pub, _ := protocol.ParsePublicKey(ec.TownshipKey)
	fb := connectBox(t, ec, ec.Broker.URL, true)
	t.Cleanup(func() {
		// Clear what this run left retained on the shared broker.
		for _, k := range []protocol.Kind{protocol.KindDesired, protocol.KindStatus} {
			fb.cl.Publish(protocol.Topic(id, k), 1, true, []byte{}).WaitTimeout(time.Second)
		}
	})
	if d := fb.firstDesired(t, pub); d.Rev != 1 {
		t.Fatalf("rev %d", d.Rev)
	}
	fb.publish(t, protocol.KindStatus, true, marshal(t, protocol.KindStatus, protocol.Status{V: 1, BoxID: id, Online: true}))
	waitFor(t, "online via Mosquitto", func() bool { return r.box(t, id).Online })
	fb.publish(t, protocol.KindEvents, false, batch(t, id, 1, 1, 2))
	waitFor(t, "ack via Mosquitto", func() bool { return fb.lastAck() == 2 })
	fb.publish(t, protocol.KindReported, false, []byte("garbage"))
	waitFor(t, "rejected via Mosquitto", func() bool { return r.box(t, id).RejectedMessages == 1 })
	fb.crash(t)
	waitFor(t, "offline via Mosquitto's will", func() bool { return !r.box(t, id).Online })
}

// TestTownshipsWhileStopped: the command line makes a township and puts
// boxes and users in it; an unknown township is refused, changing nothing.
func TestTownshipsWhileStopped(t *testing.T) {
	t.Setenv(config.EnvAdminPassword, "")
	cfg := testConfig(t.TempDir())
	ctx := t.Context()
	if err := AddTownship(ctx, cfg, "Dongshan", "东山镇"); err == nil {
		t.Error("a township id without t- was accepted")
	}
	if err := AddTownship(ctx, cfg, "t-dongshan", "东山镇"); err != nil {
		t.Fatal(err)
	}
	if _, err := AddBox(ctx, cfg, "village-9", "九村", "t-none", "tls://township.example:8883"); err == nil {
		t.Error("a box of an unknown township was accepted")
	}
	if _, err := AddBox(ctx, cfg, "village-9", "九村", "t-dongshan", "tls://township.example:8883"); err != nil {
		t.Fatal(err)
	}
	if _, err := AddUser(ctx, cfg, "clerk", "operator", "t-none", "given-password"); err == nil {
		t.Error("a user of an unknown township was accepted")
	}
	if _, err := AddUser(ctx, cfg, "clerk", "operator", "t-dongshan", "given-password"); err != nil {
		t.Fatal(err)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if b, err := st.GetBox(ctx, "village-9"); err != nil || b.Township != "t-dongshan" {
		t.Errorf("village-9 = %+v, %v; want of t-dongshan", b, err)
	}
	if u, err := st.GetUser(ctx, "clerk"); err != nil || u.Township != "t-dongshan" {
		t.Errorf("clerk = %+v, %v; want of t-dongshan", u, err)
	}
	if ts, err := st.ListTownships(ctx); err != nil || len(ts) != 1 || ts[0].Name != "东山镇" {
		t.Errorf("townships = %+v, %v", ts, err)
	}
}
