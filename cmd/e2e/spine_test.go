package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/edge/store"
	"github.com/dalaba/dalaba/internal/testenv"
)

// uniqueID makes box ids that cannot collide with another run on the shared
// Mosquitto.
func uniqueID(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand does not fail on Linux
	return prefix + "-" + hex.EncodeToString(b)
}

// mosquittoConfig points the township service at the Mosquitto at addr.
func mosquittoConfig(addr string) string {
	return fmt.Sprintf(`mqtt:
  embedded: false
  url: tcp://%s
  client_id: %s
  public_url: tcp://%s
`, addr, uniqueID("e2e_cloud"), addr)
}

// onlineThenKilled: the box shows online within 5 s of its start, and
// offline after SIGKILL, through the broker's will.
func onlineThenKilled(t *testing.T, c *cloud) {
	id := uniqueID("online")
	cfg := writeEdgeConfig(t, c.addBox(t, id))
	started := time.Now()
	e := startEdge(t, cfg, t.TempDir())
	eventually(t, 5*time.Second-time.Since(started), "box online in GET /api/v1/boxes within 5 s of its start", func() bool {
		return c.box(t, id).Online
	})
	e.kill()
	eventually(t, 10*time.Second, "box offline after SIGKILL", func() bool {
		return !c.box(t, id).Online
	})
}

func TestOnlineOfflineEmbeddedBroker(t *testing.T) {
	onlineThenKilled(t, startCloud(t, cloudOpts{}))
}

func TestOnlineOfflineMosquitto(t *testing.T) {
	onlineThenKilled(t, startCloud(t, cloudOpts{config: mosquittoConfig(testenv.PrivateMosquitto(t))}))
}

// appendLoad posts n events in batches of size from workers goroutines and
// records what the box acknowledged; it stops at the first error.
func appendLoad(e *edge, n, size, workers int, acked *seqSet, typ string) error {
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	next := make(chan int, n/size+1)
	for i := 0; i < n; i += size {
		next <- min(size, n-i)
	}
	close(next)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				evs := make([]localEvent, k)
				for i := range evs {
					evs[i] = localEvent{Type: typ, Priority: 1, Data: []byte(`{"n":1}`)}
				}
				seqs, err := e.appendEvents(evs)
				if err != nil {
					errs <- err
					return
				}
				acked.add(seqs)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// The uplink is down (the township service and its broker are not running)
// while the box accepts 100,000 events; then the service comes up and every
// event arrives exactly once, in seq order.
func Test100kEventsWhileUplinkDown(t *testing.T) {
	cloudDir := t.TempDir()
	mqtt := freePort(t)
	id := uniqueID("outage")
	out, err := exec.Command(bins.cloud, "box", "add", id, "--name", "停电村", "--data-dir", cloudDir, "--broker-url", "tcp://"+mqtt).Output()
	if err != nil {
		t.Fatalf("dalaba-cloud box add: %v", err)
	}
	e := startEdge(t, writeEdgeConfig(t, string(out)), t.TempDir())

	const n = 100_000
	var acked seqSet
	if err := appendLoad(e, n, 1000, 4, &acked, "test.load"); err != nil {
		t.Fatal(err)
	}
	if acked.len() != n {
		t.Fatalf("box acknowledged %d distinct seqs, want %d", acked.len(), n)
	}

	c := startCloud(t, cloudOpts{dataDir: cloudDir, mqtt: mqtt})
	began := time.Now()
	var maxSeq uint64
	for q := range acked.m {
		maxSeq = max(maxSeq, q)
	}
	eventually(t, 60*time.Second, "all 100,000 events stored at the township", func() bool {
		return c.box(t, id).Watermark >= maxSeq
	})
	t.Logf("drained %d events in %s after the uplink came back", n, time.Since(began).Round(time.Millisecond))
	stored := c.events(t, id)
	checkAllOnce(t, stored, &acked)
	load := 0
	for _, ev := range stored {
		if ev.Type == "test.load" {
			load++
		}
	}
	if load != n {
		t.Fatalf("%d test.load events stored, want exactly %d", load, n)
	}
}

// The box is killed with SIGKILL again and again while it appends and
// uploads: every event it acknowledged reaches the township, and its bbolt
// file opens cleanly every time.
func TestSIGKILLWhileAppendingAndUploading(t *testing.T) {
	c := startCloud(t, cloudOpts{})
	id := uniqueID("crash")
	cfg := writeEdgeConfig(t, c.addBox(t, id))
	dataDir := t.TempDir()
	var acked seqSet
	const rounds = 8
	for round := 0; round < rounds; round++ {
		e := startEdge(t, cfg, dataDir)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 3; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					seqs, err := e.appendEvents(make20("test.crash"))
					if err != nil {
						return // the box died under us: expected
					}
					acked.add(seqs)
				}
			}()
		}
		wait, _ := rand.Int(rand.Reader, big.NewInt(600))
		time.Sleep(150*time.Millisecond + time.Duration(wait.Int64())*time.Millisecond)
		e.kill()
		close(stop)
		wg.Wait()

		st, err := store.Open(filepath.Join(dataDir, "edge.db"), store.Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("round %d: bbolt file does not open after SIGKILL: %v", round, err)
		}
		if err := st.Check(); err != nil {
			t.Fatalf("round %d: bbolt check after SIGKILL: %v", round, err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if acked.len() == 0 {
		t.Fatal("the box acknowledged no events at all")
	}
	startEdge(t, cfg, dataDir)
	var maxSeq uint64
	for q := range acked.m {
		maxSeq = max(maxSeq, q)
	}
	eventually(t, 60*time.Second, "every acknowledged event at the township", func() bool {
		return c.box(t, id).Watermark >= maxSeq
	})
	checkAllOnce(t, c.events(t, id), &acked)
	t.Logf("%d rounds, %d events acknowledged by the box, all stored", rounds, acked.len())
}

func make20(typ string) []localEvent {
	evs := make([]localEvent, 20)
	for i := range evs {
		evs[i] = localEvent{Type: typ, Priority: 2, Data: []byte(`{"k":"v"}`)}
	}
	return evs
}

func TestVersionFlags(t *testing.T) {
	for _, bin := range []string{bins.cloud, bins.edge} {
		out, err := exec.Command(bin, "--version").CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) == 0 {
			t.Errorf("%s --version: %v %q", filepath.Base(bin), err, out)
		}
	}
}

// A config with a mistake is refused at start, naming every problem.
func TestEdgeRefusesBadConfig(t *testing.T) {
	cfg := writeEdgeConfig(t, "box_id: Bad/Id\nbroker:\n  url: ftp://x\nunknown_key: 1\n")
	out, err := exec.Command(bins.edge, "--config", cfg, "--data-dir", t.TempDir()).CombinedOutput()
	if err == nil {
		t.Fatalf("dalaba-edge started with a bad config:\n%s", out)
	}
	if !strings.Contains(string(out), "unknown_key") {
		t.Errorf("error does not name the unknown key:\n%s", out)
	}
}
