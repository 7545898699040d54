package cloud

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"gopkg.in/yaml.v3"

	"github.com/dalaba/dalaba/cloud/config"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// running is a Cloud started in-process on loopback port 0.
type running struct {
	dir, http, mqtt, token string
	stop                   func()
}

func startCloud(t *testing.T, dir string, edit func(*config.Config)) *running {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.MQTT.Listen = "127.0.0.1:0"
	if edit != nil {
		edit(&cfg)
	}
	t.Setenv("DALABA_ADMIN_PASSWORD", "test-password")
	c, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, listenFile))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	r := &running{dir: dir}
	r.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("cloud stopped with %v", err)
		}
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			r.stop()
		}
	})
	waitFor(t, 10*time.Second, "listen.json", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, listenFile))
		if err != nil {
			return false
		}
		var l struct{ HTTP, MQTT string }
		if json.Unmarshal(b, &l) != nil {
			return false
		}
		r.http, r.mqtt = l.HTTP, l.MQTT
		return true
	})
	var login struct{ Token string }
	r.api(t, "POST", "/api/v1/login", `{"username":"admin","password":"test-password"}`, &login, 200)
	r.token = login.Token
	return r
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *running) api(t *testing.T, method, path, body string, out any, want int) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+r.http+path, strings.NewReader(body))
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
	Online           bool   `json:"online"`
	AppliedRev       uint64 `json:"applied_rev"`
	DesiredRev       uint64 `json:"desired_rev"`
	Watermark        uint64 `json:"watermark"`
	RejectedMessages uint64 `json:"rejected_messages"`
}

func (r *running) box(t *testing.T, id string) boxView {
	var b boxView
	r.api(t, "GET", "/api/v1/boxes/"+id, "", &b, 200)
	return b
}

// edgeConfig is the part of the printed edge config the test needs.
type edgeConfig struct {
	BoxID       string `yaml:"box_id"`
	TownshipKey string `yaml:"township_key"`
	Broker      struct {
		URL, Username, Password string
	} `yaml:"broker"`
}

func (r *running) addBox(t *testing.T, id string) edgeConfig {
	var out struct {
		EdgeConfig string `json:"edge_config"`
	}
	r.api(t, "POST", "/api/v1/boxes", fmt.Sprintf(`{"id":%q,"name":"测试村"}`, id), &out, 201)
	var ec edgeConfig
	if err := yaml.Unmarshal([]byte(out.EdgeConfig), &ec); err != nil {
		t.Fatal(err)
	}
	return ec
}

// fakeBox is a paho client with a box's credentials, playing the box.
type fakeBox struct {
	cl      mqtt.Client
	mu      sync.Mutex
	desired [][]byte
	acks    []protocol.EventsAck
	cmds    [][]byte
}

func connectBox(t *testing.T, ec edgeConfig, brokerURL string, will bool) *fakeBox {
	t.Helper()
	fb := &fakeBox{}
	o := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(ec.BoxID).SetCleanSession(false).
		SetUsername(ec.Broker.Username).SetPassword(ec.Broker.Password).SetAutoReconnect(false)
	if will {
		w, _ := json.Marshal(protocol.Status{V: 1, BoxID: ec.BoxID, Online: false})
		o.SetBinaryWill(protocol.Topic(ec.BoxID, protocol.KindStatus), w, 1, true)
	}
	fb.cl = mqtt.NewClient(o)
	if tok := fb.cl.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("box connect: %v", tok.Error())
	}
	sub := func(k protocol.Kind, f func([]byte)) {
		tok := fb.cl.Subscribe(protocol.Topic(ec.BoxID, k), 1, func(_ mqtt.Client, m mqtt.Message) { f(m.Payload()) })
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
	}
	sub(protocol.KindDesired, func(p []byte) { fb.mu.Lock(); fb.desired = append(fb.desired, p); fb.mu.Unlock() })
	sub(protocol.KindCmd, func(p []byte) { fb.mu.Lock(); fb.cmds = append(fb.cmds, p); fb.mu.Unlock() })
	sub(protocol.KindEventsAck, func(p []byte) {
		a, err := protocol.DecodeEventsAck(ec.BoxID, p)
		if err == nil {
			fb.mu.Lock()
			fb.acks = append(fb.acks, a)
			fb.mu.Unlock()
		}
	})
	return fb
}

