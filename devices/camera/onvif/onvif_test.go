package onvif

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/camera/sim"
	"github.com/dalaba/dalaba/internal/testenv"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "sim", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// camera runs a simulated camera with its ONVIF face: an H.265 main
// stream, an H.264 sub stream, PTZ, credentials.
func camera(t *testing.T, o sim.ONVIFConfig) *sim.Sim {
	t.Helper()
	o.PTZ, o.Name, o.Hardware = true, "村口 东", "DS-2DE2A404"
	cam, err := sim.New(sim.Config{Clip: fixture(t, "h265-640x360.h265"), SubClip: fixture(t, "sub-320x180.h264"),
		Username: "admin", Password: "12345abc", ONVIF: &o, Logger: testenv.Logger(t, slog.LevelInfo)})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Background(t, 10*time.Second, "camera", cam.Run)
	return cam
}

// The box reads what it needs of a camera: device information, where its
// services are, its profiles with their stream URIs, a snapshot, and it
// turns the camera.
func TestCameraServices(t *testing.T) {
	cam := camera(t, sim.ONVIFConfig{})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c := &Client{URL: cam.ONVIFURL(), Username: "admin", Password: "12345abc"}
	info, err := c.DeviceInformation(ctx)
	if err != nil || info.Model != "DS-2DE2A404" || info.Manufacturer == "" {
		t.Fatalf("device information %+v, %v", info, err)
	}
	svc, err := c.Services(ctx)
	if err != nil || svc.Media == "" || svc.PTZ == "" {
		t.Fatalf("services %+v, %v", svc, err)
	}
	ps, err := c.Profiles(ctx, svc)
	if err != nil || len(ps) != 2 {
		t.Fatalf("profiles %+v, %v", ps, err)
	}
	if p := ps[0]; p.Encoding != "H265" || p.Width != 640 || !p.PTZ || ps[1].Encoding != "H264" || ps[1].Width != 320 {
		t.Errorf("profiles %+v", ps)
	}
	for i, want := range []string{cam.URL(), cam.SubURL()} {
		if u, err := c.StreamURI(ctx, svc, ps[i].Token); err != nil || u != want {
			t.Errorf("stream URI of %s: %q, %v; want %s", ps[i].Token, u, err, want)
		}
	}
	snap, err := c.SnapshotURI(ctx, svc, ps[1].Token)
	if err != nil {
		t.Fatal(err)
	}
	img, ct, err := c.Snapshot(ctx, snap, 64<<10)
	if err != nil || ct != "image/jpeg" {
		t.Fatalf("snapshot: %s, %v", ct, err)
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(img)); err != nil || cfg.Width != 320 {
		t.Errorf("the snapshot is not a 320-wide JPEG: %+v, %v", cfg, err)
	}
	if _, _, err := c.Snapshot(ctx, snap, 100); !errors.Is(err, ErrTooBig) {
		t.Errorf("a snapshot over the limit: %v", err)
	}

	if err := c.ContinuousMove(ctx, svc, ps[0].Token, Move{Pan: 0.5, Zoom: -0.25, Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	if st, _ := cam.PTZ(); st.Moves != 1 || st.Pan != 0.5 || st.Tilt != 0 || st.Zoom != -0.25 || !st.Moving {
		t.Errorf("the camera saw %+v", st)
	}
	if err := c.Stop(ctx, svc, ps[0].Token); err != nil {
		t.Fatal(err)
	}
	presets, err := c.Presets(ctx, svc, ps[0].Token)
	if err != nil || len(presets) != 2 || presets[0].Name != "大门" {
		t.Fatalf("presets %+v, %v", presets, err)
	}
	if err := c.GotoPreset(ctx, svc, ps[0].Token, presets[1].Token); err != nil {
		t.Fatal(err)
	}
	if st, _ := cam.PTZ(); st.Moving || st.Stops != 1 || st.Preset != "2" {
		t.Errorf("after stop and preset the camera saw %+v", st)
	}
	if err := c.GotoPreset(ctx, svc, ps[0].Token, "9"); !errors.Is(err, ErrFault) {
		t.Errorf("an unknown preset: %v; want ErrFault", err)
	}

	wrong := &Client{URL: cam.ONVIFURL(), Username: "admin", Password: "guess"}
	if _, err := wrong.DeviceInformation(ctx); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("wrong password: %v; want ErrUnauthorized", err)
	}
	if _, _, err := wrong.Snapshot(ctx, snap, 64<<10); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("snapshot with a wrong password: %v; want ErrUnauthorized", err)
	}
}

