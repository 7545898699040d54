package web

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/downlink"
	"github.com/dalaba/dalaba/cloud/enroll"
	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/media"
	"github.com/dalaba/dalaba/cloud/plan"
	"github.com/dalaba/dalaba/cloud/release"
	"github.com/dalaba/dalaba/cloud/rollout"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/protocol"
)

// published records the desired states the real fleet publishes.
type published struct {
	mu   sync.Mutex
	boxs []string
}

func (p *published) PublishDesired(_ context.Context, box string, _ []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.boxs = append(p.boxs, box)
	return nil
}

// fakeDownlink stands in for the MQTT side, which needs a broker (the
// cloud package's tests run the real one end to end).
type fakeDownlink struct {
	mu    sync.Mutex
	err   error // returned by SendCommand when set
	res   *protocol.CommandResult
	sent  []string
	waits []time.Duration // how long each SendCommand's context would have waited
	down  bool            // not connected to the broker
}

func (d *fakeDownlink) SendCommand(ctx context.Context, box, typ string, args any, ttl time.Duration) (protocol.CommandResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if dl, ok := ctx.Deadline(); ok {
		d.waits = append(d.waits, time.Until(dl))
	}
	if d.err != nil {
		return protocol.CommandResult{}, d.err
	}
	b, _ := json.Marshal(args) // args came from JSON
	d.sent = append(d.sent, fmt.Sprintf("%s %s %s %s", box, typ, b, ttl))
	if d.res != nil {
		return *d.res, nil
	}
	return protocol.CommandResult{V: 1, ID: "c1", BoxID: box, OK: true, Data: json.RawMessage(`{"pong":1}`)}, nil
}

func (d *fakeDownlink) Connected() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.down
}

func (d *fakeDownlink) Rejected(box string) uint64 {
	if box == "village-1" {
		return 7
	}
	return 0
}

type env struct {
	api    *Server
	clk    *clock
	fl     *fleet.Fleet
	key    ed25519.PrivateKey
	lib    *media.Library
	srv    *httptest.Server
	st     store.Store
	pub    *published
	dl     *fakeDownlink
	tokens map[store.Role]string
}

func newEnv(t *testing.T) *env { t.Helper(); return newEnvWith(t, nil) }

// newEnvWith is newEnv with its Deps changed by edit (nil: none).
func newEnvWith(t *testing.T, edit func(*Deps)) *env {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.DiscardHandler)
	a, err := auth.New(auth.Deps{Logger: log, Store: st, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	key, err := protocol.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pub := &published{}
	fl, err := fleet.New(fleet.Config{Validity: 720 * time.Hour, BrokerURL: "tls://township.example:8883", CloudUser: "dalaba_cloud"},
		fleet.Deps{Logger: log, Store: st, Key: key, Publisher: pub})
	if err != nil {
		t.Fatal(err)
	}
	dl := &fakeDownlink{}
	clk := &clock{t: time.Now()}
	authn, err := fleet.NewAuthenticator(st, "dalaba_cloud")
	if err != nil {
		t.Fatal(err)
	}
	lib, err := media.New(media.Config{Dir: filepath.Join(t.TempDir(), "media"), MaxBytes: testMaxBytes},
		media.Deps{Logger: log, Index: st, Plans: st, Now: clk.Now, BoxAuth: func(ctx context.Context, user, pass string) (string, bool) {
			id, ok := authn.Authenticate(ctx, user, []byte(pass))
			return id.Box, ok && id.Box != ""
		}})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := plan.New(plan.Deps{Logger: log, Store: st, Fleet: fl, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	en, err := enroll.New(enroll.Deps{Logger: log, Store: st, Fleet: fl, Now: clk.Now, TownshipURL: "https://township.example"})
	if err != nil {
		t.Fatal(err)
	}
	rels, ros := testUpdates(t, st, key, dl, clk.Now)
	deps := Deps{Logger: log, Store: st, Auth: a, Fleet: fl, Downlink: dl, Planner: pl, Media: lib, Now: clk.Now, Enroll: en, Releases: rels, Rollouts: ros, Jobs: runJobs(t, pl)}
	if edit != nil {
		edit(&deps)
	}
	s, err := New(deps)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(media.BoxPrefix, lib.BoxHandler())
	mux.Handle("/", s.Handler())
	e := &env{api: s, srv: httptest.NewServer(mux), st: st, pub: pub, dl: dl, tokens: map[store.Role]string{}, clk: clk, fl: fl, key: key, lib: lib}
	t.Cleanup(e.srv.Close)
	for _, r := range []store.Role{store.RoleAdmin, store.RoleOperator, store.RoleReviewer, store.RoleViewer} {
		if err := a.AddUser(t.Context(), string(r), "password-"+string(r), r); err != nil {
			t.Fatal(err)
		}
		var out struct {
			Token     string    `json:"token"`
			ExpiresAt time.Time `json:"expires_at"`
		}
		if code := e.call(t, "", "POST", "/api/v1/login", fmt.Sprintf(`{"username":%q,"password":"password-%s"}`, r, r), &out); code != 200 || out.Token == "" {
			t.Fatalf("login %s: %d %+v", r, code, out)
		}
		if d := time.Until(out.ExpiresAt); d < auth.TokenTTL-time.Minute || d > auth.TokenTTL {
			t.Fatalf("token of %s expires in %s, want %s", r, d, auth.TokenTTL)
		}
		e.tokens[r] = out.Token
	}
	return e
}

// call makes a request and checks that every error answer is a JSON
// {"error": "...", "code": "..."} (checkAnswer).
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
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") && resp.StatusCode != http.StatusNoContent {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	if resp.StatusCode >= 400 {
		checkProblem(t, method+" "+path, resp.StatusCode, b)
	}
	checkHeaders(t, method+" "+path, resp.Header)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
	}
	return resp.StatusCode
}

