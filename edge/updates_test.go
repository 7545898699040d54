package edge

import (
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/edge/slot"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// An update downloads on the slow lane: an emergency still reaches the
// horn within the bound while a box is stuck in a download, and the
// update, expired where it waited, replaced nothing.
func TestAnEmergencyCutsInDuringAnUpdate(t *testing.T) {
	brokerURL := embeddedBroker(t)
	const id = "ota-lane-box"
	tw := newTownship(t, brokerURL, id)
	v := newLaneVillage(t, 0)
	cfg := testConfig(t, brokerURL, id, tw.key.Public().(ed25519.PublicKey))
	cfg.Media.URL = v.media.url
	slots := slot.Dir{Path: cfg.Slots()}
	old := filepath.Join(t.TempDir(), "old")
	if err := os.WriteFile(old, []byte("the running software"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(slots.Path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := slots.Seed(old, "test-1"); err != nil {
		t.Fatal(err)
	}
	// The township's release store on a village link that stalls after
	// the first bytes.
	asked := make(chan struct{}, 1)
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10485760")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(strings.Repeat("x", 4096)))
		w.(http.Flusher).Flush()
		asked <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(stall.Close)

	b := startBox(t, cfg)
	tw.publish(protocol.KindDesired, signedDesired(t, tw.key, id, 1, v.spec), true)
	t.Cleanup(func() {
		tw.cl.Publish(protocol.Topic(id, protocol.KindDesired), 1, true, []byte{}).WaitTimeout(5 * time.Second)
	})
	testenv.WaitFor(t, 10*time.Second, "the playout has the zone", func() bool { return b.e.po.CheckZones([]string{"square"}) == nil })
	emergency := protocol.PlayArgs{Media: []string{v.clips["siren"]}, Priority: protocol.PlayEmergency, NoChime: true}
	tw.publish(protocol.KindCmd, signed(t, tw.key, id, "siren-0", protocol.CmdPlay, emergency, time.Minute), false)
	if r := tw.waitResult("siren-0"); !r.OK {
		t.Fatalf("the first siren: %+v", r)
	}
	lastPacket(t, v.horn, time.Now())

	manifest, err := protocol.SignManifest(tw.key, protocol.Manifest{Version: "9.9.9", Arch: protocol.GoArch(runtime.GOARCH),
		SHA256: strings.Repeat("ab", 32), Size: 10 << 20, IssuedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	tw.publish(protocol.KindCmd, signed(t, tw.key, id, "update", protocol.CmdUpdateInstall,
		protocol.UpdateArgs{Manifest: manifest, URL: stall.URL + "/releases/x"}, 4*time.Second), false)
	select {
	case <-asked:
	case <-time.After(10 * time.Second):
		t.Fatal("the download never began")
	}

	before := v.horn.Stats().Packets
	sent := time.Now()
	tw.publish(protocol.KindCmd, signed(t, tw.key, id, "siren-1", protocol.CmdPlay, emergency, time.Minute), false)
	if took := firstPacketAfter(t, v.horn, before).Sub(sent); took > mustHold {
		t.Errorf("the emergency took %s to reach the horn during an update, bound %s", took, mustHold)
	} else {
		t.Logf("the emergency reached the horn %s after it was sent, an update downloading", took)
	}
	if r, done := tw.result("update"); done {
		t.Errorf("the update was no longer downloading when the emergency sounded: %+v", r)
	}
	if r := tw.waitResult("update"); r.OK || r.Code != protocol.CodeExpired {
		t.Errorf("the stalled update: %+v, want expired", r)
	}
	s, err := slots.Load()
	if err != nil || s.Active != slot.A || s.Trial || s.Versions[slot.B] != "" {
		t.Fatalf("the slots after a stalled update: %+v, %v", s, err)
	}
}
