package camctl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/camera/onvif"
	"github.com/dalaba/dalaba/devices/camera/sim"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "devices", "camera", "sim", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type recorded struct {
	mu  sync.Mutex
	evs []string
}

func (r *recorded) record(_ context.Context, typ string, _ protocol.Priority, data any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, fmt.Sprintf("%s %+v", typ, data))
	return nil
}

// A village camera with ONVIF, PTZ and a sub stream, found by a probe,
// read, turned and photographed through the controller, as the box does
// on the township's commands.
func TestCameraControl(t *testing.T) {
	probe, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	discovery := probe.LocalAddr().String()
	probe.Close()
	cam, err := sim.New(sim.Config{Clip: fixture(t, "high-1280x720.h264"), SubClip: fixture(t, "sub-320x180.h264"),
		Username: "admin", Password: "pw", Logger: testenv.Logger(t, slog.LevelInfo),
		ONVIF: &sim.ONVIFConfig{Discovery: discovery, Name: "村口", Hardware: "IPC-1", PTZ: true}})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Background(t, 10*time.Second, "camera", cam.Run)
	rec := &recorded{}
	c, err := New(Config{Discovery: discovery}, Deps{Logger: testenv.Logger(t, slog.LevelInfo), Record: rec.record})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// The simulated camera is on loopback, where no village camera is:
	// refused until the desired state allows it.
	if _, err := c.Read(ctx, protocol.ONVIFArgs{URL: cam.ONVIFURL(), Username: "admin", Password: "pw"}); !errors.Is(err, protocol.ErrLocalTarget) {
		t.Fatalf("a camera on loopback without the allowance: %v; want ErrLocalTarget", err)
	}
	c.SetCameras(protocol.Cameras{AllowLocalTargets: true})

	found, err := c.Discover(ctx, protocol.DiscoverArgs{WaitMs: 500})
	if err != nil || len(found.Devices) != 1 || found.Devices[0].URL != cam.ONVIFURL() || found.Devices[0].Name != "村口" {
		t.Fatalf("discovery: %+v, %v", found, err)
	}
	if len(rec.evs) != 1 {
		t.Errorf("events %v; want the discovery recorded", rec.evs)
	}

	info, err := c.Read(ctx, protocol.ONVIFArgs{URL: found.Devices[0].URL, Username: "admin", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if info.Model != "IPC-1" || !info.PTZ || len(info.Profiles) != 2 || info.MainURL != cam.URL() || info.SubURL != cam.SubURL() ||
		len(info.Presets) != 2 || info.Profiles[0].SnapshotURL == "" {
		t.Errorf("read %+v", info)
	}
	if _, err := c.Read(ctx, protocol.ONVIFArgs{URL: found.Devices[0].URL, Username: "admin", Password: "x"}); !errors.Is(err, onvif.ErrUnauthorized) {
		t.Errorf("wrong password: %v", err)
	}

	c.SetCameras(protocol.Cameras{AllowLocalTargets: true, Cameras: []protocol.Camera{
		{ID: "gate", URL: cam.URL(), Username: "admin", Password: "pw", ONVIF: &protocol.CameraONVIF{URL: cam.ONVIFURL()}},
		{ID: "plain", URL: cam.URL()},
	}})
	if err := c.PTZ(ctx, time.Now(), protocol.PTZArgs{Camera: "gate", Action: protocol.PTZMove, Pan: -0.5, Tilt: 0.25}); err != nil {
		t.Fatal(err)
	}
	if st, _ := cam.PTZ(); st.Moves != 1 || st.Pan != -0.5 || st.Tilt != 0.25 || !st.Moving {
		t.Errorf("the camera saw %+v", st)
	}
	if err := c.PTZ(ctx, time.Now(), protocol.PTZArgs{Camera: "gate", Action: protocol.PTZStop}); err != nil {
		t.Fatal(err)
	}
	if err := c.PTZ(ctx, time.Now(), protocol.PTZArgs{Camera: "gate", Action: protocol.PTZGoPreset, Preset: "1"}); err != nil {
		t.Fatal(err)
	}
	if st, _ := cam.PTZ(); st.Moving || st.Preset != "1" {
		t.Errorf("after stop and preset: %+v", st)
	}
	if err := c.PTZ(ctx, time.Now(), protocol.PTZArgs{Camera: "plain", Action: protocol.PTZStop}); !errors.Is(err, ErrNoONVIF) {
		t.Errorf("a camera without ONVIF: %v", err)
	}
	if err := c.PTZ(ctx, time.Now(), protocol.PTZArgs{Camera: "nope", Action: protocol.PTZStop}); !errors.Is(err, ErrUnknownCamera) {
		t.Errorf("an unknown camera: %v", err)
	}

	// Let go of a PTZ button at once: the stop (control lane) can run
	// before the move it ends (slow lane). The move, issued earlier, is
	// then not made; a move issued after the stop is.
	before, _ := cam.PTZ()
	t0 := time.Now()
	if err := c.PTZ(ctx, t0.Add(time.Second), protocol.PTZArgs{Camera: "gate", Action: protocol.PTZStop}); err != nil {
		t.Fatal(err)
	}
	if err := c.PTZ(ctx, t0, protocol.PTZArgs{Camera: "gate", Action: protocol.PTZMove, Pan: 0.5}); err != nil {
		t.Fatal(err)
	}
	if st, _ := cam.PTZ(); st.Moving || st.Moves != before.Moves {
		t.Errorf("a move overtaken by its stop was made: %+v (before %+v)", st, before)
	}
	if err := c.PTZ(ctx, t0.Add(2*time.Second), protocol.PTZArgs{Camera: "gate", Action: protocol.PTZMove, Pan: 0.5}); err != nil {
		t.Fatal(err)
	}
	if st, _ := cam.PTZ(); !st.Moving || st.Moves != before.Moves+1 {
		t.Errorf("a move issued after the stop: %+v", st)
	}

	snap, err := c.Snapshot(ctx, protocol.SnapshotArgs{Camera: "gate"})
	if err != nil || snap.ContentType != "image/jpeg" || len(snap.Image) < 100 || snap.Profile != "sub" {
		t.Fatalf("snapshot: %s %d bytes of %q, %v", snap.ContentType, len(snap.Image), snap.Profile, err)
	}
}
