package protocol

import (
	"encoding/json"
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
