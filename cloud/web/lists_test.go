package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/enroll"
	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/media"
	"github.com/dalaba/dalaba/cloud/plan"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/protocol"
)

// announcer records what the lists announce; err, when set, fails calls.
type announcer struct {
	mu    sync.Mutex
	err   error
	calls []announced
}

type announced struct{ village, period, text string }

func (a *announcer) Announce(_ context.Context, village, period, text string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, announced{village, period, text})
	return a.err
}

func (a *announcer) fail(err error) { a.mu.Lock(); defer a.mu.Unlock(); a.err = err }

func (a *announcer) all() []announced {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls)
}

// listsEnv is the API with the lists on a real bbolt file, users by name.
type listsEnv struct {
	*env
	ann  *announcer
	user map[string]string // name → token
	errs *errorLog         // what the server logged at Error
	api  *Server
}

// The township's people in these tests.
const (
	operator1 = "张会计"
	operator2 = "刘干事"
	reviewer1 = "李评委"
	reviewer2 = "王评委"
	viewer1   = "赵村民"
	admin1    = "admin"
	// supervisor1 is on the supervision team (监督队).
	supervisor1 = "孙监督"
)

// november is inside the period the tests publish.
var november = time.Date(2026, 11, 10, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

func newListsEnv(t *testing.T) *listsEnv { t.Helper(); return newListsEnvWith(t, nil) }

// newListsEnvWith is newListsEnv with a speech engine for typed
// announcements (nil: none).
func newListsEnvWith(t *testing.T, speech Speech) *listsEnv {
	t.Helper()
	return newListsEnvConfig(t, speech, lists.Config{}, lists.Deps{})
}

// newListsEnvConfig is newListsEnvWith with the lists' config and deps
// (Logger, Store, Announcer and Now are the env's).
func newListsEnvConfig(t *testing.T, speech Speech, cfg lists.Config, deps lists.Deps) *listsEnv {
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
	clk := &clock{t: november}
	lib, err := media.New(media.Config{Dir: filepath.Join(t.TempDir(), "media"), MaxBytes: testMaxBytes},
		media.Deps{Logger: log, Index: st, Plans: st, Now: clk.Now, BoxAuth: func(context.Context, string, string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := plan.New(plan.Deps{Logger: log, Store: st, Fleet: fl, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ann := &announcer{}
	deps.Logger, deps.Store, deps.Announcer, deps.Now = log, st, ann, clk.Now
	ls, err := lists.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	dl := &fakeDownlink{}
	errs := &errorLog{}
	en, err := enroll.New(enroll.Deps{Logger: log, Store: st, Fleet: fl, Now: clk.Now, TownshipURL: "https://township.example"})
	if err != nil {
		t.Fatal(err)
	}
	rels, ros := testUpdates(t, st, key, dl, clk.Now)
	s, err := New(Deps{Logger: slog.New(errs), Store: st, Auth: a, Fleet: fl, Downlink: dl, Planner: pl, Media: lib, Lists: ls, Speech: speech, Now: clk.Now, Enroll: en, Releases: rels, Rollouts: ros, Jobs: runJobs(t, pl)})
	if err != nil {
		t.Fatal(err)
	}
	e := &listsEnv{
		env: &env{srv: httptest.NewServer(s.Handler()), st: st, pub: pub, dl: dl, tokens: map[store.Role]string{}, clk: clk, fl: fl, key: key, lib: lib},
		ann: ann, user: map[string]string{}, errs: errs, api: s,
	}
	t.Cleanup(e.srv.Close)
	for name, role := range map[string]store.Role{
		operator1: store.RoleOperator, operator2: store.RoleOperator, reviewer1: store.RoleReviewer,
		reviewer2: store.RoleReviewer, viewer1: store.RoleViewer, admin1: store.RoleAdmin, supervisor1: store.RoleSupervisor,
	} {
		if err := a.AddUser(t.Context(), name, "password-1234", role); err != nil {
			t.Fatal(err)
		}
		var out struct{ Token string }
		if code := e.call(t, "", "POST", "/api/v1/login", fmt.Sprintf(`{"username":%q,"password":"password-1234"}`, name), &out); code != 200 {
			t.Fatalf("login %s: %d", name, code)
		}
		e.user[name] = out.Token
	}
	if _, _, err := fl.AddBox(t.Context(), "village-1", "幸福村"); err != nil {
		t.Fatal(err)
	}
	return e
}

// do calls as user and fails the test unless the status is want.
func (e *listsEnv) do(t *testing.T, user, method, path, body string, want int, out any) {
	t.Helper()
	if code := e.call(t, e.user[user], method, path, body, out); code != want {
		code2, b, _ := e.raw(t, e.user[user], method, path, "application/json", []byte(body), nil)
		t.Fatalf("%s %s %s as %s: %d, want %d (again: %d %s)", method, path, body, user, code, want, code2, b)
	}
}

// registers adds two households and three persons to village-1.
func (e *listsEnv) registers(t *testing.T) {
	t.Helper()
	for _, h := range []string{`{"id":"h01","head":"张大山"}`, `{"id":"h02","head":"李秀英"}`, `{"id":"h03","head":"王老五"}`} {
		e.do(t, operator1, "POST", "/api/v1/villages/village-1/households", h, 201, nil)
	}
	for _, p := range []string{`{"id":"p1","name":"张小明","household":"h01"}`, `{"id":"p2","name":"李四","household":"h02"}`, `{"id":"p3","name":"王二","household":"h03"}`} {
		e.do(t, operator1, "POST", "/api/v1/villages/village-1/persons", p, 201, nil)
	}
}

// entry writes a draft as user and returns its id.
func (e *listsEnv) entry(t *testing.T, user, body string) uint64 {
	t.Helper()
	var v lists.EntryView
	e.do(t, user, "POST", "/api/v1/villages/village-1/entries", body, 201, &v)
	if v.Status != store.StatusDraft || v.Revision != 1 || v.Author != user {
		t.Fatalf("new entry = %+v", v)
	}
	return v.ID
}

// approve takes entry id through review by both reviewers.
func (e *listsEnv) approve(t *testing.T, author string, id uint64) {
	t.Helper()
	e.do(t, author, "POST", fmt.Sprintf("/api/v1/entries/%d/submit", id), "", 200, nil)
	e.do(t, reviewer1, "POST", fmt.Sprintf("/api/v1/entries/%d/approve", id), `{"note":"属实"}`, 200, nil)
	e.do(t, reviewer2, "POST", fmt.Sprintf("/api/v1/entries/%d/approve", id), "", 200, nil)
}

func TestListsWorkflow(t *testing.T) {
	e := newListsEnv(t)
	e.registers(t)
	red := e.entry(t, operator1, `{"kind":"red","subject":{"kind":"person","id":"p1"},"category":"孝老爱亲","reason":"悉心照料瘫痪的奶奶十年。","period":"2026-11"}`)
	black := e.entry(t, operator1, `{"kind":"black","subject":{"kind":"household","id":"h02"},"category":"人居环境整治","reason":"门前乱堆柴草，占用道路","period":"2026-11","points":-8,"evidence":"11月3日照片两张"}`)
	black2 := e.entry(t, operator1, `{"kind":"black","subject":{"kind":"person","id":"p3"},"category":"移风易俗","reason":"大操大办酒席","period":"2026-11"}`)

	for _, id := range []uint64{red, black, black2} {
		var v lists.EntryView
		e.do(t, operator1, "POST", fmt.Sprintf("/api/v1/entries/%d/submit", id), "", 200, &v)
		if v.Status != store.StatusInReview {
			t.Fatalf("submitted entry %d is %s", id, v.Status)
		}
	}
	// An admin who wrote nothing may review; the author may not, whatever
	// the role.
	e.do(t, admin1, "PUT", fmt.Sprintf("/api/v1/entries/%d", black2), `{"kind":"black","subject":{"kind":"person","id":"p3"},"category":"移风易俗","reason":"大操大办婚宴","period":"2026-11"}`, 200, nil)
	e.do(t, admin1, "POST", fmt.Sprintf("/api/v1/entries/%d/submit", black2), "", 200, nil)
	code, body, _ := e.raw(t, e.user[admin1], "POST", fmt.Sprintf("/api/v1/entries/%d/approve", black2), "application/json", nil, nil)
	if code != 403 || !strings.Contains(string(body), "cannot approve") {
		t.Fatalf("the editor approving their own entry: %d %s; want 403 saying they cannot approve", code, body)
	}
	code, body, _ = e.raw(t, e.user[operator1], "POST", fmt.Sprintf("/api/v1/entries/%d/approve", red), "application/json", nil, nil)
	if code != 403 {
		t.Fatalf("an operator approving: %d %s", code, body)
	}
	e.do(t, admin1, "POST", fmt.Sprintf("/api/v1/entries/%d/approve", red), "", 200, nil)
	e.do(t, admin1, "POST", fmt.Sprintf("/api/v1/entries/%d/approve", red), "", 409, nil) // twice by one reviewer
	var v lists.EntryView
	e.do(t, reviewer1, "POST", fmt.Sprintf("/api/v1/entries/%d/approve", red), "", 200, &v)
	if v.Status != store.StatusApproved || len(v.Approvals) != 2 {
		t.Fatalf("after two approvals: %+v", v)
	}
	e.do(t, reviewer1, "POST", fmt.Sprintf("/api/v1/entries/%d/approve", black), "", 200, &v)
	if v.Status != store.StatusInReview {
		t.Fatalf("after one approval of two: %s", v.Status)
	}
	e.do(t, reviewer2, "POST", fmt.Sprintf("/api/v1/entries/%d/approve", black), "", 200, nil)
	e.do(t, reviewer1, "POST", fmt.Sprintf("/api/v1/entries/%d/approve", black2), "", 200, nil)
	e.do(t, reviewer2, "POST", fmt.Sprintf("/api/v1/entries/%d/approve", black2), "", 200, nil)

	var pub lists.Published
	e.do(t, operator2, "POST", "/api/v1/villages/village-1/lists/2026-11/publish", "", 200, &pub)
	if len(pub.Entries) != 3 {
		t.Fatalf("published %d entries, want 3", len(pub.Entries))
	}
	calls := e.ann.all()
	if len(calls) != 1 || calls[0].village != "village-1" || calls[0].period != "2026-11" {
		t.Fatalf("announcements after publish = %+v", calls)
	}
	text := calls[0].text
	want := []string{"幸福村", "2026年11月", "红榜", "张小明", "悉心照料瘫痪的奶奶十年", "黑榜", "李秀英户", "王二"}
	rest := text
	for _, w := range want {
		_, after, ok := strings.Cut(rest, w)
		if !ok {
			t.Fatalf("announcement lacks %q after the words before it (red first, then black):\n%s", w, text)
		}
		rest = after
	}
	if pub.Text != text || strings.Contains(text, "。。") {
		t.Fatalf("publish answered text %q, announced %q", pub.Text, text)
	}
	e.do(t, operator1, "PUT", fmt.Sprintf("/api/v1/entries/%d", black), `{"kind":"black","subject":{"kind":"household","id":"h02"},"category":"人居环境整治","reason":"改","period":"2026-11"}`, 409, nil)
	e.do(t, reviewer1, "POST", fmt.Sprintf("/api/v1/entries/%d/revoke", red), `{"note":"红榜不撤销"}`, 409, nil)
	e.do(t, reviewer1, "POST", fmt.Sprintf("/api/v1/entries/%d/revoke", black), `{}`, 400, nil)

	e.do(t, reviewer1, "POST", fmt.Sprintf("/api/v1/entries/%d/revoke", black), `{"note":"柴草已清理，道路已畅通"}`, 200, &v)
	if v.Status != store.StatusRevoked || v.RevokeNote != "柴草已清理，道路已畅通" {
		t.Fatalf("revoked entry = %+v", v)
	}
	calls = e.ann.all()
	if len(calls) != 2 || strings.Contains(calls[1].text, "李秀英") || !strings.Contains(calls[1].text, "王二") || !strings.Contains(calls[1].text, "张小明") {
		t.Fatalf("announcement after revocation = %+v", calls)
	}

	var list lists.ListView
	e.do(t, viewer1, "GET", "/api/v1/villages/village-1/lists/2026-11", "", 200, &list)
	if len(list.Red) != 1 || list.Red[0].Name != "张小明" || list.Red[0].Household != "h01" || list.Red[0].HouseholdHead != "张大山" ||
		len(list.Black) != 1 || list.Black[0].Name != "王二" || list.Black[0].Points != -5 || list.Text != calls[1].text || list.VillageName != "幸福村" {
		t.Fatalf("published list = %+v", list)
	}

	// The trail holds every step of the black entry, in order, each
	// with its before and after.
	var audit struct {
		Records []auditJSON `json:"records"`
	}
	// Its history: for the panel and the office, not for every viewer.
	e.do(t, viewer1, "GET", fmt.Sprintf("/api/v1/entries/%d/history", black), "", 403, nil)
	e.do(t, viewer1, "GET", fmt.Sprintf("/api/v1/audit?entry=%d", black), "", 403, nil)
	e.do(t, operator2, "GET", fmt.Sprintf("/api/v1/entries/%d/history", black), "", 200, &audit)
	var actions []string
	for i, r := range audit.Records {
		actions = append(actions, r.Action+" "+r.Actor)
		if len(r.After) == 0 || (i > 0 && len(r.Before) == 0) || r.Village != "village-1" {
			t.Errorf("record %+v lacks before/after or village", r)
		}
		if i > 0 && r.Seq <= audit.Records[i-1].Seq {
			t.Errorf("records out of order: %d after %d", r.Seq, audit.Records[i-1].Seq)
		}
	}
	wantActions := []string{"entry.create 张会计", "entry.submit 张会计", "entry.approve 李评委", "entry.approve 王评委", "entry.publish 刘干事", "entry.revoke 李评委"}
	if !slices.Equal(actions, wantActions) {
		t.Fatalf("audit of entry %d:\n got %v\nwant %v", black, actions, wantActions)
	}
	last := audit.Records[len(audit.Records)-1]
	if !strings.Contains(string(last.Before), `"status":"published"`) || !strings.Contains(string(last.After), `"status":"revoked"`) || last.Note != "柴草已清理，道路已畅通" {
		t.Fatalf("revoke record = %+v", last)
	}
	// The whole village's trail has the registers and both announcements.
	e.do(t, reviewer2, "GET", "/api/v1/audit?village=village-1&limit=1000", "", 200, &audit)
	var announces int
	for i, r := range audit.Records {
		if r.Seq != audit.Records[0].Seq+uint64(i) { // the sign-ins come first
			t.Fatalf("village trail seq %d at %d: not contiguous", r.Seq, i)
		}
		if r.Action == "list.announce" {
			announces++
		}
	}
	if announces != 2 || audit.Records[0].Action != "household.create" {
		t.Fatalf("village trail: %d announcements, first %q", announces, audit.Records[0].Action)
	}

	// After November the entries read as expired and re-announcing
	// withdraws the text.
	e.clk.Set(time.Date(2026, 12, 1, 0, 0, 0, 0, november.Location()))
	e.do(t, viewer1, "GET", fmt.Sprintf("/api/v1/entries/%d", red), "", 200, &v)
	if v.Status != store.StatusExpired {
		t.Fatalf("a November entry on 1 December is %s, want expired", v.Status)
	}
	var out struct{ Text string }
	e.do(t, operator1, "POST", "/api/v1/villages/village-1/lists/2026-11/announce", "", 200, &out)
	if calls = e.ann.all(); out.Text != "" || len(calls) != 3 || calls[2].text != "" {
		t.Fatalf("announce after the period: %q, calls %+v; want the empty text", out.Text, calls)
	}
	e.do(t, operator1, "POST", "/api/v1/villages/village-1/lists/2026-11/publish", "", 409, nil)
}

func TestListsEditSendsApprovedBackToDraft(t *testing.T) {
	e := newListsEnv(t)
	e.registers(t)
	body := `{"kind":"red","subject":{"kind":"household","id":"h01"},"category":"厕所革命","reason":"率先完成改厕","period":"2026-11"}`
	id := e.entry(t, operator1, body)
	e.approve(t, operator1, id)
	var v lists.EntryView
	e.do(t, operator1, "GET", fmt.Sprintf("/api/v1/entries/%d", id), "", 200, &v)
	if v.Status != store.StatusApproved {
		t.Fatalf("status %s, want approved", v.Status)
	}
	edited := `{"kind":"red","subject":{"kind":"household","id":"h01"},"category":"厕所革命","reason":"率先完成改厕并带动邻里","period":"2026-11","revision":%d}`
	e.do(t, operator2, "PUT", fmt.Sprintf("/api/v1/entries/%d", id), fmt.Sprintf(edited, v.Revision-1), 409, nil) // stale
	e.do(t, operator2, "PUT", fmt.Sprintf("/api/v1/entries/%d", id), fmt.Sprintf(edited, v.Revision), 200, &v)
	if v.Status != store.StatusDraft || len(v.Approvals) != 0 || !slices.Equal(v.Editors, []string{operator1, operator2}) {
		t.Fatalf("edited approved entry = %+v; want a draft without approvals, edited by both", v)
	}
	e.do(t, operator1, "POST", "/api/v1/villages/village-1/lists/2026-11/publish", "", 409, nil) // nothing approved
	// Rejection also sends it back, with the reason.
	e.do(t, operator2, "POST", fmt.Sprintf("/api/v1/entries/%d/submit", id), "", 200, nil)
	e.do(t, reviewer1, "POST", fmt.Sprintf("/api/v1/entries/%d/approve", id), "", 200, nil)
	e.do(t, reviewer2, "POST", fmt.Sprintf("/api/v1/entries/%d/reject", id), `{"reason":"证据不足"}`, 200, &v)
	if v.Status != store.StatusDraft || v.RejectReason != "证据不足" || len(v.Approvals) != 0 {
		t.Fatalf("rejected entry = %+v", v)
	}
	var audit struct {
		Records []auditJSON `json:"records"`
	}
	e.do(t, operator1, "GET", fmt.Sprintf("/api/v1/entries/%d/history", id), "", 200, &audit)
	var upd auditJSON
	for _, r := range audit.Records {
		if r.Action == "entry.update" {
			upd = r
		}
	}
	if !strings.Contains(string(upd.Before), `"status":"approved"`) || !strings.Contains(string(upd.After), `"status":"draft"`) || !strings.Contains(upd.Note, "2 approvals cleared") {
		t.Fatalf("update record = %+v", upd)
	}
}

func TestListsRoles(t *testing.T) {
	e := newListsEnv(t)
	e.registers(t)
	body := `{"kind":"red","subject":{"kind":"person","id":"p1"},"category":"孝老爱亲","reason":"照顾老人","period":"2026-11"}`
	id := e.entry(t, operator1, body)
	e.do(t, operator1, "POST", fmt.Sprintf("/api/v1/entries/%d/submit", id), "", 200, nil)
	cases := []struct {
		name, user, method, path, body string
		want                           int
	}{
		{"viewer creates an entry", viewer1, "POST", "/api/v1/villages/village-1/entries", body, 403},
		{"viewer approves", viewer1, "POST", fmt.Sprintf("/api/v1/entries/%d/approve", id), "", 403},
		{"viewer rejects", viewer1, "POST", fmt.Sprintf("/api/v1/entries/%d/reject", id), `{"reason":"不行"}`, 403},
		{"viewer adds a household", viewer1, "POST", "/api/v1/villages/village-1/households", `{"id":"h09","head":"某某"}`, 403},
		{"viewer puts categories", viewer1, "PUT", "/api/v1/villages/village-1/categories", `{"categories":[{"name":"x","red":1,"black":-1}]}`, 403},
		{"viewer publishes", viewer1, "POST", "/api/v1/villages/village-1/lists/2026-11/publish", "", 403},
		{"reviewer writes an entry", reviewer1, "POST", "/api/v1/villages/village-1/entries", body, 403},
		{"reviewer publishes", reviewer1, "POST", "/api/v1/villages/village-1/lists/2026-11/publish", "", 403},
		{"viewer reads entries", viewer1, "GET", "/api/v1/entries?village=village-1", "", 200},
		{"viewer reads the list", viewer1, "GET", "/api/v1/villages/village-1/lists/2026-11", "", 200},
		{"no token", "", "GET", "/api/v1/entries", "", 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { e.do(t, c.user, c.method, c.path, c.body, c.want, nil) })
	}
	var v lists.EntryView
	e.do(t, viewer1, "GET", fmt.Sprintf("/api/v1/entries/%d", id), "", 200, &v)
	if v.Status != store.StatusInReview || len(v.Approvals) != 0 || v.Revision != 2 {
		t.Fatalf("refused calls changed the entry: %+v", v)
	}
}

func TestListsBadInput(t *testing.T) {
	e := newListsEnv(t)
	e.registers(t)
	entry := func(mod func(m map[string]string)) string {
		m := map[string]string{"kind": `"black"`, "subject": `{"kind":"person","id":"p2"}`, "category": `"平安家庭"`, "reason": `"邻里纠纷动手打人"`, "period": `"2026-11"`}
		mod(m)
		var parts []string
		for _, k := range []string{"kind", "subject", "category", "reason", "period", "points", "evidence", "extra"} {
			if v, ok := m[k]; ok {
				parts = append(parts, fmt.Sprintf("%q:%s", k, v))
			}
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	set := func(k, v string) func(map[string]string) { return func(m map[string]string) { m[k] = v } }
	long := func(n int) string { return `"` + strings.Repeat("很", n) + `"` }
	entries := "/api/v1/villages/village-1/entries"
	cases := []struct {
		name, path, body, field string
		want                    int
	}{
		{"wrong kind", entries, entry(set("kind", `"grey"`)), "kind", 400},
		{"empty reason", entries, entry(set("reason", `""`)), "reason", 400},
		{"overlong reason", entries, entry(set("reason", long(201))), "reason", 400},
		{"control character in the reason", entries, entry(set("reason", `"打人\n骂人"`)), "reason", 400},
		{"overlong evidence", entries, entry(set("evidence", long(501))), "evidence", 400},
		{"unknown category", entries, entry(set("category", `"乱扔垃圾"`)), "category", 400},
		{"unknown person", entries, entry(set("subject", `{"kind":"person","id":"p99"}`)), "subject.id", 400},
		{"unknown household", entries, entry(set("subject", `{"kind":"household","id":"h99"}`)), "subject.id", 400},
		{"unknown subject kind", entries, entry(set("subject", `{"kind":"dog","id":"p1"}`)), "subject.kind", 400},
		{"bad period", entries, entry(set("period", `"2026-13"`)), "period", 400},
		{"period without zero", entries, entry(set("period", `"2026-1"`)), "period", 400},
		{"points out of range", entries, entry(set("points", `-101`)), "points", 400},
		{"black points above zero", entries, entry(set("points", `5`)), "points", 400},
		{"unknown field", entries, entry(set("extra", `1`)), "unknown field", 400},
		{"unknown village", "/api/v1/villages/village-9/entries", entry(func(map[string]string) {}), "", 404},
		{"empty head", "/api/v1/villages/village-1/households", `{"id":"h09","head":""}`, "head", 400},
		{"overlong head", "/api/v1/villages/village-1/households", `{"id":"h09","head":` + long(33) + `}`, "head", 400},
		{"bad household id", "/api/v1/villages/village-1/households", `{"id":"H 9","head":"某某"}`, "id", 400},
		{"taken household id", "/api/v1/villages/village-1/households", `{"id":"h01","head":"某某"}`, "exists", 409},
		{"person of an unknown household", "/api/v1/villages/village-1/persons", `{"id":"p9","name":"某某","household":"h99"}`, "household", 400},
		{"person name with a tab", "/api/v1/villages/village-1/persons", `{"id":"p9","name":"某\t某","household":"h01"}`, "name", 400},
		{"category points out of range", "/api/v1/villages/village-1/categories", `{"categories":[{"name":"植树","red":101,"black":-5}]}`, "red", 400},
		{"duplicate category", "/api/v1/villages/village-1/categories", `{"categories":[{"name":"植树","red":1,"black":-5},{"name":"植树","red":1,"black":-5}]}`, "twice", 400},
		{"no categories", "/api/v1/villages/village-1/categories", `{"categories":[]}`, "categories", 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method := "POST"
			if strings.HasSuffix(c.path, "categories") {
				method = "PUT"
			}
			code, body, _ := e.raw(t, e.user[operator1], method, c.path, "application/json", []byte(c.body), nil)
			if code != c.want || !strings.Contains(string(body), c.field) {
				t.Fatalf("%s: %d %s; want %d naming %q", c.body, code, body, c.want, c.field)
			}
		})
	}
	// Nothing of it was saved: no entries, the registers and categories as
	// they were, and the trail holds only the registers.
	var es []lists.EntryView
	e.do(t, viewer1, "GET", "/api/v1/entries", "", 200, &es)
	var hs []lists.HouseholdView
	e.do(t, viewer1, "GET", "/api/v1/villages/village-1/households", "", 200, &hs)
	var cats struct{ Categories []lists.CategoryView }
	e.do(t, viewer1, "GET", "/api/v1/villages/village-1/categories", "", 200, &cats)
	var audit struct{ Records []auditJSON }
	e.do(t, admin1, "GET", "/api/v1/audit?village=village-1", "", 200, &audit) // the village's: sign-ins are in the trail too
	if len(es) != 0 || len(hs) != 3 || hs[0].Head != "张大山" || len(hs[0].Members) != 1 || len(cats.Categories) != 6 || len(audit.Records) != 6 {
		t.Fatalf("after refusals: %d entries, households %+v, %d categories, %d audit records", len(es), hs, len(cats.Categories), len(audit.Records))
	}
	for _, q := range []string{"?status=done", "?kind=grey", "?period=11-2026"} {
		e.do(t, viewer1, "GET", "/api/v1/entries"+q, "", 400, nil)
	}
	e.do(t, viewer1, "GET", "/api/v1/villages/village-1/lists/2026-13", "", 400, nil)
	e.do(t, viewer1, "GET", "/api/v1/entries/abc", "", 400, nil)
	e.do(t, viewer1, "GET", "/api/v1/entries/77", "", 404, nil)
	e.do(t, admin1, "GET", "/api/v1/audit?limit=0", "", 400, nil)
	e.do(t, operator1, "GET", "/api/v1/entries/77/history", "", 404, nil)
	e.do(t, operator1, "GET", "/api/v1/entries/abc/history", "", 400, nil)
}

func TestListsPointsAndLeaderboard(t *testing.T) {
	e := newListsEnv(t)
	e.registers(t)
	e.do(t, operator1, "PUT", "/api/v1/villages/village-1/categories",
		`{"categories":[{"name":"孝老爱亲","red":10,"black":-10},{"name":"人居环境整治","red":5,"black":-5},{"name":"平安家庭","red":3,"black":-8}]}`, 200, nil)
	ids := []uint64{
		// h01: +10 (person p1) +5 (household) = 15
		e.entry(t, operator1, `{"kind":"red","subject":{"kind":"person","id":"p1"},"category":"孝老爱亲","reason":"照顾老人","period":"2026-11"}`),
		e.entry(t, operator1, `{"kind":"red","subject":{"kind":"household","id":"h01"},"category":"人居环境整治","reason":"庭院整洁","period":"2026-11"}`),
		// h02: -8, revoked later, so 0 counted
		e.entry(t, operator1, `{"kind":"black","subject":{"kind":"person","id":"p2"},"category":"平安家庭","reason":"邻里纠纷","period":"2026-11"}`),
		// h03: -5 and +3 = -2
		e.entry(t, operator1, `{"kind":"black","subject":{"kind":"household","id":"h03"},"category":"人居环境整治","reason":"乱倒垃圾","period":"2026-11"}`),
		e.entry(t, operator1, `{"kind":"red","subject":{"kind":"person","id":"p3"},"category":"平安家庭","reason":"调解纠纷","period":"2026-11","points":3}`),
	}
	// A draft counts for nothing.
	e.entry(t, operator1, `{"kind":"red","subject":{"kind":"household","id":"h02"},"category":"孝老爱亲","reason":"草稿","period":"2026-11"}`)
	for _, id := range ids {
		e.approve(t, operator1, id)
	}
	e.do(t, operator1, "POST", "/api/v1/villages/village-1/lists/2026-11/publish", "", 200, nil)
	e.do(t, reviewer2, "POST", fmt.Sprintf("/api/v1/entries/%d/revoke", ids[2]), `{"note":"已向邻居道歉并赔偿"}`, 200, nil)

	var l lists.Ledger
	e.do(t, viewer1, "GET", "/api/v1/villages/village-1/households/h01/points", "", 200, &l)
	if l.Total != 15 || len(l.Entries) != 2 || l.Head != "张大山" {
		t.Fatalf("h01 ledger = %+v; want 15 from 2 entries", l)
	}
	e.do(t, viewer1, "GET", "/api/v1/villages/village-1/households/h02/points", "", 200, &l)
	if l.Total != 0 || len(l.Entries) != 1 || l.Entries[0].Counted || l.Entries[0].Points != -8 {
		t.Fatalf("h02 ledger = %+v; want the revoked entry listed, not counted", l)
	}
	e.do(t, viewer1, "GET", "/api/v1/villages/village-1/households/h99/points", "", 404, nil)

	var board []lists.Standing
	e.do(t, viewer1, "GET", "/api/v1/villages/village-1/leaderboard?period=2026-11", "", 200, &board)
	got := fmt.Sprint(board)
	if want := "[{1 h01 张大山 15} {2 h02 李秀英 0} {3 h03 王老五 -2}]"; got != want {
		t.Fatalf("leaderboard = %s, want %s", got, want)
	}
	e.do(t, viewer1, "GET", "/api/v1/villages/village-1/leaderboard?period=2026-10", "", 200, &board)
	if fmt.Sprint(board) != "[{1 h01 张大山 0} {1 h02 李秀英 0} {1 h03 王老五 0}]" {
		t.Fatalf("October leaderboard = %v; want every household tied at 0", board)
	}
	e.do(t, viewer1, "GET", "/api/v1/villages/village-1/leaderboard?period=nope", "", 400, nil)
}

func TestListsAnnounceFailureKeepsThePublication(t *testing.T) {
	e := newListsEnv(t)
	e.registers(t)
	id := e.entry(t, operator1, `{"kind":"red","subject":{"kind":"person","id":"p1"},"category":"孝老爱亲","reason":"照顾老人","period":"2026-11"}`)
	e.approve(t, operator1, id)
	e.ann.fail(errors.New("box offline"))
	code, body, _ := e.raw(t, e.user[operator1], "POST", "/api/v1/villages/village-1/lists/2026-11/publish", "application/json", nil, nil)
	if code != http.StatusBadGateway || !strings.Contains(string(body), "box offline") || !strings.Contains(string(body), "张小明") {
		t.Fatalf("publish with a failing announcer: %d %s; want 502 with the error and the text", code, body)
	}
	var v lists.EntryView
	e.do(t, viewer1, "GET", fmt.Sprintf("/api/v1/entries/%d", id), "", 200, &v)
	if v.Status != store.StatusPublished {
		t.Fatalf("entry after a failed announcement is %s, want published", v.Status)
	}
	e.do(t, operator1, "POST", "/api/v1/villages/village-1/lists/2026-11/announce", "", 502, nil)
	e.ann.fail(nil)
	var out struct{ Text string }
	e.do(t, operator1, "POST", "/api/v1/villages/village-1/lists/2026-11/announce", "", 200, &out)
	calls := e.ann.all()
	if len(calls) != 3 || calls[2].text != out.Text || !strings.Contains(out.Text, "张小明") {
		t.Fatalf("retry: %q, calls %+v", out.Text, calls)
	}
	var audit struct{ Records []auditJSON }
	e.do(t, admin1, "GET", "/api/v1/audit?village=village-1", "", 200, &audit)
	var outcomes []string
	for _, r := range audit.Records {
		if strings.HasPrefix(r.Action, "list.") {
			outcomes = append(outcomes, r.Action)
		}
	}
	if !slices.Equal(outcomes, []string{"list.announce_failed", "list.announce_failed", "list.announce"}) {
		t.Fatalf("announcement records = %v", outcomes)
	}
}
