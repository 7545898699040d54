package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dalaba/dalaba/protocol"
)

// lifeEvents are n critical events of one of the box's lives, each naming
// its life and number, so the township's copy shows what is missing and
// what is there twice.
func lifeEvents(life string, n int) []localEvent {
	evs := make([]localEvent, n)
	for i := range evs {
		evs[i] = localEvent{Type: "test.critical", Priority: int(protocol.PriorityCritical), Data: fmt.Appendf(nil, `{"life":%q,"n":%d}`, life, i)}
	}
	return evs
}

func record(t *testing.T, e *edge, life string, n int) {
	t.Helper()
	if _, err := e.appendEvents(lifeEvents(life, n)); err != nil {
		t.Fatalf("recording %s: %v", life, err)
	}
}

// lives counts the box's test.critical events at the township by life and
// number; the box.reset events go to resets.
func lives(t *testing.T, c *cloud, box string) (counts map[string]int, resets []protocol.Reset) {
	t.Helper()
	counts = map[string]int{}
	for _, ev := range c.events(t, box) {
		switch ev.Type {
		case "test.critical":
			var d struct {
				Life string
				N    int
			}
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				t.Fatalf("event data %s: %v", ev.Data, err)
			}
			counts[fmt.Sprintf("%s/%d", d.Life, d.N)]++
		case protocol.EventBoxReset:
			var r protocol.Reset
			if err := json.Unmarshal(ev.Data, &r); err != nil {
				t.Fatalf("box.reset data %s: %v", ev.Data, err)
			}
			resets = append(resets, r)
		}
	}
	return counts, resets
}

// waitLives waits until each life's n events are at the township, then
// checks that every one is there exactly once.
func waitLives(t *testing.T, c *cloud, box string, n int, names ...string) []protocol.Reset {
	t.Helper()
	var counts map[string]int
	var resets []protocol.Reset
	eventually(t, 60*time.Second, fmt.Sprintf("%d events of each of %v at the township", n, names), func() bool {
		counts, resets = lives(t, c, box)
		for _, life := range names {
			for i := range n {
				if counts[fmt.Sprintf("%s/%d", life, i)] == 0 {
					return false
				}
			}
		}
		return true
	})
	if len(counts) != n*len(names) {
		t.Fatalf("events of lives %v at the township: %v", names, counts)
	}
	for k, v := range counts {
		if v != 1 {
			t.Fatalf("event %s stored %d times", k, v)
		}
	}
	return resets
}

// A box re-flashed or given a new SD card comes back with its id and an
// empty data directory, so its seqs start at 1 again: nothing it records
// is taken for a duplicate, nothing is lost (20 critical events of each
// life), and the reset is an event.
func TestBoxBackEmptyLosesNothing(t *testing.T) {
	c := startCloud(t, cloudOpts{})
	id := uniqueID("reflash")
	cfg := writeEdgeConfig(t, c.addBox(t, id))
	dataDir := t.TempDir()
	e := startEdge(t, cfg, dataDir)
	record(t, e, "first", 20)
	waitLives(t, c, id, 20, "first")

	// A restart on the same data directory (as after an update's slot
	// switch) is the same life: its seqs go on, and nothing is reset.
	e.stop()
	e = startEdge(t, cfg, dataDir)
	record(t, e, "updated", 20)
	if resets := waitLives(t, c, id, 20, "first", "updated"); len(resets) != 0 {
		t.Fatalf("a restart on the same data directory reset the box: %+v", resets)
	}
	before := c.box(t, id)

	e.kill()
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		t.Fatal(err)
	}
	e = startEdge(t, cfg, dataDir)
	record(t, e, "second", 20)
	resets := waitLives(t, c, id, 20, "first", "updated", "second")
	if len(resets) != 1 {
		t.Fatalf("%d box.reset events, want 1: %+v", len(resets), resets)
	}
	r := resets[0]
	if r.Reason != protocol.ResetNewEpoch || r.OldEpoch == "" || r.NewEpoch == "" || r.OldEpoch == r.NewEpoch ||
		r.Incarnation != 2 || r.OldWatermark < before.Watermark || r.Floor != 1 {
		t.Fatalf("box.reset %+v, want a new epoch after watermark %d", r, before.Watermark)
	}
	if b := c.box(t, id); b.Incarnation != 2 {
		t.Fatalf("box %+v, want incarnation 2", b)
	}
}

// A box's data directory is restored from a backup taken while events
// were waiting for the township: the copy has the old epoch and seqs the
// township already holds other events under. The events the copy shares
// with the township are stored once, the ones recorded after the restore
// are all stored, and the reset is an event.
func TestBoxRestoredFromBackupLosesNothing(t *testing.T) {
	dir, mqttAddr := t.TempDir(), freePort(t)
	c := startCloud(t, cloudOpts{dataDir: dir, mqtt: mqttAddr})
	id := uniqueID("restore")
	cfg := writeEdgeConfig(t, c.addBox(t, id))
	dataDir := t.TempDir()
	e := startEdge(t, cfg, dataDir)
	eventually(t, 10*time.Second, "box online", func() bool { return c.box(t, id).Online })

	// The township is away: these wait in the box's outbox when the
	// backup is taken (of a stopped box: its file is then consistent).
	c.stop()
	record(t, e, "before", 10)
	e.kill()
	backup := filepath.Join(t.TempDir(), "edge.db")
	copyFile(t, filepath.Join(dataDir, "edge.db"), backup)

	e = startEdge(t, cfg, dataDir)
	c = startCloud(t, cloudOpts{dataDir: dir, mqtt: mqttAddr})
	waitLives(t, c, id, 10, "before")
	record(t, e, "after", 10)
	waitLives(t, c, id, 10, "before", "after")

	e.kill()
	copyFile(t, backup, filepath.Join(dataDir, "edge.db"))
	e = startEdge(t, cfg, dataDir)
	record(t, e, "restored", 10)
	resets := waitLives(t, c, id, 10, "before", "after", "restored")
	if len(resets) != 1 || resets[0].Reason != protocol.ResetDiverged || resets[0].Incarnation != 2 || resets[0].OldEpoch == resets[0].NewEpoch {
		t.Fatalf("box.reset events %+v, want one for the diverged epoch", resets)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
