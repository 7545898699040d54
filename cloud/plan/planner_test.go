package plan

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/protocol"
)

// sent keeps what the fleet would publish to the boxes.
type sent struct {
	mu       sync.Mutex
	payloads [][]byte
}

func (s *sent) PublishDesired(_ context.Context, _ string, payload []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.payloads = append(s.payloads, payload)
	return nil
}

// lastSpec is the spec of the last desired state published, as a box
// decodes it.
func (s *sent) lastSpec(t *testing.T, pub ed25519.PublicKey) protocol.Spec {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.payloads) == 0 {
		t.Fatal("nothing published")
	}
	d, err := protocol.OpenDesired(pub, "village-1", s.payloads[len(s.payloads)-1], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	spec, err := protocol.DecodeSpec(d.Spec)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// township is a real store with one box, village-1, the township key, and
// what its fleets publish; newFleet makes a fleet over them (one per
// replica).
type township struct {
	st       *boltstore.Store
	key      ed25519.PrivateKey
	pub      *sent
	newFleet func() *fleet.Fleet
}

func newTownship(t *testing.T) township {
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
	tw := township{st: st, key: key, pub: &sent{}}
	tw.newFleet = func() *fleet.Fleet {
		fl, err := fleet.New(fleet.Config{Validity: 720 * time.Hour, BrokerURL: "tls://township.example:8883", CloudUser: "dalaba_cloud"},
			fleet.Deps{Logger: slog.New(slog.DiscardHandler), Store: st, Key: key, Publisher: tw.pub})
		if err != nil {
			t.Fatal(err)
		}
		return fl
	}
	if _, _, err := tw.newFleet().AddBox(t.Context(), "village-1", "一村"); err != nil {
		t.Fatal(err)
	}
	return tw
}

// planner is a Planner over a real store and fleet, with one box.
func planner(t *testing.T, allowLocal bool) (*Planner, *sent, ed25519.PublicKey) {
	t.Helper()
	tw := newTownship(t)
	st, pub, key, log := tw.st, tw.pub, tw.key, slog.New(slog.DiscardHandler)
	p, err := New(Deps{Logger: log, Store: st, Fleet: tw.newFleet(), AllowLocalCameraTargets: allowLocal})
	if err != nil {
		t.Fatal(err)
	}
	return p, pub, key.Public().(ed25519.PublicKey)
}

func setCamera(p *Planner, url string, clientAllows bool) error {
	_, _, err := p.UpdateCameras(context.Background(), "village-1", "李干事", func(c *protocol.Cameras) error {
		c.Cameras = []protocol.Camera{{ID: "gate", URL: url}}
		c.AllowLocalTargets = clientAllows
		return nil
	})
	return err
}

func TestACameraOnTheBoxItselfIsRefusedWhenSaved(t *testing.T) {
	p, pub, _ := planner(t, false)
	before := len(pub.payloads)
	for _, url := range []string{"rtsp://127.0.0.1:22/", "rtsp://localhost:8554/x", "rtsp://169.254.169.254/latest/meta-data", "rtsp://[fe80::1]/x"} {
		// Even when the client claims the township allows it.
		err := setCamera(p, url, true)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "cameras.cameras[0] (gate).url") || !strings.Contains(err.Error(), "allow_local_targets") {
			t.Errorf("camera at %s: %v, want ErrInvalid naming the camera's url and the setting", url, err)
		}
	}
	if len(pub.payloads) != before {
		t.Fatalf("a refused camera was published to the box")
	}
	if pl, err := p.Get(t.Context(), "village-1"); err != nil || len(pl.Cameras.Cameras) != 0 {
		t.Fatalf("a refused camera was saved: %+v %v", pl.Cameras, err)
	}
	if err := setCamera(p, "rtsp://192.168.1.64:554/live", true); err != nil {
		t.Fatalf("a camera on the LAN: %v", err)
	}
}

func TestTheTownshipsAllowanceTravelsToTheBox(t *testing.T) {
	p, pub, key := planner(t, true)
	if err := setCamera(p, "rtsp://127.0.0.1:8554/cam1", false); err != nil {
		t.Fatalf("a simulated camera on the box, allowed: %v", err)
	}
	if s := pub.lastSpec(t, key); s.Cameras == nil || !s.Cameras.AllowLocalTargets || s.Cameras.Cameras[0].URL != "rtsp://127.0.0.1:8554/cam1" {
		t.Fatalf("the box got cameras %+v", s.Cameras)
	}
	if pl, err := p.Get(t.Context(), "village-1"); err != nil || !pl.Cameras.AllowLocalTargets {
		t.Fatalf("saved plan's cameras %+v, %v", pl.Cameras, err)
	}
}

// interleaved is a replica's fleet whose first signature waits until
// another replica has saved and signed its own change of the same plan.
type interleaved struct {
	*fleet.Fleet
	before func()
	once   sync.Once
}

func (f *interleaved) SetSpec(ctx context.Context, id string, spec json.RawMessage) (uint64, error) {
	f.once.Do(f.before)
	return f.Fleet.SetSpec(ctx, id, spec)
}

// Two replicas change one village's plan at once: replica a saves its
// change, replica b saves its own on top and signs it, and only then does
// a sign. The box must end with the plan as stored (both changes), not
// with a's earlier one under the later rev.
func TestReplicasChangingOnePlanLeaveTheBoxTheStoredPlan(t *testing.T) {
	tw := newTownship(t)
	st, key, pub, log := tw.st, tw.key, tw.pub, slog.New(slog.DiscardHandler)
	flA, flB := tw.newFleet(), tw.newFleet()
	b, err := New(Deps{Logger: log, Store: st, Fleet: flB})
	if err != nil {
		t.Fatal(err)
	}
	camera := func(id, url string) func(*protocol.Cameras) error {
		return func(c *protocol.Cameras) error {
			c.Cameras = append(c.Cameras, protocol.Camera{ID: id, URL: url})
			return nil
		}
	}
	fa := &interleaved{Fleet: flA, before: func() {
		if _, _, err := b.UpdateCameras(t.Context(), "village-1", "李干事", camera("yard", "rtsp://192.168.1.65:554/live")); err != nil {
			t.Errorf("replica b: %v", err)
		}
	}}
	a, err := New(Deps{Logger: log, Store: st, Fleet: fa})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.UpdateCameras(t.Context(), "village-1", "王主任", camera("gate", "rtsp://192.168.1.64:554/live")); err != nil {
		t.Fatalf("replica a: %v", err)
	}
	spec := pub.lastSpec(t, key.Public().(ed25519.PublicKey))
	var ids []string
	if spec.Cameras != nil {
		for _, c := range spec.Cameras.Cameras {
			ids = append(ids, c.ID)
		}
	}
	if len(ids) != 2 {
		t.Fatalf("the box's last desired state has cameras %v; want the stored plan's, gate and yard", ids)
	}
}
