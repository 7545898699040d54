package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/media"
	"github.com/dalaba/dalaba/cloud/plan"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// BenchmarkBoxListFirstPage5000 asks GET /api/v1/boxes?limit=50 at a
// county of 5,000 boxes (each with a plan, every fifth with a window of
// reports): cold reads the whole fleet first, warm answers from the
// shared view. make test runs it at 500 boxes.
func BenchmarkBoxListFirstPage5000(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	now := time.Now()
	ids := make([]string, testenv.BenchSize(5000, 500))
	for i := range ids {
		ids[i] = fmt.Sprintf("v%05d", i)
		if err := e.st.CreateBox(ctx, store.Box{ID: ids[i], Name: fmt.Sprintf("村%d", i), Place: fmt.Sprintf("镇%d", i%10), Incarnation: 1, CreatedAt: now}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := e.st.UpdatePlans(ctx, ids, func(p *store.Plan) error {
		p.Broadcast.Speakers = []protocol.Speaker{{ID: "east", Driver: protocol.DriverRTP, Addr: "10.0.0.1:5004"}}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	health, _ := json.Marshal(protocol.Health{ClockTrusted: true, Clock: now, DiskFreeBytes: 8 << 30, DiskTotalBytes: 16 << 30})
	for i := 0; i < len(ids); i += 5 {
		evs := make([]store.Event, 128)
		for j := range evs {
			evs[j] = store.Event{Seq: uint64(j + 1), Time: now, Type: protocol.EventHealth, Data: health, ReceivedAt: now}
		}
		if _, err := e.st.AppendEvents(ctx, ids[i], store.Batch{Floor: 1, Events: evs}); err != nil {
			b.Fatal(err)
		}
	}
	get := func(b *testing.B) int {
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/boxes?limit=50&sort=-problems", nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		var p boxPage
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || json.Unmarshal(body, &p) != nil || len(p.Boxes) != 50 || p.Total != len(ids) {
			b.Fatalf("page: %d, %d boxes of %d", resp.StatusCode, len(p.Boxes), p.Total)
		}
		return len(body)
	}
	b.Run("cold", func(b *testing.B) {
		n := 0
		for b.Loop() {
			e.api.board.Invalidate()
			n = get(b)
		}
		b.ReportMetric(float64(n), "page-bytes")
	})
	b.Run("warm", func(b *testing.B) {
		n := 0
		for b.Loop() {
			n = get(b)
		}
		b.ReportMetric(float64(n), "page-bytes")
	})
}

type benchEnv struct {
	st    *boltstore.Store
	api   *Server
	srv   *httptest.Server
	token string
}

// newBenchEnv is the API on a fresh store with a viewer signed in.
func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	log := slog.New(slog.DiscardHandler)
	a, err := auth.New(auth.Deps{Logger: log, Store: st, BcryptCost: bcrypt.MinCost})
	if err != nil {
		b.Fatal(err)
	}
	key, err := protocol.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	fl, err := fleet.New(fleet.Config{Validity: 720 * time.Hour, BrokerURL: "tls://township.example:8883", CloudUser: "dalaba_cloud"},
		fleet.Deps{Logger: log, Store: st, Key: key, Publisher: &published{}})
	if err != nil {
		b.Fatal(err)
	}
	lib, err := media.New(media.Config{Dir: filepath.Join(b.TempDir(), "media"), MaxBytes: testMaxBytes},
		media.Deps{Logger: log, Index: st, Plans: st, BoxAuth: func(context.Context, string, string) (string, bool) { return "", false }})
	if err != nil {
		b.Fatal(err)
	}
	pl, err := plan.New(plan.Deps{Logger: log, Store: st, Fleet: fl})
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Deps{Logger: log, Store: st, Auth: a, Fleet: fl, Downlink: &fakeDownlink{}, Planner: pl, Media: lib})
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
	srv := httptest.NewServer(s.Handler())
	b.Cleanup(srv.Close)
	return &benchEnv{st: st, api: s, srv: srv, token: tok}
}
