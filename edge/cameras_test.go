package edge

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/camera/sim"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// The desired state's cameras are re-served by the box's RTSP server, and
// their comings and goings reach the township as events.
func TestCamerasFromTheDesiredState(t *testing.T) {
	ffprobe := testenv.Tool(t, "ffprobe", "apt-get install ffmpeg")
	brokerURL := embeddedBroker(t)
	tw := newTownship(t, brokerURL, "cam-box")
	cfg := testConfig(t, brokerURL, "cam-box", tw.key.Public().(ed25519.PublicKey))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Relay.Listen = l.Addr().String()
	l.Close()
	startBox(t, cfg)

	cam, err := sim.New(sim.Config{Listen: "127.0.0.1:0", Path: "live"})
	if err != nil {
		t.Fatal(err)
	}
	camCtx, stopCam := context.WithCancel(t.Context())
	camDone := make(chan error, 1)
	go func() { camDone <- cam.Run(camCtx) }()
	t.Cleanup(func() { stopCam(); <-camDone })

	// The simulated camera is on loopback, which the township allows here.
	spec, err := json.Marshal(protocol.Spec{Cameras: &protocol.Cameras{AllowLocalTargets: true, Cameras: []protocol.Camera{
		{ID: "gate", Name: "村口", URL: cam.URL(), AlwaysOn: true},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	d, err := protocol.SignDesired(tw.key, protocol.Desired{BoxID: "cam-box", Rev: 2, IssuedAt: now, ExpiresAt: now.Add(time.Hour), Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	tw.publish(protocol.KindDesired, d, true)
	t.Cleanup(func() {
		tw.cl.Publish(protocol.Topic("cam-box", protocol.KindDesired), 1, true, []byte{}).WaitTimeout(5 * time.Second)
	})
	tw.eventually("camera.online", func() bool { return len(tw.eventsOfType(protocol.EventCameraOnline)) == 1 })

	out, err := exec.Command(ffprobe, "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", "rtsp://"+cfg.Relay.Listen+"/gate").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "h264,640,360" {
		t.Fatalf("ffprobe of the box's stream: %v: %q, want h264,640,360", err, out)
	}

	stopCam()
	<-camDone
	camDone <- nil // for the cleanup
	tw.eventually("camera.offline", func() bool { return len(tw.eventsOfType(protocol.EventCameraOffline)) == 1 })
	var st protocol.CameraState
	if err := json.Unmarshal(tw.eventsOfType(protocol.EventCameraOffline)[0].Data, &st); err != nil || st.Camera != "gate" || st.Error == "" {
		t.Fatalf("camera.offline data %+v, %v", st, err)
	}
}
