package console

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/store"
)

// TestShopPageRedeemsOnce: the clerk stocks goods and redeems with the
// page's form; the same form sent twice (a double tap) takes the points
// once and says so; a cancellation gives them back.
func TestShopPageRedeemsOnce(t *testing.T) {
	e := newEnvWith(t, false, lists.Config{Approvals: 1}, nil)
	ctx := t.Context()
	op, rv := lists.Actor{Name: "operator", Role: store.RoleOperator}, lists.Actor{Name: "reviewer", Role: store.RoleReviewer}
	id := e.draft(t, thisPeriod(), true)
	if _, err := e.ls.Approve(ctx, rv, id, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ls.Publish(ctx, op, "village-1", thisPeriod()); err != nil {
		t.Fatal(err)
	}
	c, tok := e.signedIn(t, store.RoleOperator)
	if a := e.post(t, c, "/lists/shop/goods", url.Values{"csrf": {tok}, "village": {"village-1"}, "id": {"soap"}, "name": {"肥皂"},
		"price": {"4"}, "stock": {"10"}, "on_sale": {"1"}}); a.code != http.StatusSeeOther {
		t.Fatalf("goods: %d %s", a.code, a.body)
	}
	page := e.get(t, c, "/lists/shop?village=village-1")
	if page.code != http.StatusOK || !strings.Contains(page.body, "已保存") {
		t.Fatalf("shop page after saving goods: %d", page.code)
	}
	key := regexp.MustCompile(`name="key" value="([0-9a-f]+)"`).FindStringSubmatch(page.body)
	if key == nil {
		t.Fatal("no idempotency key in the redeem form")
	}
	form := url.Values{"csrf": {tok}, "village": {"village-1"}, "household": {"h1"}, "goods": {"soap"}, "quantity": {"1"}, "key": {key[1]}}
	flashes := []string{}
	for range 2 {
		if a := e.post(t, c, "/lists/shop/redeem", form); a.code != http.StatusSeeOther {
			t.Fatalf("redeem: %d %s", a.code, a.body)
		}
		flashes = append(flashes, e.get(t, c, "/lists/shop?village=village-1").body)
	}
	if !strings.Contains(flashes[0], "已兑换，小票号 JF") || !strings.Contains(flashes[1], "这次兑换已经办过") {
		t.Fatalf("the flashes do not say redeemed, then already made")
	}
	a, err := e.ls.Account(ctx, "village-1", "h1")
	if err != nil || a.Balance != lists.DefaultCategories()[0].Red-4 {
		t.Fatalf("balance after a double tap = %+v, %v", a, err)
	}
	rs, _ := e.ls.Redemptions(ctx, "village-1", "h1")
	if x := e.post(t, c, "/lists/shop/redemptions/"+itoa(rs[0].ID)+"/cancel", url.Values{"csrf": {tok}, "village": {"village-1"}, "reason": {"拿错了"}}); x.code != http.StatusSeeOther {
		t.Fatalf("cancel: %d", x.code)
	}
	if a, _ := e.ls.Account(ctx, "village-1", "h1"); a.Balance != lists.DefaultCategories()[0].Red {
		t.Fatalf("balance after the cancellation = %d", a.Balance)
	}
	// A viewer sees the shop and none of its forms.
	v, _ := e.signedIn(t, store.RoleViewer)
	if p := e.get(t, v, "/lists/shop?village=village-1"); p.code != http.StatusOK || strings.Contains(p.body, `id="redeem-form"`) || strings.Contains(p.body, "act-cancel") {
		t.Fatalf("the viewer's shop page: %d", p.code)
	}
}