// internalNames are what an error message must not show: the packages'
// sentinels ("plan: invalid") and the operations an error passed through
// on its way out ("boltstore: update plan of x").
func internalNames() []string {
	names := []string{"boltstore:", "plan: update", "lists: create", "fleet: add"}
	for _, s := range sentinels() {
		names = append(names, s.err.Error())
	}
	return names
}

// checkProblem checks an error answer: JSON with a message that names no
// package, and a code of the table answered with the table's status.
func checkProblem(t *testing.T, what string, status int, body []byte) Problem {
	t.Helper()
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil || p.Error == "" {
		t.Errorf("%s: status %d without a JSON error: %s", what, status, body)
		return p
	}
	if want, ok := Codes()[p.Code]; !ok || want != status {
		t.Errorf("%s: status %d with code %q (the table says %d)", what, status, p.Code, want)
	}
	for _, n := range internalNames() {
		if strings.Contains(p.Error, n) {
			t.Errorf("%s: the message %q names %s", what, p.Error, n)
		}
	}
	return p
}

// checkHeaders checks what every API answer carries.
func checkHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q, want nosniff", what, got)
	}
}

func TestStatuses(t *testing.T) {
	e := newEnv(t)
	admin, viewer, operator, reviewer := e.tokens[store.RoleAdmin], e.tokens[store.RoleViewer], e.tokens[store.RoleOperator], e.tokens[store.RoleReviewer]
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
		{"no token for a box", "", "GET", "/api/v1/boxes/village-1", "", 401},
		{"no token for events", "", "GET", "/api/v1/boxes/village-1/events", "", 401},
		{"no token for commands", "", "POST", "/api/v1/boxes/village-1/commands", `{"type":"ping"}`, 401},
		{"no token to add a box", "", "POST", "/api/v1/boxes", `{"id":"b","name":"x"}`, 401},
		{"viewer lists boxes", viewer, "GET", "/api/v1/boxes", "", 200},
		{"reviewer lists boxes", reviewer, "GET", "/api/v1/boxes", "", 200},
		{"viewer cannot add a box", viewer, "POST", "/api/v1/boxes", `{"id":"b","name":"x"}`, 403},
		{"operator cannot add a box", operator, "POST", "/api/v1/boxes", `{"id":"b","name":"x"}`, 403},
		{"reviewer cannot add a box", reviewer, "POST", "/api/v1/boxes", `{"id":"b","name":"x"}`, 403},
		{"viewer cannot send commands", viewer, "POST", "/api/v1/boxes/village-1/commands", `{"type":"ping"}`, 403},
		{"reviewer cannot send commands", reviewer, "POST", "/api/v1/boxes/village-1/commands", `{"type":"ping"}`, 403},
		{"operator sends commands", operator, "POST", "/api/v1/boxes/village-1/commands", `{"type":"ping"}`, 200},
		{"admin sends commands", admin, "POST", "/api/v1/boxes/village-1/commands", `{"type":"ping","args":{"n":1}}`, 200},
		{"command to unknown box", operator, "POST", "/api/v1/boxes/nobox/commands", `{"type":"ping"}`, 404},
		{"command with unknown field", operator, "POST", "/api/v1/boxes/village-1/commands", `{"type":"ping","ttl":5}`, 400},
		{"duplicate box", admin, "POST", "/api/v1/boxes", `{"id":"village-1","name":"again"}`, 409},
		{"invalid box id", admin, "POST", "/api/v1/boxes", `{"id":"Bad/Id","name":"x"}`, 400},
		{"box id of the cloud's own account", admin, "POST", "/api/v1/boxes", `{"id":"dalaba_cloud","name":"x"}`, 400},
		{"empty name", admin, "POST", "/api/v1/boxes", `{"id":"b1","name":""}`, 400},
		{"unknown field", admin, "POST", "/api/v1/boxes", `{"id":"b2","name":"x","colour":"red"}`, 400},
		{"malformed JSON", admin, "POST", "/api/v1/boxes", `{"id":`, 400},
		{"not an object", admin, "POST", "/api/v1/boxes", `["b"]`, 400},
		{"trailing JSON", admin, "POST", "/api/v1/boxes", `{"id":"b3","name":"x"}{}`, 400},
		{"too big", admin, "POST", "/api/v1/boxes", `{"id":"b4","name":"` + strings.Repeat("x", MaxBody) + `"}`, 413},
		{"unknown box", viewer, "GET", "/api/v1/boxes/nobox", "", 404},
		{"bad after", viewer, "GET", "/api/v1/boxes/village-1/events?after=-1", "", 400},
		{"limit too high", viewer, "GET", "/api/v1/boxes/village-1/events?limit=1001", "", 400},
		{"limit zero", viewer, "GET", "/api/v1/boxes/village-1/events?limit=0", "", 400},
		{"limit not a number", viewer, "GET", "/api/v1/boxes/village-1/events?limit=ten", "", 400},
		{"events of unknown box", viewer, "GET", "/api/v1/boxes/nobox/events", "", 404},
		{"unknown route", viewer, "GET", "/api/v1/nothing", "", 404},
		{"wrong method", admin, "DELETE", "/api/v1/boxes", "", 405},
		{"bad login", "", "POST", "/api/v1/login", `{"username":"admin","password":"wrong"}`, 401},
		{"login with unknown field", "", "POST", "/api/v1/login", `{"username":"admin","password":"password-admin","otp":1}`, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := e.call(t, c.token, c.method, c.path, c.body, nil); got != c.want {
				t.Errorf("status %d, want %d", got, c.want)
			}
		})
	}
	// Nothing half-saved: the refused adds left one box, published once.
	boxes, _ := e.st.ListBoxes(t.Context())
	if len(boxes) != 1 || len(e.pub.boxs) != 1 {
		t.Errorf("%d boxes stored and %d desired states published after refused adds, want 1 and 1", len(boxes), len(e.pub.boxs))
	}
	want := []string{"village-1 ping null 15s", `village-1 ping {"n":1} 15s`}
	if fmt.Sprint(e.dl.sent) != fmt.Sprint(want) {
		t.Errorf("commands sent %q, want %q", e.dl.sent, want)
	}
}

