package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/plan"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/protocol"
)

// since is the trail after the first n records.
func (e *env) since(t *testing.T, n int) []store.AuditRecord {
	t.Helper()
	return e.trail(t)[n:]
}

func TestAuditRecordsEveryChange(t *testing.T) {
	e := newEnv(t)
	e.addBox(t)
	admin, op, viewer := e.tokens[store.RoleAdmin], e.tokens[store.RoleOperator], e.tokens[store.RoleViewer]
	clip := e.upload(t, "clip.wav", wavBytes(t, 1))
	wav := wavBytes(t, 2) // other bytes, so the upload is a new clip
	pad := strings.Repeat("x", auditBodyMax)
	type rec struct{ actor, action, village, target, after string }
	cases := []struct {
		name, token, method, path, ctype, body string
		want                                   int
		rec                                    *rec // nil: nothing recorded
	}{
		{"add a box", admin, "POST", "/api/v1/boxes", "application/json", `{"id":"village-2","name":"二村"}`, 201,
			&rec{"admin", "POST /api/v1/boxes", "", "/api/v1/boxes", `{"id":"village-2","name":"二村"}`}},
		{"play", op, "POST", "/api/v1/boxes/village-1/play", "application/json", fmt.Sprintf(`{"media":[%q]}`, clip.SHA256), 200,
			&rec{"operator", "POST /api/v1/boxes/{id}/play", "village-1", "/api/v1/boxes/village-1/play", fmt.Sprintf(`{"media":[%q]}`, clip.SHA256)}},
		{"volume, numbers as written", op, "POST", "/api/v1/boxes/village-1/volume", "", `{"zone":"all","volume":40}`, 200,
			&rec{"operator", "POST /api/v1/boxes/{id}/volume", "village-1", "/api/v1/boxes/village-1/volume", `{"volume":40,"zone":"all"}`}},
		{"a command", admin, "POST", "/api/v1/boxes/village-1/commands", "application/json", `{"type":"box.ping"}`, 200,
			&rec{"admin", "POST /api/v1/boxes/{id}/commands", "village-1", "/api/v1/boxes/village-1/commands", `{"type":"box.ping"}`}},
		{"a camera, its secrets removed", op, "PUT", "/api/v1/boxes/village-1/cameras/gate", "application/json",
			`{"name":"村口","url":"rtsp://192.168.1.64:554/live","username":"admin","password":"s3cret"}`, 200,
			&rec{"operator", "PUT /api/v1/boxes/{id}/cameras/{cid}", "village-1", "/api/v1/boxes/village-1/cameras/gate",
				`{"name":"村口","url":"rtsp://192.168.1.64:554/live","username":"admin"}`}},
		{"a body over 4 KiB: only its size", admin, "POST", "/api/v1/boxes/village-1/commands", "application/json",
			`{"type":"box.ping","args":{"pad":"` + pad + `"}}`, 200,
			&rec{"admin", "POST /api/v1/boxes/{id}/commands", "village-1", "/api/v1/boxes/village-1/commands",
				fmt.Sprintf(`{"content_type":"application/json","size":%d}`, len(pad)+37)}},
		{"an upload: name and size, never the bytes", op, "POST", "/api/v1/media?name=notice.wav", "audio/wav", string(wav), 201,
			&rec{"operator", "POST /api/v1/media", "", "/api/v1/media", fmt.Sprintf(`{"name":"notice.wav","sha256":%q,"size":%d}`, sha256hex(wav), len(wav))}},
		{"a camera removed: no body", op, "DELETE", "/api/v1/boxes/village-1/cameras/gate", "", "", 200,
			&rec{"operator", "DELETE /api/v1/boxes/{id}/cameras/{cid}", "village-1", "/api/v1/boxes/village-1/cameras/gate", ""}},
		{"refused: bad input", op, "POST", "/api/v1/boxes/village-1/play", "application/json", `{"media":[]}`, 400, nil},
		{"refused: role", viewer, "POST", "/api/v1/boxes/village-1/play", "application/json", fmt.Sprintf(`{"media":[%q]}`, clip.SHA256), 403, nil},
		{"refused: no token", "", "POST", "/api/v1/boxes/village-1/stop", "application/json", `{}`, 401, nil},
		{"refused: unknown box", op, "POST", "/api/v1/boxes/nowhere/stop", "application/json", `{}`, 404, nil},
		{"a read", viewer, "GET", "/api/v1/boxes/village-1", "", "", 200, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := len(e.trail(t))
			if code, b, _ := e.raw(t, c.token, c.method, c.path, c.ctype, []byte(c.body), nil); code != c.want {
				t.Fatalf("%d %s, want %d", code, b, c.want)
			}
			got := e.since(t, n)
			if c.rec == nil {
				if len(got) != 0 {
					t.Fatalf("recorded %+v, want nothing", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d records, want 1: %+v", len(got), got)
			}
			r := got[0]
			if r.Actor != c.rec.actor || r.Action != c.rec.action || r.Village != c.rec.village || r.Target != c.rec.target ||
				string(r.After) != c.rec.after || r.Before != nil || r.Time.IsZero() {
				t.Errorf("recorded %s %q %q %s after=%s before=%s;\nwant %+v", r.Actor, r.Action, r.Village, r.Target, r.After, r.Before, *c.rec)
			}
		})
	}
}

func TestAuditKeepsOnlyTheSizeOfAnOffer(t *testing.T) {
	e := newEnv(t)
	e.addBox(t)
	op, viewer := e.tokens[store.RoleOperator], e.tokens[store.RoleViewer]
	if code := e.call(t, op, "PUT", "/api/v1/boxes/village-1/cameras/gate", `{"url":"rtsp://192.168.1.64:554/live"}`, nil); code != 200 {
		t.Fatalf("PUT camera: %d", code)
	}
	e.dl.res = &protocol.CommandResult{V: 1, ID: "c", BoxID: "village-1", OK: true, Data: json.RawMessage(`{"session":"s-1","answer":"v=0\r\nanswer"}`)}
	n := len(e.trail(t))
	if code, b, _ := e.raw(t, viewer, "POST", "/api/v1/boxes/village-1/cameras/gate/whep", "application/sdp", []byte(offerSDP), nil); code != 201 {
		t.Fatalf("WHEP: %d %s", code, b)
	}
	got := e.since(t, n)
	want := fmt.Sprintf(`{"content_type":"application/sdp","size":%d}`, len(offerSDP))
	if len(got) != 1 || got[0].Action != "POST /api/v1/boxes/{id}/cameras/{cid}/whep" || got[0].Actor != "viewer" || string(got[0].After) != want {
		t.Fatalf("recorded %+v, want the viewer's WHEP with %s", got, want)
	}
}

func TestAuditSignInAndOut(t *testing.T) {
	e := newEnv(t)
	n := len(e.trail(t))
	code, tok := e.login(t, "operator", "password-operator")
	if code != 200 {
		t.Fatalf("login: %d", code)
	}
	if code, _ := e.login(t, "operator", "wrong-password"); code != 401 {
		t.Fatalf("wrong login: %d", code)
	}
	if code := e.call(t, tok, "POST", "/api/v1/logout", "", nil); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	got := e.since(t, n)
	var actions []string
	for _, r := range got {
		actions = append(actions, r.Actor+" "+r.Action)
		if s := string(r.Before) + string(r.After) + r.Note; strings.Contains(s, "password") || strings.Contains(s, tok) {
			t.Errorf("a secret in %+v", r)
		}
	}
	if want := []string{"operator login", "operator logout"}; !slices.Equal(actions, want) {
		t.Fatalf("recorded %v, want %v (once each, the failure not at all)", actions, want)
	}
}

func TestAuditLeavesListsToTheirService(t *testing.T) {
	e := newListsEnv(t)
	n := len(e.trail(t))
	e.do(t, operator1, "POST", "/api/v1/villages/village-1/households", `{"id":"h09","head":"赵大"}`, 201, nil)
	got := e.since(t, n)
	if len(got) != 1 || got[0].Action != "household.create" {
		t.Fatalf("recorded %+v, want the lists' own record only", got)
	}
}

// failingTrail is a store whose audit appends fail.
type failingTrail struct{ *boltstore.Store }

func (failingTrail) AppendAudit(context.Context, store.AuditRecord) (uint64, error) {
	return 0, errors.New("disk full")
}

// errorLog keeps the Error records logged.
type errorLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *errorLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelError }
func (l *errorLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *errorLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *errorLog) WithGroup(string) slog.Handler      { return l }

