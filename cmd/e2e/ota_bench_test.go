package e2e

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/dalaba/dalaba/edge/config"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// simBox is a box in the test process that takes updates as dalaba-edge
// does on the wire: it verifies the command and the manifest, downloads
// the binary with its credentials and checks its sha256, answers, and
// reports the new version committed. It does not restart.
type simBox struct {
	b       testing.TB
	id      string
	cfg     config.Config
	key     ed25519.PublicKey
	arch    string
	c       mqtt.Client
	version atomic.Pointer[string]

	downloaded atomic.Int64 // body bytes of release downloads
	mqttIn     atomic.Int64 // payload bytes of commands
	mqttOut    atomic.Int64 // payload bytes the box published
}

func newSimBox(b testing.TB, c *cloud, id string) *simBox {
	b.Helper()
	cfg, err := config.Load(writeEdgeConfig(b, c.addBox(b, id)))
	if err != nil {
		b.Fatal(err)
	}
	s := &simBox{b: b, id: id, cfg: cfg, key: cfg.PublicKey(), arch: arch(b)}
	v := oldVersion
	s.version.Store(&v)
	opts := mqtt.NewClientOptions().AddBroker(cfg.Broker.URL).SetClientID(id).SetUsername(cfg.Broker.Username).SetPassword(cfg.Broker.Password).
		SetAutoReconnect(true).SetConnectTimeout(10 * time.Second)
	opts.SetOnConnectHandler(func(cl mqtt.Client) {
		cl.Subscribe(protocol.Topic(id, protocol.KindCmd), 1, s.command)
		s.report()
	})
	s.c = mqtt.NewClient(opts)
	if tok := s.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("sim box %s: connect: %v", id, tok.Error())
	}
	b.Cleanup(func() { s.c.Disconnect(100) })
	return s
}

func (s *simBox) publish(k protocol.Kind, v any) {
	p, err := protocol.Marshal(k, v)
	if err != nil {
		s.b.Error(err)
		return
	}
	s.mqttOut.Add(int64(len(p)))
	s.c.Publish(protocol.Topic(s.id, k), 1, k.Retained(), p)
}

func (s *simBox) report() {
	v := *s.version.Load()
	s.publish(protocol.KindReported, protocol.Reported{V: protocol.Version, BoxID: s.id, At: time.Now(), Version: v,
		Update: &protocol.UpdateStatus{Slot: "a", Arch: s.arch, Phase: protocol.UpdateCommitted, Version: v}})
}

func (s *simBox) command(_ mqtt.Client, m mqtt.Message) {
	s.mqttIn.Add(int64(len(m.Payload())))
	payload := m.Payload()
	go func() {
		c, err := protocol.OpenCommand(s.key, s.id, payload, time.Now())
		if err != nil || c.Type != protocol.CmdUpdateInstall {
			return
		}
		res := protocol.CommandResult{V: protocol.Version, ID: c.ID, BoxID: s.id}
		if v, err := s.install(c); err != nil {
			res.Code, res.Error = protocol.CodeFailed, err.Error()
		} else {
			res.OK = true
			res.Data, _ = json.Marshal(protocol.UpdateStaged{Version: v, Slot: "b"})
			s.version.Store(&v)
		}
		s.publish(protocol.KindCmdResult, res)
		s.report()
	}()
}

func (s *simBox) install(c protocol.Command) (string, error) {
	var a protocol.UpdateArgs
	if err := protocol.DecodeArgs(c.Args, &a); err != nil {
		return "", err
	}
	m, err := protocol.OpenManifest(s.key, a.Manifest)
	if err != nil {
		return "", err
	}
	req, _ := http.NewRequest("GET", a.URL, nil)
	req.SetBasicAuth(s.cfg.Broker.Username, s.cfg.Broker.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	s.downloaded.Add(n)
	if err != nil {
		return "", err
	}
	if n != m.Size || hex.EncodeToString(h.Sum(nil)) != m.SHA256 {
		return "", fmt.Errorf("digest")
	}
	return m.Version, nil
}

// BenchmarkRollout100Boxes: a rollout of a real dalaba-edge build
// (DefaultWaves 10 → 50 → 100) from its start until 100 simulated boxes
// on loopback report the new version, and what each box received. make
// test runs it with 10 boxes.
func BenchmarkRollout100Boxes(b *testing.B) {
	buildOTA(b)
	n := testenv.BenchSize(100, 10)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := startCloud(b, cloudOpts{})
		boxes := make([]*simBox, n)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for j := range boxes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sb := newSimBox(b, c, fmt.Sprintf("sim-%03d", j))
				mu.Lock()
				boxes[j] = sb
				mu.Unlock()
			}()
		}
		wg.Wait()
		c.uploadRelease(b, newVersion, otaBins.new)
		time.Sleep(time.Second) // every box's first report is in
		b.StartTimer()
		began := time.Now()
		ro := c.startRollout(b, map[string]any{"version": newVersion})
		eventually(b, 5*time.Minute, "the rollout is done", func() bool { return c.rollout(b, ro.ID).State == "done" })
		took := time.Since(began)
		b.StopTimer()
		var dl, in, out int64
		for _, sb := range boxes {
			if *sb.version.Load() != newVersion {
				b.Fatalf("%s runs %s", sb.id, *sb.version.Load())
			}
			dl += sb.downloaded.Load()
			in += sb.mqttIn.Load()
			out += sb.mqttOut.Load()
		}
		b.ReportMetric(took.Seconds(), fmt.Sprintf("s/rollout-%d", n))
		b.ReportMetric(float64(dl)/float64(n), "download-B/box")
		b.ReportMetric(float64(in)/float64(n), "mqtt-in-B/box")
		b.ReportMetric(float64(out)/float64(n), "mqtt-out-B/box")
		c.stop()
	}
}

// BenchmarkUpdateSilence: a real box under the test's supervisor takes an
// update; the time from the township's install answer (the box stops
// right after it) until the new version is connected again: how long the
// village's box is silent during its restart.
func BenchmarkUpdateSilence(b *testing.B) {
	buildOTA(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := startCloud(b, cloudOpts{})
		id := uniqueID("silence")
		_, dd := otaBox(b, c, id)
		c.uploadRelease(b, newVersion, otaBins.new)
		var rels []struct {
			Binaries []struct {
				SHA256   string          `json:"sha256"`
				Manifest json.RawMessage `json:"manifest"`
			} `json:"binaries"`
		}
		c.do(b, "GET", "/api/v1/releases", nil, &rels, http.StatusOK)
		bin := rels[0].Binaries[0]
		args := protocol.UpdateArgs{Manifest: bin.Manifest, URL: "http://" + c.HTTP + "/releases/" + bin.SHA256}
		var res protocol.CommandResult
		c.do(b, "POST", "/api/v1/boxes/"+id+"/commands", map[string]any{"type": protocol.CmdUpdateInstall, "args": args}, &res, http.StatusOK)
		if !res.OK {
			b.Fatalf("install: %+v", res)
		}
		b.StartTimer()
		answered := time.Now()
		for {
			v, ok, err := boxStatus(dd)
			if err == nil && ok && v == newVersion {
				break
			}
			if time.Since(answered) > time.Minute {
				b.Fatal("the new version did not connect within a minute")
			}
			time.Sleep(5 * time.Millisecond)
		}
		b.ReportMetric(time.Since(answered).Seconds(), "s-silent")
		b.StopTimer()
	}
}
