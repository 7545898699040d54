package e2e

import (
	"bytes"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dalaba/dalaba/devices/camera/sim"
	"github.com/dalaba/dalaba/protocol"
)

// TestConsoleONVIF: an official adds a village's camera by finding it on
// the box's LAN, and turns it and takes a still, in Chromium through the
// console: 查找摄像头 has the box probe its LAN (WS-Discovery, here to the
// simulated camera's address: the box's relay.discovery), the camera's
// profiles and stream URIs are read with the credentials typed, the camera
// is added with its main and sub streams and its ONVIF address, its PTZ
// pad turns it (the camera sees the move and the stop) and 抓拍 shows its
// still. A viewer cannot turn it, and every change is in the audit trail.
func TestConsoleONVIF(t *testing.T) {
	probe, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	discovery := probe.LocalAddr().String()
	probe.Close()
	cam := runSim(t, sim.Config{Clip: simFixture(t, "high-1280x720.h264"), SubClip: simFixture(t, "sub-320x180.h264"),
		Username: "admin", Password: "cam-pw-1",
		ONVIF: &sim.ONVIFConfig{Discovery: discovery, Name: "村委会门口", Hardware: "IPC-PTZ", PTZ: true}})

	// The simulated camera is on loopback, where no village camera is: the
	// township allows it (for tests), and its allowance reaches the box
	// with the cameras section, here a STUN server before any camera.
	c := startCloud(t, cloudOpts{config: "cameras:\n  allow_local_targets: true\n"})
	box := uniqueID("onvif")
	startEdge(t, writeEdgeConfig(t, c.addBox(t, box)+"\nrelay:\n  listen: 127.0.0.1:0\n  discovery: "+discovery+"\n"), t.TempDir())
	eventually(t, 15*time.Second, "box online", func() bool { return c.box(t, box).Online })
	var put struct {
		DesiredRev uint64 `json:"desired_rev"`
	}
	c.do(t, "PUT", "/api/v1/boxes/"+box+"/cameras", protocol.Cameras{ICE: []protocol.ICEServer{{URLs: []string{"stun:127.0.0.1:3478"}}}}, &put, http.StatusOK)
	eventually(t, 15*time.Second, "box applies the section", func() bool { return c.box(t, box).AppliedRev == put.DesiredRev })

	b := newChrome(t, c, 1100, 1000, 2*time.Minute)
	b.signIn(t, "admin", adminPassword)
	sec := `.cam-box[data-box="` + box + `"]`
	b.run(t, "find the cameras", chromedp.Navigate(b.base+"/cameras"), chromedp.WaitVisible(chromedp.CSS(sec+` .cam-find`)),
		chromedp.Click(chromedp.CSS(sec+` .cam-find`)))
	item := sec + ` .cam-found-item`
	b.poll(t, 20*time.Second, "the camera is found", `document.querySelector('`+item+`') !== null`)
	if s := eval[string](t, b, `document.querySelector('`+item+`').textContent`); !strings.Contains(s, "村委会门口") || !strings.Contains(s, cam.ONVIFURL()) {
		t.Errorf("the found camera reads %q", s)
	}
	b.run(t, "add it",
		chromedp.SendKeys(chromedp.CSS(item+` input[name=id]`), "gate"),
		chromedp.SendKeys(chromedp.CSS(item+` input[name=username]`), "admin"),
		chromedp.SendKeys(chromedp.CSS(item+` input[name=password]`), "cam-pw-1"),
		chromedp.Click(chromedp.CSS(item+` button[type=submit]`)))
	tile := sec + ` .cam-tile[data-camera="gate"]`
	// The page reloads with the camera added, its PTZ pad shown.
	b.run(t, "the page comes back with the camera", chromedp.WaitVisible(chromedp.CSS(tile+` [data-ptz=right]`)))

	// The camera as added: its streams from the profiles, its ONVIF address.
	var got struct {
		Cameras protocol.Cameras `json:"cameras"`
	}
	c.do(t, "GET", "/api/v1/boxes/"+box+"/cameras", nil, &got, http.StatusOK)
	if cs := got.Cameras.Cameras; len(cs) != 1 || cs[0].URL != cam.URL() || cs[0].SubURL != cam.SubURL() ||
		cs[0].ONVIF == nil || cs[0].ONVIF.URL != cam.ONVIFURL() || cs[0].Username != "admin" || cs[0].Name != "村委会门口" {
		t.Fatalf("the camera added: %+v", got.Cameras)
	}
	eventually(t, 15*time.Second, "box applies the camera", func() bool { return c.box(t, box).AppliedRev == c.box(t, box).DesiredRev })

	b.run(t, "turn it right", chromedp.Click(chromedp.CSS(tile+` [data-ptz=right]`)))
	eventually(t, 15*time.Second, "the camera turns and stops", func() bool {
		st, err := cam.PTZ()
		return err == nil && st.Moves >= 1 && st.Stops >= 1 && !st.Moving
	})
	if st, _ := cam.PTZ(); st.Pan != 0.5 || st.Tilt != 0 {
		t.Errorf("the camera was moved %+v; want right at half speed", st)
	}
	b.run(t, "take a still", chromedp.Click(chromedp.CSS(tile+` .cam-snap`)))
	b.poll(t, 20*time.Second, "the still shows", `document.querySelector('`+tile+`').dataset.snapshot === 'shown'`)
	if w := eval[int](t, b, `document.querySelector('`+tile+` .cam-snapshot').naturalWidth`); w != 320 {
		t.Errorf("the still is %d wide; want the sub stream's 320", w)
	}
	b.screenshot(t, "cameras-onvif")

	// A viewer looks, and may take a still, but cannot turn the camera.
	c.do(t, "POST", "/api/v1/users", map[string]string{"name": "xiaoli", "role": "viewer", "password": "viewer-pw-123456"}, nil, http.StatusCreated)
	var login struct{ Token string }
	c.do(t, "POST", "/api/v1/login", map[string]string{"username": "xiaoli", "password": "viewer-pw-123456"}, &login, http.StatusOK)
	v := *c
	v.token = login.Token
	moves := func() int { st, _ := cam.PTZ(); return st.Moves }
	before := moves()
	v.do(t, "POST", "/api/v1/boxes/"+box+"/cameras/gate/ptz", protocol.PTZArgs{Action: protocol.PTZMove, Pan: 1}, nil, http.StatusForbidden)
	if moves() != before {
		t.Error("a viewer's move reached the camera")
	}

	// Discovery is an event at the township, and the move is in the trail.
	eventually(t, 15*time.Second, "camera.discovered at the township", func() bool {
		for _, ev := range c.events(t, box) {
			if ev.Type == protocol.EventCameraDiscovered && bytes.Contains(ev.Data, []byte(cam.ONVIFURL())) {
				return true
			}
		}
		return false
	})
	var trail struct {
		Records []struct {
			Actor, Action string
		} `json:"records"`
	}
	c.do(t, "GET", "/api/v1/audit/recent?limit=50", nil, &trail, http.StatusOK)
	moved := false
	for _, r := range trail.Records {
		moved = moved || (r.Actor == "admin" && strings.HasSuffix(r.Action, "/ptz"))
	}
	if !moved {
		t.Errorf("the move is not in the audit trail: %+v", trail.Records)
	}
}
