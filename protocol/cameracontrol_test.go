package protocol

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCameraStreamsValidate(t *testing.T) {
	good := goodCameras()
	good.Cameras[0].SubURL = "rtsp://192.168.1.64:554/Streaming/Channels/102"
	good.Cameras[0].ONVIF = &CameraONVIF{URL: "http://192.168.1.64/onvif/device_service", Profile: "Profile_1"}
	good.UplinkKbps, good.MaxPayload = 20000, 1200
	if err := good.Validate(); err != nil {
		t.Fatalf("good cameras refused: %v", err)
	}
	if got := good.Budget(); got != 20000 {
		t.Errorf("budget %d; want the set 20000", got)
	}
	good.BudgetKbps = 0
	if got := good.Budget(); got != 15000 {
		t.Errorf("budget %d; want 75%% of the 20000 kbit/s uplink", got)
	}
	for _, c := range []struct {
		name string
		edit func(c *Cameras)
		want string
	}{
		{"sub url", func(c *Cameras) { c.Cameras[0].SubURL = "http://x/" }, "sub_url"},
		{"sub bitrate", func(c *Cameras) { c.Cameras[0].SubBitrateKbps = -1 }, "sub_bitrate_kbps"},
		{"onvif url", func(c *Cameras) { c.Cameras[0].ONVIF = &CameraONVIF{URL: "rtsp://x/"} }, "onvif.url"},
		{"onvif credentials in the url", func(c *Cameras) { c.Cameras[0].ONVIF = &CameraONVIF{URL: "http://a:b@x/"} }, "onvif.url"},
		{"uplink", func(c *Cameras) { c.UplinkKbps = -5 }, "uplink_kbps"},
		{"payload", func(c *Cameras) { c.MaxPayload = 100 }, "max_payload"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cams := goodCameras()
			c.edit(&cams)
			if err := cams.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestCameraCommandArgs(t *testing.T) {
	for _, c := range []struct {
		name string
		args interface{ Validate() error }
		ok   bool
	}{
		{"whep sub", WHEPArgs{Camera: "gate", Offer: "v=0\r\n", Stream: StreamSub}, true},
		{"whep third stream", WHEPArgs{Camera: "gate", Offer: "v=0\r\n", Stream: "third"}, false},
		{"discover", DiscoverArgs{}, true},
		{"discover too long", DiscoverArgs{WaitMs: 60000}, false},
		{"onvif by url", ONVIFArgs{URL: "http://192.168.1.64/onvif/device_service", Username: "admin", Password: "x"}, true},
		{"onvif by camera", ONVIFArgs{Camera: "gate"}, true},
		{"onvif both", ONVIFArgs{Camera: "gate", URL: "http://192.168.1.64/"}, false},
		{"onvif neither", ONVIFArgs{}, false},
		{"onvif rtsp", ONVIFArgs{URL: "rtsp://192.168.1.64/"}, false},
		{"move", PTZArgs{Camera: "gate", Action: PTZMove, Pan: -1, Zoom: 0.5}, true},
		{"move nowhere", PTZArgs{Camera: "gate", Action: PTZMove}, false},
		{"move too fast", PTZArgs{Camera: "gate", Action: PTZMove, Tilt: 1.5}, false},
		{"move NaN", PTZArgs{Camera: "gate", Action: PTZMove, Pan: math.NaN()}, false},
		{"move for a minute", PTZArgs{Camera: "gate", Action: PTZMove, Pan: 1, TimeoutMs: 60000}, false},
		{"stop", PTZArgs{Camera: "gate", Action: PTZStop}, true},
		{"preset", PTZArgs{Camera: "gate", Action: PTZGoPreset, Preset: "1"}, true},
		{"preset markup", PTZArgs{Camera: "gate", Action: PTZGoPreset, Preset: "<x>"}, false},
		{"dance", PTZArgs{Camera: "gate", Action: "dance"}, false},
		{"ptz no camera", PTZArgs{Action: PTZStop}, false},
		{"snapshot", SnapshotArgs{Camera: "gate"}, true},
		{"snapshot no camera", SnapshotArgs{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.args.Validate(); (err == nil) != c.ok {
				t.Fatalf("Validate = %v; want ok %v", err, c.ok)
			}
		})
	}
}

// TestGoldenCameras pins the v1 wire form of the camera additions: a
// desired state with a camera's sub stream, ONVIF address and the
// declared uplink, a PTZ command, and a viewer's answer saying what it
// gets.
func TestGoldenCameras(t *testing.T) {
	key := testKey()
	cams := Cameras{
		Cameras: []Camera{{ID: "gate", Name: "村口", URL: "rtsp://192.168.1.64:554/Streaming/Channels/101", Username: "admin", Password: "pw",
			SubURL: "rtsp://192.168.1.64:554/Streaming/Channels/102", SubBitrateKbps: 512,
			ONVIF: &CameraONVIF{URL: "http://192.168.1.64/onvif/device_service", Profile: "Profile_1"}}},
		UplinkKbps: 20000, MaxPayload: 1400,
	}
	spec, err := json.Marshal(Spec{Cameras: &cams})
	if err != nil {
		t.Fatal(err)
	}
	d := goodDesired()
	d.Spec = spec
	desired, err := SignDesired(key, d)
	if err != nil {
		t.Fatal(err)
	}
	c := goodCommand()
	c.Type, c.Args = CmdCameraPTZ, json.RawMessage(`{"camera":"gate","action":"move","pan":0.5,"timeout_ms":1000}`)
	cmd, err := SignCommand(key, c)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := json.Marshal(WHEPResult{Session: "s1", Answer: "v=0", Stream: StreamSub, Codec: "H264", Frames: FramesAll,
		Note: NoteBFramesSub, Audio: "PCMA", FPS: 25})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Marshal(KindCmdResult, CommandResult{V: 1, ID: "c-1", BoxID: "village-1", OK: true, Data: answer})
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{"desired_cameras.v1.json": desired, "cmd_ptz.v1.json": cmd, "cmd_result_whep.v1.json": res} {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./protocol -update to create)", err)
		}
		if !bytes.Equal(bytes.TrimSpace(want), got) {
			t.Errorf("%s changed:\n got %s\nwant %s", name, got, want)
		}
	}
	// What the box decodes is what was signed.
	if _, err := DecodeSpec(spec); err != nil {
		t.Errorf("the cameras spec does not decode: %v", err)
	}
}
