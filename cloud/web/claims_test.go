package web

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
	"github.com/dalaba/dalaba/protocol/claim"
)

type issuedJSONOut struct {
	Claims []struct {
		ID      uint64 `json:"id"`
		Code    string `json:"code"`
		Village string `json:"village"`
		Name    string `json:"name"`
	} `json:"claims"`
	TownshipURL string `json:"township_url"`
}

// enrollWith posts what a box with code sends; the status and the body.
func (e *env) enrollWith(t *testing.T, code, village string) (int, []byte) {
	t.Helper()
	body, _ := json.Marshal(claim.NewRequest(claim.Derive(code), village))
	status, b, _ := e.raw(t, "", "POST", "/api/v1/enroll", "application/json", body, nil)
	return status, b
}

func TestClaimsThroughTheAPI(t *testing.T) {
	e := newEnv(t)
	admin := e.tokens[store.RoleAdmin]
	var one issuedJSONOut
	if code := e.call(t, admin, "POST", "/api/v1/claims", `{"villages":[{"id":"dongshan-3","name":"东山村"}]}`, &one); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	if len(one.Claims) != 1 || one.TownshipURL != "https://township.example" {
		t.Fatalf("created %+v", one)
	}
	sheet := "id,name,place\nv-1,一村,东片\nv-2,二村\n"
	status, b, _ := e.raw(t, admin, "POST", "/api/v1/claims/sheet?ttl_hours=48", "text/csv", []byte(sheet), nil)
	var bulk issuedJSONOut
	if status != http.StatusCreated || json.Unmarshal(b, &bulk) != nil || len(bulk.Claims) != 2 || bulk.Claims[1].Village != "v-2" {
		t.Fatalf("sheet: %d %s", status, b)
	}
	status, b, _ = e.raw(t, admin, "POST", "/api/v1/claims/sheet", "text/csv", []byte("v-9\n"), nil)
	if status != http.StatusBadRequest || !strings.Contains(string(b), `"claim.invalid"`) {
		t.Fatalf("bad sheet: %d %s", status, b)
	}
	if code := e.call(t, e.tokens[store.RoleOperator], "POST", "/api/v1/claims", `{"villages":[{"id":"x-1","name":"x"}]}`, nil); code != http.StatusForbidden {
		t.Fatalf("an operator made a claim code: %d", code)
	}

	// A box enrolls with its code; the answer opens with it alone.
	code := one.Claims[0].Code
	status, b = e.enrollWith(t, code, "dongshan-3")
	if status != http.StatusOK {
		t.Fatalf("enroll: %d %s", status, b)
	}
	a, err := claim.Open(claim.Derive(code).Seal, b)
	if err != nil || a.BoxID != "dongshan-3" || a.TownshipKey != protocol.EncodePublicKey(e.key.Public().(ed25519.PublicKey)) {
		t.Fatalf("answer %+v, %v", a, err)
	}
	for _, c := range []struct {
		code, village, want string
		status              int
	}{
		{code, "", "claim.used", http.StatusGone},
		{"2345-6789", "", "claim.unknown", http.StatusNotFound},
		{bulk.Claims[0].Code, "v-2", "claim.wrong_village", http.StatusForbidden},
	} {
		status, b := e.enrollWith(t, c.code, c.village)
		if status != c.status || !strings.Contains(string(b), `"`+c.want+`"`) {
			t.Errorf("enroll %s for %q: %d %s, want %d %s", c.code, c.village, status, b, c.status, c.want)
		}
	}
	if code := e.call(t, admin, "POST", fmt.Sprintf("/api/v1/claims/%d/revoke", bulk.Claims[1].ID), "", nil); code != http.StatusOK {
		t.Fatalf("revoke: %d", code)
	}
	if status, b := e.enrollWith(t, bulk.Claims[1].Code, ""); status != http.StatusGone || !strings.Contains(string(b), `"claim.revoked"`) {
		t.Fatalf("revoked code: %d %s", status, b)
	}
	var list struct {
		Claims []struct {
			Village string `json:"village"`
			Status  string `json:"status"`
			Code    string `json:"code"`
		} `json:"claims"`
	}
	if code := e.call(t, admin, "GET", "/api/v1/claims", "", &list); code != http.StatusOK || len(list.Claims) != 3 {
		t.Fatalf("list: %d %+v", code, list)
	}
	got := map[string]string{}
	for _, c := range list.Claims {
		got[c.Village] = c.Status
		if c.Code != "" {
			t.Fatal("the list shows a code")
		}
	}
	if got["dongshan-3"] != "used" || got["v-1"] != "open" || got["v-2"] != "revoked" {
		t.Fatalf("statuses %v", got)
	}
	// The trail has the changes, from the service, and no code.
	rs, err := e.st.ListAudit(t.Context(), store.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, r := range rs {
		if strings.HasPrefix(r.Action, "claim.") || strings.Contains(r.Action, "claims") {
			actions = append(actions, r.Action)
		}
		for _, c := range append(bulk.Claims, one.Claims...) {
			if strings.Contains(string(r.After)+string(r.Before)+r.Note, c.Code) {
				t.Fatalf("a code in the audit trail: %+v", r)
			}
		}
	}
	want := "claim.create claim.create claim.use claim.refuse claim.refuse claim.refuse claim.revoke claim.refuse"
	if strings.Join(actions, " ") != want {
		t.Fatalf("audit trail:\n %s\nwant\n %s", strings.Join(actions, " "), want)
	}
}
