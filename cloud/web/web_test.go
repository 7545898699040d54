package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/protocol"
)

// fakeFleet stands in for cloud/fleet, which needs a broker.
type fakeFleet struct {
	st      store.Store
	timeout bool
}

func (f *fakeFleet) AddBox(ctx context.Context, id, name string) (store.Box, string, error) {
	if err := protocol.ValidateBoxID(id); err != nil {
		return store.Box{}, "", fmt.Errorf("%w: %v", fleet.ErrInvalid, err)
	}
	b := store.Box{ID: id, Name: name, CreatedAt: time.Now()}
	if err := f.st.CreateBox(ctx, b); err != nil {
		return store.Box{}, "", err
	}
	return b, "box_id: " + id + "\n", nil
}

func (f *fakeFleet) Rejected(string) uint64 { return 7 }

func (f *fakeFleet) SendCommand(ctx context.Context, box, typ string, _ json.RawMessage) (protocol.CommandResult, error) {
	if f.timeout {
		return protocol.CommandResult{}, context.DeadlineExceeded
	}
	return protocol.CommandResult{V: 1, ID: "c1", BoxID: box, OK: true, Data: json.RawMessage(`{"pong":1}`)}, nil
}

type env struct {
	srv    *httptest.Server
	st     store.Store
	fleet  *fakeFleet
	tokens map[store.Role]string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a, err := auth.New(auth.Deps{Store: st, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	fl := &fakeFleet{st: st}
	s, err := New(Deps{Store: st, Auth: a, Fleet: fl})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{srv: httptest.NewServer(s.Handler()), st: st, fleet: fl, tokens: map[store.Role]string{}}
	t.Cleanup(e.srv.Close)
	for _, r := range []store.Role{store.RoleAdmin, store.RoleOperator, store.RoleReviewer, store.RoleViewer} {
		if err := a.AddUser(t.Context(), string(r), "password-"+string(r), r); err != nil {
			t.Fatal(err)
		}
		var out struct{ Token string }
		if code := e.call(t, "", "POST", "/api/v1/login", fmt.Sprintf(`{"username":%q,"password":"password-%s"}`, r, r), &out); code != 200 {
			t.Fatalf("login %s: %d", r, code)
		}
		e.tokens[r] = out.Token
	}
	return e
}

func (e *env) call(t *testing.T, token, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			t.Errorf("%s %s: status %d without a JSON error: %s", method, path, resp.StatusCode, b)
		}
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
	}
	return resp.StatusCode
}

