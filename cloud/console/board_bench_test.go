package console

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// countyFleet fills a store with n boxes over ten townships, each with a
// plan of four horns and two cameras; every fifth box has a window of
// health and speaker reports.
func countyFleet(b *testing.B, n int) *boltstore.Store {
	b.Helper()
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	ctx := context.Background()
	now := time.Now()
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("v%05d", i)
		if err := st.CreateBox(ctx, store.Box{ID: ids[i], Name: fmt.Sprintf("村%d", i), Place: fmt.Sprintf("镇%d/片区%d", i%10, i%7),
			CreatedAt: now, Incarnation: 1}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := st.UpdatePlans(ctx, ids, func(p *store.Plan) error {
		for s := range 4 {
			p.Broadcast.Speakers = append(p.Broadcast.Speakers, protocol.Speaker{ID: fmt.Sprintf("s%d", s), Driver: protocol.DriverRTP, Addr: "10.0.0.1:5004"})
		}
		p.Cameras.Cameras = []protocol.Camera{{ID: "gate", URL: "rtsp://10.0.0.2/"}, {ID: "pond", URL: "rtsp://10.0.0.3/"}}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	health, _ := json.Marshal(protocol.Health{ClockTrusted: true, Clock: now, DiskFreeBytes: 8 << 30, DiskTotalBytes: 16 << 30})
	spk, _ := json.Marshal(protocol.SpeakerHealth{ID: "s2", Reachable: false, Error: "timeout"})
	for i := 0; i < n; i += 5 {
		evs := make([]store.Event, 2*healthWindow)
		for j := range evs {
			typ, data := protocol.EventHealth, health
			if j%2 == 1 {
				typ, data = protocol.EventSpeakerHealth, spk
			}
			evs[j] = store.Event{Seq: uint64(j + 1), Time: now, Type: typ, Data: data, ReceivedAt: now}
		}
		if _, err := st.AppendEvents(ctx, ids[i], store.Batch{Floor: 1, Events: evs}); err != nil {
			b.Fatal(err)
		}
	}
	return st
}

// BenchmarkDashboardFirstPage5000 serves the dashboard's first page at a
// county of 5,000 boxes: cold reads the whole fleet first (what the first
// viewer of each Interval pays), warm answers from the shared snapshot
// (what every other viewer pays). make test runs it at 500 boxes.
func BenchmarkDashboardFirstPage5000(b *testing.B) {
	st := countyFleet(b, testenv.BenchSize(5000, 500))
	a, err := auth.New(auth.Deps{Logger: slog.New(slog.DiscardHandler), Store: st, BcryptCost: bcrypt.MinCost})
	if err != nil {
		b.Fatal(err)
	}
	if err := a.AddUser(b.Context(), "viewer", "password-viewer", store.RoleViewer); err != nil {
		b.Fatal(err)
	}
	tok, _, err := a.Login(b.Context(), "viewer", "password-viewer", "127.0.0.1:1")
	if err != nil {
		b.Fatal(err)
	}
	con, err := New(Config{Interval: time.Hour}, Deps{Logger: slog.New(slog.DiscardHandler), Store: st, Auth: a})
	if err != nil {
		b.Fatal(err)
	}
	get := func(b *testing.B) int {
		req := httptest.NewRequest("GET", "/?sort=-problems", nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: tok})
		rec := httptest.NewRecorder()
		con.Handler().ServeHTTP(rec, req)
		if rec.Code != 200 || strings.Count(rec.Body.String(), `<tr data-box="v`) != 50 {
			b.Fatalf("dashboard: %d, %d rows", rec.Code, strings.Count(rec.Body.String(), `<tr data-box="v`))
		}
		return rec.Body.Len()
	}
	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			con.board.Invalidate()
			n = get(b)
		}
		b.ReportMetric(float64(n), "page-bytes")
	})
	b.Run("warm", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			n = get(b)
		}
		b.ReportMetric(float64(n), "page-bytes")
	})
}
