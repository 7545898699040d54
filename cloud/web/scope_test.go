package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/bulk"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/storecopy"
	"github.com/dalaba/dalaba/cloud/tts"
)

// tenancy is a county of two townships, east and west, each with its own
// admin and village, and west's village with something of every kind a
// route's path names: the fixture the walk below tries to reach from
// east.
type tenancy struct {
	*listsEnv
	west map[string]string // wildcard → a value naming west's own
	// markers are strings that name west's things: none of them may be
	// in an answer to east.
	markers []string
}

const (
	eastAdmin = "east-admin"
	westAdmin = "west-admin"
)

func newTenancy(t *testing.T) *tenancy {
	t.Helper()
	speech, err := tts.NewEspeak(tts.EspeakConfig{}) // never run: every body that would speak is refused first
	if err != nil {
		t.Fatal(err)
	}
	e := newListsEnvWith(t, speech)
	ctx := t.Context()
	e.do(t, admin1, "POST", "/api/v1/townships", `{"id":"t-east","name":"东山镇"}`, 201, nil)
	e.do(t, admin1, "POST", "/api/v1/townships", `{"id":"t-west","name":"西山镇"}`, 201, nil)
	e.do(t, admin1, "POST", "/api/v1/boxes", `{"id":"village-e","name":"东村","township":"t-east"}`, 201, nil)
	e.do(t, admin1, "POST", "/api/v1/boxes", `{"id":"village-w","name":"西岭村","township":"t-west"}`, 201, nil)
	for _, u := range []struct{ name, township string }{{eastAdmin, "t-east"}, {westAdmin, "t-west"}} {
		e.do(t, admin1, "POST", "/api/v1/users", fmt.Sprintf(`{"name":%q,"password":"password-1234","role":"admin","township":%q}`, u.name, u.township), 201, nil)
		var out struct{ Token string }
		if code := e.call(t, "", "POST", "/api/v1/login", fmt.Sprintf(`{"username":%q,"password":"password-1234"}`, u.name), &out); code != 200 {
			t.Fatalf("login %s: %d", u.name, code)
		}
		e.user[u.name] = out.Token
	}

	// West's village: a household, a person, an entry with a hold, goods
	// and a redemption, a plan, a claim code, a plan job and a rollout.
	e.do(t, westAdmin, "POST", "/api/v1/villages/village-w/households", `{"id":"h01","head":"西大山"}`, 201, nil)
	e.do(t, westAdmin, "POST", "/api/v1/villages/village-w/persons", `{"id":"p1","name":"西小明","household":"h01"}`, 201, nil)
	var entry struct{ ID uint64 }
	e.do(t, westAdmin, "POST", "/api/v1/villages/village-w/entries",
		`{"kind":"red","subject":{"kind":"person","id":"p1"},"category":"孝老爱亲","reason":"西岭照料老人","period":"2026-11"}`, 201, &entry)
	_, holds, err := e.st.ChangeHolds(ctx, entry.ID, func(_ *store.Entry, hs *[]store.Hold) ([]store.AuditRecord, error) {
		*hs = append(*hs, store.Hold{Kind: store.HoldFlag, Reason: "西岭复核", By: westAdmin, Status: store.HoldOpen, CreatedAt: november})
		return nil, nil
	})
	if err != nil || len(holds) != 1 {
		t.Fatalf("hold: %v %v", holds, err)
	}
	// Goods at no points, straight into the store: a household earns
	// points only through published lists.
	if err := e.st.PutGoods(ctx, store.Goods{Village: "village-w", ID: "g1", Name: "西岭肥皂", Price: 0, Stock: 5, OnSale: true, UpdatedAt: november, UpdatedBy: westAdmin},
		true, store.AuditRecord{Time: november, Actor: westAdmin, Action: "goods.create", Village: "village-w"}); err != nil {
		t.Fatal(err)
	}
	red, _, err := e.st.Redeem(ctx, store.Redemption{Village: "village-w", Household: "h01", Goods: "g1", GoodsName: "西岭肥皂", Quantity: 1,
		Key: "west-1", By: westAdmin, Status: store.RedemptionDone, CreatedAt: november}, func(r store.Redemption, _ int) store.AuditRecord {
		return store.AuditRecord{Time: november, Actor: westAdmin, Action: "redeem", Village: r.Village}
	})
	if err != nil {
		t.Fatalf("redeem: %v", err)
	}
	// A clip west uploaded: neither listed nor served to east.
	var clip mediaJSON
	if code, raw, _ := e.raw(t, e.user[westAdmin], "POST", "/api/v1/media?name="+url.QueryEscape("西岭通知.wav"), "audio/wav", wavBytes(t, 1), nil); code != 201 || json.Unmarshal(raw, &clip) != nil {
		t.Fatalf("west's clip: %d %s", code, raw)
	}
	var claims struct{ Claims []struct{ ID uint64 } }
	e.do(t, westAdmin, "POST", "/api/v1/claims", `{"villages":[{"id":"village-w2","name":"西岭二村"}]}`, 201, &claims)
	var job struct{ ID string }
	e.do(t, westAdmin, "POST", "/api/v1/plan-jobs", `{"boxes":["village-w"],"delete_schedule":"none"}`, 202, &job)
	// Wait for the job to end: what it writes must not land mid-walk.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if j, ok := e.api.jobs.Get(job.ID); ok && j.State == bulk.Done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("west's plan job did not end")
		}
	}
	if err := e.st.CreateRollout(ctx, store.Rollout{ID: "ro-west", Version: "1.2.3", Waves: []int{100}, State: store.RolloutRunning,
		Boxes: []store.RolloutBox{{BoxID: "village-w", State: store.BoxWaiting}}, CreatedBy: admin1, CreatedAt: november, UpdatedAt: november}); err != nil {
		t.Fatal(err)
	}
	return &tenancy{
		listsEnv: e,
		west: map[string]string{
			"id": "village-w", "box": "village-w", "eid": strconv.FormatUint(entry.ID, 10), "oid": strconv.FormatUint(holds[0].ID, 10),
			"rid": strconv.FormatUint(red.ID, 10), "cid": strconv.FormatUint(claims.Claims[0].ID, 10), "job": job.ID,
			"name": westAdmin, "tid": "t-west", "hid": "h01", "pid": "p1", "gid": "g1", "sha": clip.SHA256,
		},
		markers: []string{"village-w", "西岭", "t-west", "西山镇", westAdmin, "ro-west", job.ID},
	}
}

