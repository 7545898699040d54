package console

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/board"
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
// two cameras and a full window of recent events: one read of the fleet
// (shared by every open dashboard, once per Config.Interval) and its rows.
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
		con.board.Invalidate()
		rows, err := con.rows(ctx, langZH)
		if err != nil || len(rows) != 100 {
			b.Fatalf("rows: %d, %v", len(rows), err)
		}
	}
}

// countingStore counts the reads of the whole fleet.
type countingStore struct {
	Store
	mu    sync.Mutex
	reads int
}

func (s *countingStore) ListOverviews(ctx context.Context, window int, types []string) ([]store.Overview, error) {
	s.mu.Lock()
	s.reads++
	s.mu.Unlock()
	return s.Store.ListOverviews(ctx, window, types)
}

// TestStreamsShareRows: dashboards open at once share one read of the
// fleet per interval, whatever their language and page, and streams of
// one page in one language share its message.
func TestStreamsShareRows(t *testing.T) {
	e := newEnv(t, false)
	cs := &countingStore{Store: e.st}
	con, err := New(Config{Interval: time.Hour}, Deps{Logger: slog.New(slog.DiscardHandler), Store: cs, Auth: e.au})
	if err != nil {
		t.Fatal(err)
	}
	q, err := board.ParseQuery(url.Values{"limit": {"10"}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range msgs {
		wg.Go(func() {
			b, err := con.streamPage(t.Context(), langZH, q)
			if err != nil || !strings.Contains(string(b), "event: boxes") {
				t.Errorf("stream message %q, %v", b, err)
			}
			msgs[i] = b
		})
	}
	wg.Wait()
	for _, m := range msgs[1:] {
		if &m[0] != &msgs[0][0] {
			t.Error("streams of one page made their message more than once")
			break
		}
	}
	if _, err := con.streamPage(t.Context(), langEN, q); err != nil {
		t.Fatal(err)
	}
	if _, err := con.rows(t.Context(), langEN); err != nil {
		t.Fatal(err)
	}
	if cs.reads != 1 {
		t.Errorf("8 streams in Chinese, one in English and a list read the fleet %d times, want 1", cs.reads)
	}
}

// TestDashboardPages: the dashboard shows one page of the boxes the query
// keeps, says how many there are, links the pages beside it and streams
// that very page; a query it cannot read is refused.
func TestDashboardPages(t *testing.T) {
	e := newEnv(t, false)
	for i := range 119 { // with village-1, 120 boxes
		town := "东山镇"
		if i%2 == 1 {
			town = "西河镇"
		}
		if err := e.st.CreateBox(t.Context(), store.Box{ID: fmt.Sprintf("v%03d", i), Name: fmt.Sprintf("村%03d", i), Place: town, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := e.signedIn(t, store.RoleViewer)
	rowsIn := func(body string) int { return strings.Count(body, `<tr data-box="v`) }

	a := e.get(t, c, "/")
	if a.code != 200 || rowsIn(a.body) != 50 || !strings.Contains(a.body, "共 120 台，显示第 1–50 台。") {
		t.Fatalf("first page: %d, %d rows:\n%s", a.code, rowsIn(a.body), a.body)
	}
	if !strings.Contains(a.body, `id="db-next" class="button" href="/?offset=50"`) || strings.Contains(a.body, `id="db-prev"`) {
		t.Errorf("first page links wrong:\n%s", a.body)
	}
	if !strings.Contains(a.body, `data-stream="/events/boxes?"`) {
		t.Errorf("first page streams another page:\n%s", a.body)
	}
	a = e.get(t, c, "/?offset=100")
	if rowsIn(a.body) != 20 || !strings.Contains(a.body, "显示第 101–120 台") || strings.Contains(a.body, `id="db-next"`) ||
		!strings.Contains(a.body, `href="/?offset=50"`) || !strings.Contains(a.body, `data-stream="/events/boxes?offset=100"`) {
		t.Errorf("last page: %d rows:\n%s", rowsIn(a.body), a.body)
	}
	// Offline boxes of 西河镇 with problems, by name descending, 7 a page:
	// v001, v003 … v117, 59 of them.
	a = e.get(t, c, "/?place=西河镇&online=false&problems=true&sort=-name&limit=7&offset=7")
	if rowsIn(a.body) != 7 || !strings.Contains(a.body, "共 59 台，显示第 8–14 台。") {
		t.Errorf("filtered page: %d rows:\n%s", rowsIn(a.body), a.body)
	}
	first := strings.Index(a.body, `data-box="v103"`)
	if first < 0 || strings.Index(a.body, `data-box="v101"`) < first {
		t.Errorf("filtered page not by name descending from 村103:\n%s", a.body)
	}
	for _, want := range []string{`value="西河镇"`, `<option value="false" selected>`, `id="db-problems" name="problems" type="checkbox" value="true" checked`} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the form does not show the query (%s)", want)
		}
	}
	if a := e.get(t, c, "/?limit=9999"); a.code != 400 {
		t.Errorf("?limit=9999: %d, want 400", a.code)
	}
	// v110 … v118.
	if a := e.get(t, c, "/?lang=en&q=V11"); rowsIn(a.body) != 9 || !strings.Contains(a.body, "9 boxes; showing 1–9.") {
		t.Errorf("search in English: %d rows:\n%s", rowsIn(a.body), a.body)
	}
}