func TestCommandFailures(t *testing.T) {
	e := newEnv(t)
	if err := e.st.CreateBox(t.Context(), store.Box{ID: "village-1", Name: "一村", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"box did not answer", fmt.Errorf("x: %w: %w", downlink.ErrNoResult, context.DeadlineExceeded), 504},
		{"broker down", fmt.Errorf("x: %w", downlink.ErrNotConnected), 503},
		{"bad command", fmt.Errorf("%w: type \"\"", downlink.ErrInvalidCommand), 400},
		{"anything else", fmt.Errorf("disk on fire"), 500},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.dl.mu.Lock()
			e.dl.err = c.err
			e.dl.mu.Unlock()
			if got := e.call(t, e.tokens[store.RoleOperator], "POST", "/api/v1/boxes/village-1/commands", `{"type":"ping"}`, nil); got != c.want {
				t.Errorf("status %d, want %d", got, c.want)
			}
		})
	}
}

func TestAddBoxReturnsEdgeConfig(t *testing.T) {
	e := newEnv(t)
	var out struct {
		Box        boxJSON `json:"box"`
		EdgeConfig string  `json:"edge_config"`
	}
	if code := e.call(t, e.tokens[store.RoleAdmin], "POST", "/api/v1/boxes", `{"id":"village-9","name":"九村"}`, &out); code != 201 {
		t.Fatalf("status %d", code)
	}
	if out.Box.ID != "village-9" || out.Box.Name != "九村" || out.Box.DesiredRev != 1 {
		t.Errorf("box %+v", out.Box)
	}
	var ec struct {
		BoxID  string `yaml:"box_id"`
		Broker struct {
			URL, Username, Password string
		} `yaml:"broker"`
	}
	if err := yaml.Unmarshal([]byte(out.EdgeConfig), &ec); err != nil {
		t.Fatal(err)
	}
	if ec.BoxID != "village-9" || ec.Broker.URL != "tls://township.example:8883" || ec.Broker.Username != "village-9" || ec.Broker.Password == "" {
		t.Errorf("edge config %+v", ec)
	}
	b, err := e.st.GetBox(t.Context(), "village-9")
	if err != nil || !bytes.Equal(b.SecretHash, fleet.SecretHash(ec.Broker.Password)) {
		t.Errorf("stored secret hash does not match the edge config's password (%v)", err)
	}
}

