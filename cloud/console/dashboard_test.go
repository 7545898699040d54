package console

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
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
	if _, err := e.st.AppendEvents(ctx, "village-1", store.Batch{Floor: 1 + uint64(len(evs)), Events: evs}); err != nil {
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

// BenchmarkDashboardRows measures one refresh of the dashboard's rows for
// a township of 100 villages, each box with a plan of four speakers and
// two cameras and a full window of recent events: the work each open
// dashboard costs the service every Config.Interval.
func BenchmarkDashboardRows(b *testing.B) {
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	health, _ := json.Marshal(protocol.Health{ClockTrusted: true, Clock: time.Now(), DiskFreeBytes: 8 << 30, DiskTotalBytes: 16 << 30})
	spk, _ := json.Marshal(protocol.SpeakerHealth{ID: "s2", Reachable: false, Error: "timeout"})
	for i := range 100 {
		id := fmt.Sprintf("village-%03d", i)
		if err := st.CreateBox(ctx, store.Box{ID: id, Name: "村" + id, CreatedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
		if err := st.UpdatePlan(ctx, id, func(p *store.Plan) error {
			for s := range 4 {
				p.Broadcast.Speakers = append(p.Broadcast.Speakers, protocol.Speaker{ID: fmt.Sprintf("s%d", s), Driver: protocol.DriverRTP, Addr: "10.0.0.1:5004"})
			}
			p.Cameras.Cameras = []protocol.Camera{{ID: "gate", URL: "rtsp://10.0.0.2/"}, {ID: "pond", URL: "rtsp://10.0.0.3/"}}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		evs := make([]store.Event, 2*healthWindow)
		for j := range evs {
			typ, data := protocol.EventHealth, health
			if j%2 == 1 {
				typ, data = protocol.EventSpeakerHealth, spk
			}
			evs[j] = store.Event{BoxID: id, Seq: uint64(j + 1), Time: time.Now(), Type: typ, Data: data, ReceivedAt: time.Now()}
		}
		if _, err := st.AppendEvents(ctx, id, store.Batch{Floor: uint64(len(evs)), Events: evs}); err != nil {
			b.Fatal(err)
		}
	}
	a, err := auth.New(auth.Deps{Logger: slog.New(slog.DiscardHandler), Store: st, BcryptCost: bcrypt.MinCost})
	if err != nil {
		b.Fatal(err)
	}
	con, err := New(Config{}, Deps{Logger: slog.New(slog.DiscardHandler), Store: st, Auth: a})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rows, err := con.rows(ctx, langZH)
		if err != nil || len(rows) != 100 {
			b.Fatalf("rows: %d, %v", len(rows), err)
		}
	}
}

// countingStore counts the reads of the box list.
type countingStore struct {
	Store
	mu    sync.Mutex
	lists int
}

func (s *countingStore) ListBoxes(ctx context.Context) ([]store.Box, error) {
	s.mu.Lock()
	s.lists++
	s.mu.Unlock()
	return s.Store.ListBoxes(ctx)
}

// TestStreamsShareRows: dashboards open at once share one read of the
// boxes per interval and language.
func TestStreamsShareRows(t *testing.T) {
	e := newEnv(t, false)
	cs := &countingStore{Store: e.st}
	con, err := New(Config{Interval: time.Hour}, Deps{Logger: slog.New(slog.DiscardHandler), Store: cs, Auth: e.au})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if rows, err := con.sharedRows(t.Context(), langZH); err != nil || len(rows) != 1 {
				t.Errorf("rows %v, %v", rows, err)
			}
		})
	}
	wg.Wait()
	if _, err := con.sharedRows(t.Context(), langEN); err != nil {
		t.Fatal(err)
	}
	if cs.lists != 2 {
		t.Errorf("8 streams in Chinese and one in English read the boxes %d times, want 2", cs.lists)
	}
}