func TestAuditFailureIsLoggedAtError(t *testing.T) {
	e := newEnv(t)
	e.addBox(t)
	st := e.st.(*boltstore.Store)
	logs := &errorLog{}
	log := slog.New(logs)
	a, err := auth.New(auth.Deps{Logger: log, Store: st, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := plan.New(plan.Deps{Logger: log, Store: st, Fleet: e.fl})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Deps{Logger: log, Store: failingTrail{st}, Auth: a, Fleet: e.fl, Downlink: e.dl, Planner: pl, Media: e.lib})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	broken := &env{srv: srv, st: st, dl: e.dl}
	// The change was made, so it is answered as made.
	if code := broken.call(t, e.tokens[store.RoleOperator], "POST", "/api/v1/boxes/village-1/stop", `{}`, nil); code != 200 {
		t.Fatalf("stop: %d", code)
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if len(logs.msgs) != 1 || !strings.Contains(logs.msgs[0], "audit") {
		t.Fatalf("Error log %q, want one about the audit append", logs.msgs)
	}
}

func TestRecentAudit(t *testing.T) {
	e := newEnv(t)
	// The sign-ins of the four roles are records 1-4; 246 more make 250.
	for i := len(e.trail(t)); i < 250; i++ {
		if _, err := e.st.AppendAudit(t.Context(), store.AuditRecord{Time: time.Now(), Actor: "test", Action: fmt.Sprintf("act-%d", i+1)}); err != nil {
			t.Fatal(err)
		}
	}
	seqs := func(t *testing.T, token, query string) []uint64 {
		t.Helper()
		var out struct{ Records []auditJSON }
		if code := e.call(t, token, "GET", "/api/v1/audit/recent"+query, "", &out); code != 200 {
			t.Fatalf("recent%s: %d", query, code)
		}
		var s []uint64
		for _, r := range out.Records {
			s = append(s, r.Seq)
		}
		return s
	}
	want := func(from, to uint64) []uint64 {
		var s []uint64
		for q := from; q >= to; q-- {
			s = append(s, q)
		}
		return s
	}
	if got := seqs(t, e.tokens[store.RoleAdmin], ""); !slices.Equal(got, want(250, 151)) {
		t.Errorf("the latest 100: %v", got)
	}
	if got := seqs(t, e.tokens[store.RoleReviewer], "?limit=3"); !slices.Equal(got, want(250, 248)) {
		t.Errorf("the latest 3: %v", got)
	}
	if got := seqs(t, e.tokens[store.RoleAdmin], "?limit=1000"); !slices.Equal(got, want(250, 1)) {
		t.Errorf("more than there are: %d records", len(got))
	}
	for _, c := range []struct {
		token, query string
		want         int
	}{
		{e.tokens[store.RoleOperator], "", 403},
		{e.tokens[store.RoleViewer], "", 403},
		{e.tokens[store.RoleAdmin], "?limit=0", 400},
		{e.tokens[store.RoleAdmin], "?limit=1001", 400},
		{e.tokens[store.RoleAdmin], "?limit=many", 400},
	} {
		if code := e.call(t, c.token, "GET", "/api/v1/audit/recent"+c.query, "", nil); code != c.want {
			t.Errorf("recent%s: %d, want %d", c.query, code, c.want)
		}
	}
	// Without the lists, /api/v1/audit pages forward, for admin and reviewer.
	var page struct {
		Records   []auditJSON
		NextAfter uint64 `json:"next_after"`
	}
	if code := e.call(t, e.tokens[store.RoleReviewer], "GET", "/api/v1/audit?after=10&limit=5", "", &page); code != 200 {
		t.Fatalf("audit page: %d", code)
	}
	if len(page.Records) != 5 || page.Records[0].Seq != 11 || page.NextAfter != 15 {
		t.Errorf("page after 10: %+v", page)
	}
	if code := e.call(t, e.tokens[store.RoleViewer], "GET", "/api/v1/audit", "", nil); code != 403 {
		t.Errorf("viewer's audit page: %d, want 403", code)
	}
}

// TestLatestAudit: the recent trail is the newest records, whatever the
// trail's length.
func TestLatestAudit(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	top := uint64(0)
	for _, size := range []uint64{0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 100, 129} {
		for ; top < size; top++ {
			if _, err := st.AppendAudit(t.Context(), store.AuditRecord{Actor: "test", Action: "x"}); err != nil {
				t.Fatal(err)
			}
		}
		for _, n := range []int{1, 3, 100} {
			rs, err := st.ListAudit(t.Context(), store.AuditFilter{Limit: n, Last: true})
			if err != nil {
				t.Fatal(err)
			}
			wantLen := min(uint64(n), size)
			if uint64(len(rs)) != wantLen || (size > 0 && (rs[len(rs)-1].Seq != size || rs[0].Seq != size-wantLen+1)) {
				var got []uint64
				for _, r := range rs {
					got = append(got, r.Seq)
				}
				t.Errorf("trail of %d, latest %d: %v", size, n, got)
			}
		}
	}
}

// The record's JSON keeps the keys a client reads.
func TestAuditJSONShape(t *testing.T) {
	b, err := json.Marshal(toAuditJSON([]store.AuditRecord{{Seq: 3, Actor: "admin", Action: "POST /api/v1/boxes", Target: "/api/v1/boxes"}}))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"seq":3`, `"time":`, `"actor":"admin"`, `"action":"POST /api/v1/boxes"`, `"target":"/api/v1/boxes"`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("%s lacks %s", b, k)
		}
	}
}

func sha256hex(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func TestWithoutSecrets(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"flat", `{"name":"x","password":"p"}`, `{"name":"x"}`},
		{"any case and spelling", `{"Password":"p","new_passwd":"p","apiToken":"t","client_secret":"s","credential":"c","keep":1}`, `{"keep":1}`},
		{"nested in arrays", `{"ice_servers":[{"urls":["turn:x"],"username":"u","credential":"c"}]}`, `{"ice_servers":[{"urls":["turn:x"],"username":"u"}]}`},
		{"a password in a URL", `{"url":"rtsp://admin:hunter22@cam.local/live"}`, `{"url":"rtsp://admin:xxxxx@cam.local/live"}`},
		{"a URL with a user only", `{"url":"rtsp://admin@cam.local/live"}`, `{"url":"rtsp://admin@cam.local/live"}`},
		{"big numbers as written", `{"n":12345678901234567890}`, `{"n":12345678901234567890}`},
		{"not an object", `[1,"a"]`, `[1,"a"]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := string(withoutSecrets([]byte(c.in))); got != c.want {
				t.Errorf("withoutSecrets(%s) = %s, want %s", c.in, got, c.want)
			}
		})
	}
}