func TestLogoutEndsToken(t *testing.T) {
	e := newEnv(t)
	tok := e.tokens[store.RoleViewer]
	if got := e.call(t, tok, "POST", "/api/v1/logout", "", nil); got != 204 {
		t.Fatalf("logout: %d", got)
	}
	if got := e.call(t, tok, "GET", "/api/v1/boxes", "", nil); got != 401 {
		t.Fatalf("after logout: %d, want 401", got)
	}
}

func TestBoxesAndEventPaging(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if err := e.st.CreateBox(ctx, store.Box{ID: "village-1", Name: "一村", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// seqs 1..5 and 8..9: a gap the box will fill later.
	var evs []store.Event
	for _, q := range []uint64{1, 2, 3, 4, 5, 8, 9} {
		evs = append(evs, store.Event{BoxID: "village-1", Seq: q, Time: time.Now(), Type: "t", Priority: 1, Data: []byte(`{"q":1}`), ReceivedAt: time.Now()})
	}
	if _, err := e.st.AppendEvents(ctx, "village-1", store.Batch{Floor: 1, Events: evs}); err != nil {
		t.Fatal(err)
	}
	var boxes []boxJSON
	if e.call(t, e.tokens[store.RoleViewer], "GET", "/api/v1/boxes", "", &boxes) != 200 || len(boxes) != 1 {
		t.Fatalf("boxes: %+v", boxes)
	}
	if b := boxes[0]; b.ID != "village-1" || b.Name != "一村" || b.Watermark != 5 || b.RejectedMessages != 7 {
		t.Errorf("box fields: %+v", b)
	}
	var seqs []uint64
	after, pages := uint64(0), 0
	for {
		var page struct {
			Events    []eventJSON `json:"events"`
			NextAfter uint64      `json:"next_after"`
		}
		e.call(t, e.tokens[store.RoleViewer], "GET", fmt.Sprintf("/api/v1/boxes/village-1/events?after=%d&limit=3", after), "", &page)
		if len(page.Events) == 0 {
			if page.NextAfter != after {
				t.Errorf("empty page next_after %d, want %d", page.NextAfter, after)
			}
			break
		}
		pages++
		for _, ev := range page.Events {
			seqs = append(seqs, ev.Seq)
			if !bytes.Equal(ev.Data, []byte(`{"q":1}`)) || ev.Type != "t" || ev.Prio != 1 || ev.ReceivedAt.IsZero() {
				t.Errorf("event %+v", ev)
			}
		}
		after = page.NextAfter
	}
	if fmt.Sprint(seqs) != "[1 2 3 4 5 8 9]" || pages != 3 {
		t.Errorf("paged seqs %v in %d pages, want [1 2 3 4 5 8 9] in 3", seqs, pages)
	}
	var def struct{ Events []eventJSON }
	e.call(t, e.tokens[store.RoleViewer], "GET", "/api/v1/boxes/village-1/events", "", &def)
	if len(def.Events) != 7 {
		t.Errorf("default page has %d events, want all 7", len(def.Events))
	}
}

// testUpdates are the release library and the rollout engine (not run)
// over st.
func testUpdates(t *testing.T, st store.Store, key ed25519.PrivateKey, dl *fakeDownlink, now func() time.Time) (*release.Library, *rollout.Engine) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	rels, err := release.New(release.Config{Dir: filepath.Join(t.TempDir(), "releases")}, release.Deps{Logger: log, Store: st, Key: key,
		BoxAuth: func(context.Context, string, string) (string, bool) { return "", false }, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ros, err := rollout.New(rollout.Config{ReleaseURL: "http://township.example/releases/"}, rollout.Deps{Logger: log, Store: st, Sender: dl, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return rels, ros
}