// freeUDP is a UDP port on loopback nothing listens on just now.
func freeUDP(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// A probe finds the camera: sent to its address, and to the multicast
// group as on a village LAN (with TTL 0, on an interface that has
// multicast: nothing leaves this host).
func TestProbe(t *testing.T) {
	t.Run("unicast", func(t *testing.T) {
		addr := fmt.Sprintf("127.0.0.1:%d", freeUDP(t))
		cam := camera(t, sim.ONVIFConfig{Discovery: addr})
		found, err := Probe(t.Context(), ProbeConfig{Target: addr, Wait: time.Second})
		if err != nil || len(found) != 1 {
			t.Fatalf("found %+v, %v", found, err)
		}
		if f := found[0]; f.XAddrs[0] != cam.ONVIFURL() || f.Name != "村口 东" || f.Hardware != "DS-2DE2A404" {
			t.Errorf("found %+v", f)
		}
	})
	t.Run("multicast", func(t *testing.T) {
		ifname := multicastInterface(t)
		group := fmt.Sprintf("239.255.255.250:%d", freeUDP(t))
		cam := camera(t, sim.ONVIFConfig{Discovery: group, DiscoveryInterface: ifname})
		found, err := Probe(t.Context(), ProbeConfig{Target: group, Interface: ifname, TTL: 0, Wait: time.Second})
		if err != nil || len(found) != 1 || found[0].XAddrs[0] != cam.ONVIFURL() {
			t.Fatalf("found %+v, %v", found, err)
		}
	})
}

// multicastInterface picks where the test's group lives: the loopback
// interface if it has the MULTICAST flag, else the first interface that
// is up, multicast-capable and has an IPv4 address. The probe goes with
// TTL 0, so nothing leaves this host either way.
func multicastInterface(t *testing.T) string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var pick string
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagMulticast == 0 {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				if ifi.Flags&net.FlagLoopback != 0 {
					return ifi.Name
				}
				if pick == "" {
					pick = ifi.Name
				}
			}
		}
	}
	if pick == "" {
		testenv.Missing(t, "a multicast-capable interface (lo has no MULTICAST flag and no other is up)",
			"sudo ip link set lo multicast on")
	}
	return pick
}

// FuzzParseMatches: whatever a device on the LAN answers, reading it
// neither panics nor finds a device without an address.
func FuzzParseMatches(f *testing.F) {
	f.Add([]byte(`<e:Envelope xmlns:e="x" xmlns:w="y" xmlns:d="z"><e:Header><w:RelatesTo>uuid:1</w:RelatesTo></e:Header><e:Body><d:ProbeMatches><d:ProbeMatch><w:EndpointReference><w:Address>urn:uuid:2</w:Address></w:EndpointReference><d:Scopes>onvif://www.onvif.org/name/a%20b</d:Scopes><d:XAddrs>http://10.0.0.2/onvif/device_service</d:XAddrs></d:ProbeMatch></d:ProbeMatches></e:Body></e:Envelope>`))
	f.Add([]byte(`<x/>`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, m := range parseMatches(raw, "uuid:1") {
			if m.Endpoint == "" || len(m.XAddrs) == 0 {
				t.Fatalf("a match without an endpoint or address: %+v", m)
			}
		}
	})
}