// path fills pattern's wildcards with west's values (or pathValues' for
// what west has none of); a rollout's {id} is west's rollout.
func (tn *tenancy) path(t *testing.T, pattern string) (method, path string) {
	t.Helper()
	method, p, _ := strings.Cut(pattern, " ")
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		if !strings.HasPrefix(seg, "{") {
			continue
		}
		name := strings.Trim(seg, "{}.")
		v, ok := tn.west[name]
		if name == "id" && strings.HasPrefix(p, "/api/v1/rollouts/") {
			v, ok = "ro-west", true
		}
		if !ok {
			if v, ok = pathValues[name]; !ok {
				t.Fatalf("%s: no value for {%s}", pattern, name)
			}
		}
		segs[i] = url.PathEscape(v)
	}
	return method, strings.Join(segs, "/")
}

// bodies are what a body-scoped route is sent by east: each names west's
// village or township, and must be refused whole.
var bodies = map[string]string{
	"POST /api/v1/boxes":        `{"id":"village-x","name":"新村","township":"t-west"}`,
	"POST /api/v1/users":        `{"name":"mole","password":"password-1234","role":"viewer","township":"t-west"}`,
	"POST /api/v1/claims":       `{"villages":[{"id":"village-w"}]}`,
	"POST /api/v1/claims/sheet": "village-w,西岭村\n",
	"POST /api/v1/plan-jobs":    `{"boxes":["village-e","village-w"],"delete_schedule":"none"}`,
	"POST /api/v1/rollouts":     `{"version":"1.2.3","boxes":["village-e","village-w"]}`,
}