func TestStatuses(t *testing.T) {
	e := newEnv(t)
	admin, viewer, operator := e.tokens[store.RoleAdmin], e.tokens[store.RoleViewer], e.tokens[store.RoleOperator]
	if code := e.call(t, admin, "POST", "/api/v1/boxes", `{"id":"village-1","name":"一村"}`, nil); code != 201 {
		t.Fatalf("add box: %d", code)
	}
	cases := []struct {
		name, token, method, path, body string
		want                            int
	}{
		{"health needs no token", "", "GET", "/healthz", "", 200},
		{"no token", "", "GET", "/api/v1/boxes", "", 401},
		{"bad token", "nope", "GET", "/api/v1/boxes", "", 401},
		{"viewer lists boxes", viewer, "GET", "/api/v1/boxes", "", 200},
		{"viewer cannot add a box", viewer, "POST", "/api/v1/boxes", `{"id":"b","name":"x"}`, 403},
		{"operator cannot add a box", operator, "POST", "/api/v1/boxes", `{"id":"b","name":"x"}`, 403},
		{"viewer cannot send commands", viewer, "POST", "/api/v1/boxes/village-1/commands", `{"type":"ping"}`, 403},
		{"operator sends commands", operator, "POST", "/api/v1/boxes/village-1/commands", `{"type":"ping"}`, 200},
		{"command to unknown box", operator, "POST", "/api/v1/boxes/nobox/commands", `{"type":"ping"}`, 404},
		{"duplicate box", admin, "POST", "/api/v1/boxes", `{"id":"village-1","name":"again"}`, 409},
		{"invalid box id", admin, "POST", "/api/v1/boxes", `{"id":"Bad/Id","name":"x"}`, 400},
		{"unknown field", admin, "POST", "/api/v1/boxes", `{"id":"b2","name":"x","colour":"red"}`, 400},
		{"malformed JSON", admin, "POST", "/api/v1/boxes", `{"id":`, 400},
		{"trailing JSON", admin, "POST", "/api/v1/boxes", `{"id":"b3","name":"x"}{}`, 400},
		{"too big", admin, "POST", "/api/v1/boxes", `{"id":"b4","name":"` + strings.Repeat("x", maxBody) + `"}`, 413},
		{"unknown box", viewer, "GET", "/api/v1/boxes/nobox", "", 404},
		{"bad after", viewer, "GET", "/api/v1/boxes/village-1/events?after=-1", "", 400},
		{"limit too high", viewer, "GET", "/api/v1/boxes/village-1/events?limit=1001", "", 400},
		{"limit zero", viewer, "GET", "/api/v1/boxes/village-1/events?limit=0", "", 400},
		{"events of unknown box", viewer, "GET", "/api/v1/boxes/nobox/events", "", 404},
		{"unknown route", viewer, "GET", "/api/v1/nothing", "", 404},
		{"bad login", "", "POST", "/api/v1/login", `{"username":"admin","password":"wrong"}`, 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := e.call(t, c.token, c.method, c.path, c.body, nil); got != c.want {
				t.Errorf("status %d, want %d", got, c.want)
			}
		})
	}
	// Nothing half-saved: the refused adds left one box only.
	boxes, _ := e.st.ListBoxes(t.Context())
	if len(boxes) != 1 {
		t.Errorf("%d boxes stored after refused adds, want 1", len(boxes))
	}
	e.fleet.timeout = true
	if got := e.call(t, operator, "POST", "/api/v1/boxes/village-1/commands", `{"type":"ping"}`, nil); got != 504 {
		t.Errorf("command timeout: %d, want 504", got)
	}
}

func TestLoginRateLimited(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < auth.MaxFailures; i++ {
		e.call(t, "", "POST", "/api/v1/login", `{"username":"admin","password":"x"}`, nil)
	}
	if got := e.call(t, "", "POST", "/api/v1/login", `{"username":"admin","password":"password-admin"}`, nil); got != 429 {
		t.Fatalf("status %d, want 429", got)
	}
}

func TestBoxesAndEventPaging(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if err := e.st.CreateBox(ctx, store.Box{ID: "v1", Name: "一村", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// seqs 1..5 and 8..9: a gap the box will fill later.
	var evs []store.Event
	for _, q := range []uint64{1, 2, 3, 4, 5, 8, 9} {
		evs = append(evs, store.Event{BoxID: "v1", Seq: q, Time: time.Now(), Type: "t", Priority: 1, Data: []byte(`{"q":1}`), ReceivedAt: time.Now()})
	}
	if _, err := e.st.AppendEvents(ctx, "v1", 1, evs); err != nil {
		t.Fatal(err)
	}
	var boxes []boxJSON
	if e.call(t, e.tokens[store.RoleViewer], "GET", "/api/v1/boxes", "", &boxes) != 200 || len(boxes) != 1 {
		t.Fatalf("boxes: %+v", boxes)
	}
	if b := boxes[0]; b.ID != "v1" || b.Name != "一村" || b.Watermark != 5 || b.RejectedMessages != 7 {
		t.Errorf("box fields: %+v", b)
	}
	var seqs []uint64
	after := uint64(0)
	for {
		var page struct {
			Events    []eventJSON `json:"events"`
			NextAfter uint64      `json:"next_after"`
		}
		e.call(t, e.tokens[store.RoleViewer], "GET", fmt.Sprintf("/api/v1/boxes/v1/events?after=%d&limit=3", after), "", &page)
		if len(page.Events) == 0 {
			if page.NextAfter != after {
				t.Errorf("empty page next_after %d, want %d", page.NextAfter, after)
			}
			break
		}
		for _, ev := range page.Events {
			seqs = append(seqs, ev.Seq)
			if !bytes.Equal(ev.Data, []byte(`{"q":1}`)) {
				t.Errorf("data %s", ev.Data)
			}
		}
		after = page.NextAfter
	}
	if fmt.Sprint(seqs) != "[1 2 3 4 5 8 9]" {
		t.Errorf("paged seqs %v", seqs)
	}
}
