package enroll

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/protocol"
	"github.com/dalaba/dalaba/protocol/claim"
)

// clock is the fake wall clock the tests step.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// published records what the fleet publishes.
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

type env struct {
	st  *boltstore.Store
	fl  *fleet.Fleet
	svc *Service
	clk *clock
	pub *published
	key ed25519.PublicKey
}

func newEnv(t testing.TB, brokerURL string) *env {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	p := &published{}
	log := slog.New(slog.DiscardHandler)
	fl, err := fleet.New(fleet.Config{Validity: 24 * time.Hour, BrokerURL: brokerURL, MediaURL: "https://t.example.cn/media/", CloudUser: "dalaba-cloud"},
		fleet.Deps{Logger: log, Store: st, Key: priv, Publisher: p, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Deps{Logger: log, Store: st, Fleet: fl, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &env{st: st, fl: fl, svc: svc, clk: clk, pub: p, key: pub}
}

// enroll is what a box does with code, naming village ("" for none): the
// answer opened, or the township's refusal.
func (e *env) enroll(t testing.TB, addr, code, village string) (claim.Answer, error) {
	t.Helper()
	k := claim.Derive(code)
	body, _ := json.Marshal(claim.NewRequest(k, village))
	out, err := e.svc.Enroll(t.Context(), addr, body)
	if err != nil {
		return claim.Answer{}, err
	}
	a, err := claim.Open(k.Seal, out)
	if err != nil {
		t.Fatalf("the township's answer does not open: %v", err)
	}
	return a, nil
}

func audits(t testing.TB, st store.Store) []store.AuditRecord {
	t.Helper()
	rs, err := st.ListAudit(t.Context(), store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestACodeEnrollsExactlyOneBox(t *testing.T) {
	e := newEnv(t, "tls://t.example.cn:8883")
	issued, err := e.svc.Create(t.Context(), "admin", []Village{{ID: "dongshan-3", Name: "东山村", Place: "东片"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	code := issued[0].Code
	if _, err := claim.Parse(code); err != nil {
		t.Fatalf("made code %q: %v", code, err)
	}
	if f := issued[0].ClaimFile; !strings.Contains(f, "code: "+code+"\n") || !strings.Contains(f, "village: dongshan-3\n") {
		t.Fatalf("claim file %q", f)
	}
	if q := issued[0].QR; len(q) < 21 || len(q[0]) != len(q) || strings.Trim(strings.Join(q, ""), "01") != "" {
		t.Fatalf("QR code %v is not a square of modules", q)
	}
	if !issued[0].ExpiresAt.Equal(e.clk.Now().Add(DefaultTTL)) {
		t.Fatalf("expires %s, want in 7 days", issued[0].ExpiresAt)
	}
	a, err := e.enroll(t, "192.0.2.10", code, "dongshan-3")
	if err != nil {
		t.Fatal(err)
	}
	if a.BoxID != "dongshan-3" || a.Username != "dongshan-3" || a.BrokerURL != "tls://t.example.cn:8883" ||
		a.TownshipKey != protocol.EncodePublicKey(e.key) || a.MediaURL != "https://t.example.cn/media/" || a.Name != "东山村" {
		t.Fatalf("answer %+v", a)
	}
	b, err := e.st.GetBox(t.Context(), "dongshan-3")
	if err != nil {
		t.Fatalf("the enrolled box is not registered: %v", err)
	}
	if string(b.SecretHash) != string(fleet.SecretHash(a.Password)) || b.Place != "东片" || b.DesiredRev != 1 {
		t.Fatalf("box %+v", b)
	}
	auth, _ := fleet.NewAuthenticator(e.st, "dalaba-cloud")
	if id, ok := auth.Authenticate(t.Context(), "dongshan-3", []byte(a.Password)); !ok || id.Box != "dongshan-3" {
		t.Fatal("the broker refuses the credentials the box was given")
	}
	if len(e.pub.boxs) != 1 || e.pub.boxs[0] != "dongshan-3" {
		t.Fatalf("published desired states %v", e.pub.boxs)
	}

	_, err = e.enroll(t, "192.0.2.11", code, "")
	if !errors.Is(err, ErrUsed) {
		t.Fatalf("the code used again: %v, want ErrUsed", err)
	}
	vs, _ := e.svc.List(t.Context())
	if len(vs) != 1 || vs[0].Status != store.ClaimUsed || vs[0].UsedFrom != "192.0.2.10" {
		t.Fatalf("list %+v", vs)
	}
	var actions []string
	for _, r := range audits(t, e.st) {
		actions = append(actions, r.Action)
		if strings.Contains(string(r.After)+r.Note, code) || strings.Contains(string(r.After)+r.Note, a.Password) {
			t.Fatalf("the audit trail holds a code or a secret: %+v", r)
		}
	}
	if strings.Join(actions, " ") != "claim.create claim.use claim.refuse" {
		t.Fatalf("audit trail %v", actions)
	}
}

func TestRefusals(t *testing.T) {
	e := newEnv(t, "tls://t.example.cn:8883")
	issued, err := e.svc.Create(t.Context(), "admin", []Village{{ID: "v-1", Name: "一村"}, {ID: "v-2", Name: "二村"}, {ID: "v-3", Name: "三村"}}, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.enroll(t, "192.0.2.1", "2345-6789", ""); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown code: %v", err)
	}
	if _, err := e.enroll(t, "192.0.2.1", issued[0].Code, "v-2"); !errors.Is(err, ErrWrongVillage) {
		t.Errorf("code of v-1 naming v-2: %v", err)
	}
	if _, err := e.svc.Revoke(t.Context(), "admin", issued[1].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Revoke(t.Context(), "admin", issued[1].ID); !errors.Is(err, ErrNotOpen) {
		t.Errorf("revoked twice: %v", err)
	}
	if _, err := e.enroll(t, "192.0.2.1", issued[1].Code, ""); !errors.Is(err, ErrRevoked) {
		t.Errorf("revoked code: %v", err)
	}
	e.clk.add(2 * time.Hour)
	if _, err := e.enroll(t, "192.0.2.1", issued[2].Code, ""); !errors.Is(err, ErrExpired) {
		t.Errorf("expired code: %v", err)
	}
	if _, err := e.svc.Enroll(t.Context(), "192.0.2.1", []byte(`{"v":1,"code":"ABCD-EFGH"}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("malformed request: %v", err)
	}
	for _, id := range []string{"v-1", "v-2", "v-3"} {
		if _, err := e.st.GetBox(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a refusal registered %s: %v", id, err)
		}
	}
	refusals := 0
	for _, r := range audits(t, e.st) {
		if r.Action == "claim.refuse" {
			refusals++
		}
	}
	if refusals != 5 {
		t.Errorf("%d refusals in the audit trail, want 5", refusals)
	}
	// The refusals count against the address within a window, which began
	// again with the two after the clock moved on; past the limit it
	// waits, even with a good code, and another address does not.
	for range MaxRefusals - 2 {
		e.enroll(t, "192.0.2.1", "2345-6789", "")
	}
	fresh, err := e.svc.Create(t.Context(), "admin", []Village{{ID: "v-4", Name: "四村"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.enroll(t, "192.0.2.1", fresh[0].Code, ""); !errors.Is(err, ErrSlowDown) {
		t.Fatalf("after %d refusals: %v, want ErrSlowDown", MaxRefusals, err)
	}
	if _, err := e.enroll(t, "192.0.2.2", fresh[0].Code, ""); err != nil {
		t.Fatalf("another address: %v", err)
	}
}

func TestClaimForARegisteredBoxReplacesItsCredentials(t *testing.T) {
	e := newEnv(t, "tls://t.example.cn:8883")
	_, oldSecret, err := e.fl.Register(t.Context(), fleet.NewBox{ID: "v-1", Name: "一村", Place: "西片"})
	if err != nil {
		t.Fatal(err)
	}
	issued, err := e.svc.Create(t.Context(), "admin", []Village{{ID: "v-1"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if issued[0].Name != "一村" {
		t.Fatalf("the claim did not take the box's name: %+v", issued[0])
	}
	a, err := e.enroll(t, "192.0.2.1", issued[0].Code, "")
	if err != nil {
		t.Fatal(err)
	}
	auth, _ := fleet.NewAuthenticator(e.st, "dalaba-cloud")
	if _, ok := auth.Authenticate(t.Context(), "v-1", []byte(oldSecret)); ok {
		t.Error("the registration's secret still works")
	}
	if _, ok := auth.Authenticate(t.Context(), "v-1", []byte(a.Password)); !ok {
		t.Error("the enrolled secret does not work")
	}
	if b, _ := e.st.GetBox(t.Context(), "v-1"); b.DesiredRev != 1 || b.Place != "西片" {
		t.Errorf("box after enrollment %+v", b)
	}
	// Retired, it is refused a claim, and an open claim no longer works.
	issued2, err := e.svc.Create(t.Context(), "admin", []Village{{ID: "v-2", Name: "二村"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.fl.Register(t.Context(), fleet.NewBox{ID: "v-2", Name: "二村"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fl.RetireBox(t.Context(), "v-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.enroll(t, "192.0.2.1", issued2[0].Code, ""); !errors.Is(err, fleet.ErrRetired) {
		t.Errorf("claim of a retired box: %v", err)
	}
	if _, err := e.svc.Create(t.Context(), "admin", []Village{{ID: "v-2"}}, 0); !errors.Is(err, fleet.ErrRetired) {
		t.Errorf("claim made for a retired box: %v", err)
	}
}

func TestCreateRefusesWithEveryProblemAndStoresNothing(t *testing.T) {
	e := newEnv(t, "tls://t.example.cn:8883")
	if _, err := e.svc.Create(t.Context(), "admin", []Village{{ID: "v-1", Name: "一村"}}, 0); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Create(t.Context(), "admin", []Village{
		{ID: "Bad/Id", Name: "x"}, {ID: "v-2"}, {ID: "v-3", Name: "三村"}, {ID: "v-3", Name: "三村"}, {ID: "dalaba-cloud", Name: "x"},
	}, 0)
	for _, want := range []string{"Bad/Id", "v-2", "named twice", "dalaba-cloud"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %v does not name %q", err, want)
		}
	}
	if _, err := e.svc.Create(t.Context(), "admin", []Village{{ID: "v-1", Name: "一村"}}, 0); !errors.Is(err, ErrOpen) {
		t.Errorf("a second open claim for v-1: %v", err)
	}
	if _, err := e.svc.Create(t.Context(), "admin", []Village{{ID: "v-9", Name: "九村"}}, time.Minute); !errors.Is(err, ErrInvalid) {
		t.Errorf("a one-minute claim: %v", err)
	}
	if vs, _ := e.svc.List(t.Context()); len(vs) != 1 {
		t.Errorf("%d claims after refusals, want 1", len(vs))
	}
}

func TestStaleClaimIsRefused(t *testing.T) {
	e := newEnv(t, "tls://t.example.cn:8883")
	issued, err := e.svc.Create(t.Context(), "admin", []Village{{ID: "v-1", Name: "一村"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The township moved its broker: same store, new fleet.
	moved := newEnv(t, "tls://new.example.cn:8883")
	moved.svc.st, moved.svc.fl = e.st, &fleetAt{Fleet: e.fl, broker: "tls://new.example.cn:8883"}
	if _, err := moved.enroll(t, "192.0.2.1", issued[0].Code, ""); !errors.Is(err, ErrStale) {
		t.Fatalf("claim made before the broker moved: %v", err)
	}
}

// fleetAt is a fleet whose broker address has moved.
type fleetAt struct {
	*fleet.Fleet
	broker string
}

func (f *fleetAt) Addresses() fleet.Addresses {
	a := f.Fleet.Addresses()
	a.BrokerURL = f.broker
	return a
}

var sheetCases = map[string]struct {
	in   string
	want int    // villages; 0: refused
	err  string // part of the refusal
}{
	"plain":          {"v-1,一村\nv-2,二村,东片\n", 2, ""},
	"heading":        {"\xEF\xBB\xBFid,name,place\nv-1,一村,\n\n", 1, ""},
	"chinese header": {"村编号,村名\nv-1,一村\n", 1, ""},
	"bad id":         {"v-1,一村\nV 2,二村\n", 0, "row 2"},
	"no name":        {"v-1\n", 0, "row 1"},
	"four columns":   {"v-1,a,b,c\n", 0, "row 1"},
	"empty":          {"\n\n", 0, "no village"},
}

func TestParseSheet(t *testing.T) {
	for name, c := range sheetCases {
		vs, err := ParseSheet(strings.NewReader(c.in))
		if c.want == 0 {
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want ErrInvalid naming %q", name, err, c.err)
			}
			continue
		}
		if err != nil || len(vs) != c.want {
			t.Errorf("%s: %+v, %v", name, vs, err)
		}
	}
}

func FuzzParseSheet(f *testing.F) {
	for _, c := range sheetCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		vs, err := ParseSheet(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		for _, v := range vs {
			if protocol.ValidateBoxID(v.ID) != nil || v.Name == "" {
				t.Fatalf("accepted %+v", v)
			}
		}
	})
}
