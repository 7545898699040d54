package console

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// TestDashboardShowsDevices: the row carries the disk from the last
// health report and each speaker and camera of the plan with its last
// reported health.
func TestDashboardShowsDevices(t *testing.T) {
	e := newEnv(t, false)
	ctx := t.Context()
	if err := e.st.UpdatePlan(ctx, "village-1", func(p *store.Plan) error {
		p.Broadcast.Speakers = []protocol.Speaker{
			{ID: "east", Name: "东头", Driver: protocol.DriverRTP, Addr: "192.168.1.20:5004"},
			{ID: "west", Driver: protocol.DriverRTP, Addr: "192.168.1.21:5004"},
			{ID: "school", Driver: protocol.DriverRTP, Addr: "192.168.1.22:5004"},
		}
		p.Cameras.Cameras = []protocol.Camera{{ID: "gate", Name: "村口", URL: "rtsp://192.168.1.64/"}, {ID: "pond", URL: "rtsp://192.168.1.65/"}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	data := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	now := time.Now()
	evs := []store.Event{
		{Type: protocol.EventSpeakerHealth, Data: data(protocol.SpeakerHealth{ID: "west", Reachable: false, Error: "connection refused"})},
		{Type: protocol.EventSpeakerHealth, Data: data(protocol.SpeakerHealth{ID: "school", Reachable: false, Error: "no route"})},
		{Type: protocol.EventSpeakerHealth, Data: data(protocol.SpeakerHealth{ID: "school", Reachable: true})}, // recovered since
		{Type: protocol.EventCameraOnline, Data: data(protocol.CameraState{Camera: "gate"})},
		{Type: protocol.EventHealth, Data: data(protocol.Health{ClockTrusted: true, Clock: now, DiskFreeBytes: 1 << 30, DiskTotalBytes: 16 << 30})},
	}
	for i := range evs {
		evs[i].BoxID, evs[i].Seq, evs[i].Time, evs[i].ReceivedAt = "village-1", uint64(2+i), now, now
	}
	if _, err := e.st.AppendEvents(ctx, "village-1", 1+uint64(len(evs)), evs); err != nil {
		t.Fatal(err)
	}
	rows, err := e.con.rows(ctx, langZH)
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows: %v %+v", err, rows)
	}
	r := rows[0]
	for _, c := range []struct{ what, got, want string }{
		{"disk", r.Disk, "剩余 1.0 GiB / 共 16.0 GiB"},
		{"speakers", r.Speakers, "东头 正常 · west 故障 (connection refused) · school 正常"},
		{"cameras", r.Cameras, "村口 正常 · pond 未知"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.what, c.got, c.want)
		}
	}
	if !r.DiskLow || r.SpeakersOK || !r.CamerasOK {
		t.Errorf("flags: disk low %t, speakers ok %t, cameras ok %t; want true, false, true", r.DiskLow, r.SpeakersOK, r.CamerasOK)
	}
	c, _ := e.signedIn(t, store.RoleViewer)
	if a := e.get(t, c, "/"); !strings.Contains(a.body, "west 故障 (connection refused)") || !strings.Contains(a.body, "存储") {
		t.Errorf("the page lacks the devices:\n%s", a.body)
	}
}
