package web

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/plan"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/internal/testenv"
)

// health is /healthz's answer.
type health struct {
	OK bool `json:"ok"`
	Problem
}

func getHealth(t *testing.T, url string) (int, health) {
	t.Helper()
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatalf("healthz: %v", err)
	}
	checkHeaders(t, "GET /healthz", resp.Header)
	return resp.StatusCode, h
}

func fieldPaths(fs []Field) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Path+": "+f.Message)
	}
	return out
}

// TestHealthzSaysWhatIsWrong: ok while the store writes and the broker is
// there; 503 naming the broker when the MQTT connection is down, and the
// store when its disk is full (a real one: a small tmpfs filled up) or it
// cannot write at all (closed).
func TestHealthzSaysWhatIsWrong(t *testing.T) {
	e := newEnv(t)
	if code, h := getHealth(t, e.srv.URL); code != http.StatusOK || !h.OK {
		t.Fatalf("healthy service: %d %+v", code, h)
	}
	e.dl.mu.Lock()
	e.dl.down = true
	e.dl.mu.Unlock()
	code, h := getHealth(t, e.srv.URL)
	if code != http.StatusServiceUnavailable || h.OK || h.Code != CodeUnhealthy || len(h.Fields) != 1 || h.Fields[0].Path != "broker" {
		t.Fatalf("broker gone: %d %+v, want 503 naming the broker", code, h)
	}
	e.dl.mu.Lock()
	e.dl.down = false
	e.dl.mu.Unlock()

	// The same service on a store whose disk fills up.
	dir := testenv.SmallDisk(t, 2*boltstore.MinFree)
	st, err := boltstore.Open(filepath.Join(dir, "cloud.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.DiscardHandler)
	a, err := auth.New(auth.Deps{Logger: log, Store: st, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := plan.New(plan.Deps{Logger: log, Store: st, Fleet: e.fl})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Deps{Logger: log, Store: st, Auth: a, Fleet: e.fl, Downlink: e.dl, Planner: pl, Media: e.lib})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	if code, h := getHealth(t, srv.URL); code != http.StatusOK {
		t.Fatalf("before the disk fills: %d %+v", code, h)
	}
	unfill := testenv.Fill(t, dir)
	code, h = getHealth(t, srv.URL)
	if code != http.StatusServiceUnavailable || h.Code != CodeUnhealthy || len(h.Fields) != 1 || h.Fields[0].Path != "store" || h.Fields[0].Message != "the store's disk is full" {
		t.Fatalf("disk full: %d %v, want 503 with the store's disk full", code, fieldPaths(h.Fields))
	}
	unfill()
	if code, h := getHealth(t, srv.URL); code != http.StatusOK {
		t.Fatalf("once room is made: %d %v", code, fieldPaths(h.Fields))
	}

	// A store that cannot write at all, and the broker gone too: both.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	e.dl.mu.Lock()
	e.dl.down = true
	e.dl.mu.Unlock()
	code, h = getHealth(t, srv.URL)
	if got := fieldPaths(h.Fields); code != http.StatusServiceUnavailable || len(got) != 2 ||
		got[0] != "store: the store cannot write" || got[1] != "broker: not connected to the MQTT broker" {
		t.Fatalf("closed store, no broker: %d %v", code, got)
	}
}