// TestTownshipsCannotReachEachOther walks every route the API serves as
// the admin of east, aimed at west's village and everything of it: east
// reads, changes, broadcasts to, pages, watches and exports nothing of
// west (404 as for an unknown target, or 403), its lists name nothing of
// west, and the store, the plan jobs and the boxes' commands are as they
// were. The county's admin, on the same requests, is never turned away
// for the target's township. A route that declares no scope fails.
func TestTownshipsCannotReachEachOther(t *testing.T) {
	tn := newTenancy(t)
	snapshot := func(t *testing.T) (map[string]storecopy.Sum, int, int) {
		t.Helper()
		sums, err := storecopy.Sums(t.Context(), tn.st.(storecopy.Source))
		if err != nil {
			t.Fatal(err)
		}
		delete(sums, "audit") // a refused request appends nothing, checked below by count
		tn.dl.mu.Lock()
		defer tn.dl.mu.Unlock()
		recs, err := tn.st.ListAudit(t.Context(), store.AuditFilter{Limit: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return sums, len(tn.dl.sent), len(recs) + 1000*len(tn.api.jobs.List())
	}
	seenList := map[string]bool{}
	for _, rt := range tn.api.Routes() {
		if rt.Open || strings.HasSuffix(rt.Pattern, "/logout") {
			continue
		}
		t.Run(rt.Pattern, func(t *testing.T) {
			if rt.Target == targetUndeclared {
				t.Fatalf("declares no scope: say how its target is scoped (scope.go)")
			}
			method, path := tn.path(t, rt.Pattern)
			body, ctype := "{}", "application/json"
			if b, ok := bodies[rt.Pattern]; ok {
				body = b
				if strings.HasSuffix(rt.Pattern, "/sheet") {
					ctype = "text/csv"
				}
			} else if rt.Target == TargetBody {
				t.Fatalf("a body-scoped route without a body naming west in this test")
			}
			sums, sent, changes := snapshot(t)
			code, raw, _ := tn.raw(t, tn.user[eastAdmin], method, path, ctype, []byte(body), nil)
			answer := string(raw)
			after, sentAfter, changesAfter := snapshot(t)
			if !reflect.DeepEqual(sums, after) || sent != sentAfter || changes != changesAfter {
				t.Errorf("east's %s %s changed something: %d %s", method, path, code, answer)
			}
			for _, m := range tn.markers {
				// A refusal may repeat what the request itself named, as
				// it would for an unknown one.
				echoed := code >= 400 && (strings.Contains(path, url.PathEscape(m)) || strings.Contains(body, m))
				if strings.Contains(answer, m) && !echoed {
					t.Errorf("east's answer names west's %q: %d %s", m, code, answer)
				}
			}
			switch rt.Target {
			case TargetShared:
				// Nothing of a village: only that it names none of west's.
			case TargetList:
				if code == http.StatusForbidden || code == http.StatusNotFound {
					t.Errorf("east refused its own list: %d %s", code, answer)
				}
				seenList[rt.Pattern] = code == http.StatusOK
			case TargetBody:
				if code != http.StatusForbidden || !strings.Contains(answer, string(CodeOutOfScope)) {
					t.Errorf("east's bulk request naming west: %d %s, want 403 %s", code, answer, CodeOutOfScope)
				}
			case TargetCounty:
				if code != http.StatusForbidden || !strings.Contains(answer, string(CodeCountyOnly)) {
					t.Errorf("east on the county's own: %d %s, want 403 %s", code, answer, CodeCountyOnly)
				}
			default:
				notFound := code == http.StatusNotFound && strings.Contains(answer, `"code":"not_found"`)
				if !notFound && !(code == http.StatusForbidden && strings.Contains(answer, string(CodeCountyOnly))) {
					t.Errorf("east reached west's %s: %d %s, want 404 not_found", rt.Target, code, answer)
				}
			}
			if method != http.MethodGet || rt.Target == TargetCounty || rt.Target == TargetBody || rt.Target == TargetShared {
				return // the county's changes are the other tests'
			}
			code, raw, _ = tn.raw(t, tn.user[admin1], method, path, ctype, []byte(body), nil)
			if code == http.StatusForbidden || (code == http.StatusNotFound && strings.Contains(string(raw), fmt.Sprintf("%q", tn.west[targetParam(rt)]))) {
				t.Errorf("the county's admin was turned away: %d %s", code, raw)
			}
			if rt.Target == TargetList && listsWest(rt.Pattern) && !slices.ContainsFunc(tn.markers, func(m string) bool { return strings.Contains(string(raw), m) }) {
				t.Errorf("the county's admin does not see west in %s: %s", rt.Pattern, raw)
			}
		})
	}
	if len(seenList) == 0 {
		t.Fatal("walked no list")
	}
}

// targetParam is the wildcard that names a route's target.
func targetParam(rt Route) string {
	switch rt.Target {
	case TargetBox:
		return "id"
	case TargetVillage:
		return "box"
	case TargetEntry:
		return "eid"
	case TargetHold:
		return "oid"
	case TargetRedemption:
		return "rid"
	case TargetJob:
		return "job"
	case TargetClaim:
		return "cid"
	case TargetUser:
		return "name"
	case TargetTownship:
		return "tid"
	case TargetClip:
		return "sha"
	}
	return ""
}

// listsWest reports whether the fixture puts west's things in the list.
func listsWest(pattern string) bool {
	switch pattern {
	case "GET /api/v1/boxes", "GET /api/v1/entries", "GET /api/v1/holds", "GET /api/v1/claims", "GET /api/v1/users",
		"GET /api/v1/townships", "GET /api/v1/plan-jobs", "GET /api/v1/rollouts", "GET /api/v1/audit", "GET /api/v1/audit/recent":
		return true
	}
	return false
}

// TestTownshipAdminsKeepToTheirOwn: a township's admin makes boxes and
// users in their own township, is refused the county's and townships,
// and sees and acts on their own villages.
func TestTownshipAdminsKeepToTheirOwn(t *testing.T) {
	tn := newTenancy(t)
	var b struct{ Box boxJSON }
	tn.do(t, eastAdmin, "POST", "/api/v1/boxes", `{"id":"village-e2","name":"东二村"}`, 201, &b)
	if b.Box.Township != "t-east" {
		t.Errorf("east's new box is of %q, want t-east", b.Box.Township)
	}
	var u userJSON
	tn.do(t, eastAdmin, "POST", "/api/v1/users", `{"name":"east-clerk","password":"password-1234","role":"operator"}`, 201, &u)
	if u.Township != "t-east" {
		t.Errorf("east's new user is of %q, want t-east", u.Township)
	}
	if code, _ := tn.problemCode(t, eastAdmin, "POST", "/api/v1/users", `{"name":"county-mole","password":"password-1234","role":"admin","township":""}`); code != 403 {
		t.Errorf("east making a county user: %d, want 403", code)
	}
	if code, _ := tn.problemCode(t, eastAdmin, "PUT", "/api/v1/users/east-clerk", `{"township":"t-west"}`); code != 403 {
		t.Errorf("east moving its user to west: %d, want 403", code)
	}
	if code, _ := tn.problemCode(t, eastAdmin, "PUT", "/api/v1/boxes/village-e/township", `{"township":"t-west"}`); code != 403 {
		t.Errorf("east moving its box: %d, want 403", code)
	}
	var users []userJSON
	tn.do(t, eastAdmin, "GET", "/api/v1/users", "", 200, &users)
	for _, u := range users {
		if u.Township != "t-east" {
			t.Errorf("east sees user %+v", u)
		}
	}
	var clips []mediaJSON
	tn.do(t, admin1, "GET", "/api/v1/media", "", 200, &clips)
	if len(clips) != 1 {
		t.Errorf("the county's clip library: %+v, want west's clip", clips)
	}
	tn.do(t, eastAdmin, "GET", "/api/v1/media", "", 200, &clips)
	if len(clips) != 0 {
		t.Errorf("east's clip library: %+v, want none of west's", clips)
	}
	var boxes []boxJSON
	tn.do(t, eastAdmin, "GET", "/api/v1/boxes", "", 200, &boxes)
	if len(boxes) != 2 || boxes[0].ID != "village-e" || boxes[1].ID != "village-e2" {
		t.Errorf("east's boxes = %+v", boxes)
	}
	tn.do(t, eastAdmin, "POST", "/api/v1/boxes/village-e/play", `{"media":"`+strings.Repeat("0", 64)+`"}`, 400, nil) // reached: the clip is unknown

	// The county moves west's village to east: east now reaches it, west
	// no longer does.
	tn.do(t, admin1, "PUT", "/api/v1/boxes/village-w/township", `{"township":"t-east"}`, 200, nil)
	tn.do(t, eastAdmin, "GET", "/api/v1/boxes/village-w", "", 200, nil)
	tn.do(t, westAdmin, "GET", "/api/v1/boxes/village-w", "", 404, nil)
	if code, _ := tn.problemCode(t, admin1, "PUT", "/api/v1/boxes/village-w/township", `{"township":"t-none"}`); code != 400 {
		t.Errorf("moving to an unknown township: %d, want 400", code)
	}
	var page struct{ Boxes []boxJSON }
	tn.do(t, admin1, "GET", "/api/v1/boxes?township=t-east", "", 200, &page)
	if len(page.Boxes) != 3 {
		t.Errorf("the county's page of east: %+v", page.Boxes)
	}
}