func (fb *fakeBox) publish(t *testing.T, topic string, retained bool, payload []byte) {
	t.Helper()
	if tok := fb.cl.Publish(topic, 1, retained, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
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

func marshal(t *testing.T, k protocol.Kind, v any) []byte {
	b, err := protocol.Marshal(k, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBoxLifecycleOverEmbeddedBroker(t *testing.T) {
	r := startCloud(t, t.TempDir(), nil)
	ec := r.addBox(t, "village-1")
	if ec.Broker.URL != "tcp://"+r.mqtt || ec.Broker.Username != "village-1" || ec.Broker.Password == "" {
		t.Fatalf("edge config broker section: %+v (mqtt %s)", ec.Broker, r.mqtt)
	}
	pub, err := protocol.ParsePublicKey(ec.TownshipKey)
	if err != nil {
		t.Fatal(err)
	}
	fb := connectBox(t, ec, ec.Broker.URL, true)

	// The retained, signed desired state arrives and verifies.
	waitFor(t, 5*time.Second, "retained desired state", func() bool { fb.mu.Lock(); defer fb.mu.Unlock(); return len(fb.desired) > 0 })
	fb.mu.Lock()
	d, err := protocol.OpenDesired(pub, "village-1", fb.desired[0], time.Now())
	fb.mu.Unlock()
	if err != nil || d.Rev != 1 {
		t.Fatalf("desired: %+v %v", d, err)
	}

	// Presence and reported state.
	fb.publish(t, protocol.Topic("village-1", protocol.KindStatus), true, marshal(t, protocol.KindStatus, protocol.Status{V: 1, BoxID: "village-1", Online: true}))
	fb.publish(t, protocol.Topic("village-1", protocol.KindReported), true, marshal(t, protocol.KindReported, protocol.Reported{V: 1, BoxID: "village-1", AppliedRev: 1, At: time.Now()}))
	waitFor(t, 5*time.Second, "online with rev 1 applied", func() bool { b := r.box(t, "village-1"); return b.Online && b.AppliedRev == 1 })

	// Events: stored, acknowledged after the commit, paged by the API;
	// the same batch again is stored once.
	var evs []protocol.Event
	for i := uint64(1); i <= 5; i++ {
		evs = append(evs, protocol.Event{Seq: i, Time: time.Now(), Type: "test.event", Priority: protocol.PriorityInfo})
	}
	batch := marshal(t, protocol.KindEvents, protocol.EventBatch{V: 1, BoxID: "village-1", Floor: 1, Events: evs})
	fb.publish(t, protocol.Topic("village-1", protocol.KindEvents), false, batch)
	fb.publish(t, protocol.Topic("village-1", protocol.KindEvents), false, batch)
	waitFor(t, 5*time.Second, "ack of seq 5", func() bool { return fb.lastAck() == 5 })
	var page struct {
		Events []struct{ Seq uint64 } `json:"events"`
	}
	r.api(t, "GET", "/api/v1/boxes/village-1/events?after=0&limit=100", "", &page, 200)
	if len(page.Events) != 5 {
		t.Fatalf("%d events stored, want 5 (a re-sent batch stored once)", len(page.Events))
	}

	// Garbage on every box→cloud topic is counted, and the cloud goes on.
	for _, k := range []protocol.Kind{protocol.KindStatus, protocol.KindReported, protocol.KindEvents, protocol.KindCmdResult} {
		fb.publish(t, protocol.Topic("village-1", k), false, []byte(`{"v":1,`))
	}
	waitFor(t, 5*time.Second, "4 rejected messages counted", func() bool { return r.box(t, "village-1").RejectedMessages == 4 })

	// A signed command reaches the box; its result reaches the API caller.
	go func() {
		waitFor(t, 5*time.Second, "command at the box", func() bool { fb.mu.Lock(); defer fb.mu.Unlock(); return len(fb.cmds) > 0 })
		fb.mu.Lock()
		c, err := protocol.OpenCommand(pub, "village-1", fb.cmds[0], time.Now())
		fb.mu.Unlock()
		if err != nil {
			t.Errorf("command: %v", err)
			return
		}
		fb.publish(t, protocol.Topic("village-1", protocol.KindCmdResult), false,
			marshal(t, protocol.KindCmdResult, protocol.CommandResult{V: 1, ID: c.ID, BoxID: "village-1", OK: true, Data: json.RawMessage(`{"pong":true}`)}))
	}()
	var res protocol.CommandResult
	r.api(t, "POST", "/api/v1/boxes/village-1/commands", `{"type":"ping"}`, &res, 200)
	if !res.OK || !bytes.Contains(res.Data, []byte("pong")) {
		t.Fatalf("command result %+v", res)
	}

	// The box's connection dies without a DISCONNECT: the will marks it
	// offline.
	killConnection(t, fb)
	waitFor(t, 5*time.Second, "offline after the will", func() bool { return !r.box(t, "village-1").Online })
}

// killConnection ends the box's connection without a DISCONNECT, as a
// crash would: a second connection with the box's credentials and client id
// takes the session over, the broker drops the first connection, and its
// will is published.
func killConnection(t *testing.T, fb *fakeBox) {
	t.Helper()
	r := fb.cl.OptionsReader()
	opts := mqtt.NewClientOptions().AddBroker(r.Servers()[0].String()).SetClientID(r.ClientID()).
		SetCleanSession(true).SetUsername(r.Username()).SetPassword(r.Password()).SetAutoReconnect(false)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("takeover connect: %v", tok.Error())
	}
	c.Disconnect(100)
}

func TestDesiredRepublishedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	r := startCloud(t, dir, nil)
	ec := r.addBox(t, "village-2")
	r.stop()

	// A new broker on a new port knows no retained message: the restarted
	// cloud must publish the stored desired state again.
	r2 := startCloud(t, dir, nil)
	fb := connectBox(t, ec, "tcp://"+r2.mqtt, false)
	waitFor(t, 5*time.Second, "desired after restart", func() bool { fb.mu.Lock(); defer fb.mu.Unlock(); return len(fb.desired) > 0 })
	pub, _ := protocol.ParsePublicKey(ec.TownshipKey)
	fb.mu.Lock()
	_, err := protocol.OpenDesired(pub, "village-2", fb.desired[0], time.Now())
	fb.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := loadKey(dir); !k.Public().(ed25519.PublicKey).Equal(pub) {
		t.Fatal("the township key changed across a restart")
	}
}

func TestExternalMosquitto(t *testing.T) {
	addr := testenv.Mosquitto(t)
	id := fmt.Sprintf("ext-%d", time.Now().UnixNano()%1e9)
	r := startCloud(t, t.TempDir(), func(c *config.Config) {
		c.MQTT.Embedded = false
		c.MQTT.URL = "tcp://" + addr
		c.MQTT.ClientID = "dalaba_cloud_test_" + id
	})
	ec := r.addBox(t, id)
	if ec.Broker.URL != "tcp://"+addr {
		t.Fatalf("box told to use %s", ec.Broker.URL)
	}
	fb := connectBox(t, ec, ec.Broker.URL, false)
	waitFor(t, 5*time.Second, "desired via Mosquitto", func() bool { fb.mu.Lock(); defer fb.mu.Unlock(); return len(fb.desired) > 0 })
	fb.publish(t, protocol.Topic(id, protocol.KindEvents), false, marshal(t, protocol.KindEvents, protocol.EventBatch{V: 1, BoxID: id, Floor: 1,
		Events: []protocol.Event{{Seq: 1, Time: time.Now(), Type: "x", Priority: 1}}}))
	waitFor(t, 5*time.Second, "ack via Mosquitto", func() bool { return fb.lastAck() == 1 })
	// Clear the retained desired state this run left on the shared broker.
	fb.cl.Publish(protocol.Topic(id, protocol.KindDesired), 1, true, []byte{}).WaitTimeout(time.Second)
	fb.cl.Disconnect(100)
}
