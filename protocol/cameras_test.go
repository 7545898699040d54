package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func goodCameras() Cameras {
	return Cameras{
		Cameras: []Camera{
			{ID: "gate", Name: "村口", URL: "rtsp://192.168.1.64:554/Streaming/Channels/101", Username: "admin", Password: "密码123"},
			{ID: "square", URL: "rtsp://192.168.1.65/live", Transport: "udp", AlwaysOn: true, BitrateKbps: 2000},
		},
		ICE:        []ICEServer{{URLs: []string{"stun:stun.township.example:3478"}}, {URLs: []string{"turn:township.example:3478?transport=udp"}, Username: "u", Credential: "p"}},
		MaxViewers: 10, BudgetKbps: 20000,
	}
}

func TestCamerasValidate(t *testing.T) {
	if err := new(goodCameras()).Validate(); err != nil {
		t.Fatalf("good cameras refused: %v", err)
	}
	cases := []struct {
		name string
		edit func(c *Cameras)
		want string
	}{
		{"bad id", func(c *Cameras) { c.Cameras[0].ID = "村口" }, "only a-z"},
		{"duplicate", func(c *Cameras) { c.Cameras[1].ID = "gate" }, "used twice"},
		{"http url", func(c *Cameras) { c.Cameras[0].URL = "http://192.168.1.64/" }, "want rtsp://"},
		{"credentials in the url", func(c *Cameras) { c.Cameras[0].URL = "rtsp://admin:x@192.168.1.64/" }, "credentials in username"},
		{"line break in a password", func(c *Cameras) { c.Cameras[0].Password = "a\r\nb" }, "bad credentials"},
		{"transport", func(c *Cameras) { c.Cameras[0].Transport = "quic" }, `transport "quic"`},
		{"bitrate", func(c *Cameras) { c.Cameras[0].BitrateKbps = -1 }, "bitrate_kbps"},
		{"ice scheme", func(c *Cameras) { c.ICE[0].URLs = []string{"http://stun"} }, "want stun:"},
		{"ice without urls", func(c *Cameras) { c.ICE[0].URLs = nil }, "no urls"},
		{"limits", func(c *Cameras) { c.MaxViewers = -1 }, "viewer limits"},
		{"the box's loopback", func(c *Cameras) { c.Cameras[1].URL = "rtsp://127.0.0.1:22/" }, `cameras.cameras[1] (square).url "rtsp://127.0.0.1:22/": not a camera address: 127.0.0.1 is the box's own loopback`},
		{"the cloud's metadata service", func(c *Cameras) { c.Cameras[0].URL = "rtsp://169.254.169.254:80/latest" }, "(gate).url"},
		{"localhost by name", func(c *Cameras) { c.Cameras[0].URL = "rtsp://LocalHost.:8554/x" }, "is the box itself"},
		{"IPv6 loopback", func(c *Cameras) { c.Cameras[0].URL = "rtsp://[::1]:8554/x" }, "loopback"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cams := goodCameras()
			c.edit(&cams)
			if err := cams.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	// The spec refuses a bad camera section like a bad broadcast one.
	b, _ := json.Marshal(Spec{Cameras: &Cameras{Cameras: []Camera{{ID: "x", URL: "ftp://x"}}}})
	if _, err := DecodeSpec(b); err == nil {
		t.Fatal("a spec with a bad camera decoded")
	}
}

func TestCameraHosts(t *testing.T) {
	refused := []string{
		"localhost", "LOCALHOST", "localhost.", "cam.localhost", "127.0.0.1", "127.8.9.10", "0.0.0.0", "0.1.2.3",
		"169.254.169.254", "169.254.0.23", "100.100.100.200", "::1", "::", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
		"fe80::1", "fe80::1%eth0", "FE80::abcd", "fd00:ec2::254", "224.0.0.1", "239.255.255.250", "ff02::1",
		"255.255.255.255", "240.0.0.1", "192.0.2.10", "198.51.100.7", "203.0.113.99", "2001:db8::5",
	}
	for _, h := range refused {
		if err := CheckCameraHost(h); !errors.Is(err, ErrLocalTarget) {
			t.Errorf("CheckCameraHost(%q) = %v, want ErrLocalTarget", h, err)
		}
	}
	lan := []string{
		"192.168.1.64", "10.0.0.2", "172.16.5.5", "100.64.0.1", "fd12:3456::10", "fe00::1", "8.8.8.8", "2400:3200::1",
		"cam-gate", "gate.cun.example", "localhost-camera", "mylocalhost",
	}
	for _, h := range lan {
		if err := CheckCameraHost(h); err != nil {
			t.Errorf("CheckCameraHost(%q) = %v, want nil", h, err)
		}
	}
}

func TestLocalCamerasAllowedOnlyWhenTheTownshipSaysSo(t *testing.T) {
	cams := Cameras{Cameras: []Camera{{ID: "sim", URL: "rtsp://127.0.0.1:8554/cam1"}}}
	b, _ := json.Marshal(Spec{Cameras: &cams})
	if _, err := DecodeSpec(b); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("a box took a loopback camera the township did not allow: %v", err)
	}
	cams.AllowLocalTargets = true
	b, _ = json.Marshal(Spec{Cameras: &cams})
	if !strings.Contains(string(b), `"allow_local_targets":true`) {
		t.Fatalf("the allowance does not travel: %s", b)
	}
	if _, err := DecodeSpec(b); err != nil {
		t.Fatalf("an allowed loopback camera: %v", err)
	}
	// Unset, it is not on the wire at all: boxes that predate it still
	// take the state.
	if b, _ := json.Marshal(goodCameras()); strings.Contains(string(b), "allow_local") {
		t.Fatalf("allow_local_targets sent unset: %s", b)
	}
}

func TestWHEPArgs(t *testing.T) {
	good := WHEPArgs{Camera: "gate", Offer: "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n", Viewer: "李干事"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []WHEPArgs{
		{Camera: "", Offer: good.Offer},
		{Camera: "gate", Offer: "hello"},
		{Camera: "gate", Offer: "v=0" + strings.Repeat("a", MaxSDP)},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}
