package console

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/store"
)

// The pages beyond the lists' own: holds on entries (objections taken at
// the office, supervisors' flags, their resolution) on the lists page,
// the points shop for the village clerk (works on a phone), and the
// villagers' own page, reached without an account by a household's link.
//
//	POST /lists/entries/{id}/flag        a supervisor's note → the entry is held
//	POST /lists/entries/{id}/object      an objection taken at the office
//	POST /lists/holds/{id}/uphold        the entry is withdrawn
//	POST /lists/holds/{id}/dismiss       the hold is closed
//	GET  /lists/shop?village=            the shop: goods, redeeming, receipts, balances
//	POST /lists/shop/goods               new goods, or a restock
//	POST /lists/shop/redeem              a redemption (the form's key makes a resend harmless)
//	POST /lists/shop/redemptions/{id}/cancel
//	POST /lists/shop/households/{id}/link  a household's new link, shown once to print
//	GET  /v/{id}                         the villager page of the link {id}
//	POST /v/{id}/object                  an objection from it
func (c *Console) communityRoutes() {
	c.handle("POST /lists/entries/{id}/flag", auth.ActionFlagLists, c.listsChange(map[string]string{"note": "FlagNote"}, c.entryAction("DoneFlagged",
		func(r *http.Request, by lists.Actor, id uint64) error {
			_, err := c.ls.Flag(r.Context(), by, id, r.PostFormValue("note"))
			return err
		})))
	c.handle("POST /lists/entries/{id}/object", auth.ActionLodgeObjection, c.listsChange(objectionLabels(), c.entryAction("DoneObjected",
		func(r *http.Request, by lists.Actor, id uint64) error {
			_, err := c.ls.Object(r.Context(), by, id, objectionOf(r))
			return err
		})))
	c.handle("POST /lists/holds/{id}/uphold", auth.ActionReviewLists, c.listsChange(map[string]string{"reason": "HoldResolution"}, c.entryAction("DoneUpheld",
		func(r *http.Request, by lists.Actor, id uint64) error {
			_, err := c.ls.Uphold(r.Context(), by, id, r.PostFormValue("reason"))
			return err
		})))
	c.handle("POST /lists/holds/{id}/dismiss", auth.ActionReviewLists, c.listsChange(map[string]string{"reason": "HoldResolution"}, c.entryAction("DoneDismissed",
		func(r *http.Request, by lists.Actor, id uint64) error {
			_, err := c.ls.Dismiss(r.Context(), by, id, r.PostFormValue("reason"))
			return err
		})))
	c.handle("GET /lists/shop", auth.ActionViewShop, c.shopPage)
	c.handle("POST /lists/shop/goods", auth.ActionRunShop, c.shopChange(map[string]string{"id": "GoodsID", "name": "GoodsName", "price": "GoodsPrice", "stock": "GoodsStock"}, c.putGoods))
	c.handle("POST /lists/shop/redeem", auth.ActionRunShop, c.shopChange(map[string]string{"household": "Household", "goods": "GoodsName", "quantity": "Quantity"}, c.redeem))
	c.handle("POST /lists/shop/redemptions/{id}/cancel", auth.ActionRunShop, c.shopChange(map[string]string{"reason": "CancelReason"}, c.cancelRedemption))
	c.handle("POST /lists/shop/households/{id}/link", auth.ActionManageLinks, c.issueLink)
	c.open("GET /v/{id}", http.HandlerFunc(c.villagerPage))
	c.open("POST /v/{id}/object", http.HandlerFunc(c.villagerObject))
}

func objectionLabels() map[string]string {
	return map[string]string{"name": "ObjectorName", "contact": "ObjectorContact", "reason": "ObjectionReason"}
}

func objectionOf(r *http.Request) lists.Objection {
	return lists.Objection{Name: strings.TrimSpace(r.PostFormValue("name")), Contact: strings.TrimSpace(r.PostFormValue("contact")),
		Reason: strings.TrimSpace(r.PostFormValue("reason"))}
}

// communityMessages are the words of these pages.
func communityMessages() map[string]message {
	return map[string]message{
		"StatusNotice":      {"公示中", "on public notice"},
		"StatusOnHold":      {"暂缓（有异议或复核）", "on hold (objection or flag)"},
		"StatusWithdrawn":   {"已撤下", "withdrawn"},
		"NoticeUntil":       {"公示至", "On notice until"},
		"Flag":              {"提请复核", "Flag for re-examination"},
		"FlagNote":          {"复核意见", "Note for re-examination"},
		"Object":            {"登记异议", "Record an objection"},
		"ObjectorName":      {"异议人姓名", "Objector's name"},
		"ObjectorContact":   {"联系方式（电话或住址）", "Contact (phone or address)"},
		"ObjectionReason":   {"异议理由", "Reason of the objection"},
		"HoldsTitle":        {"异议与复核", "Objections and flags"},
		"HoldsNone":         {"没有待处理的异议或复核。", "No open objections or flags."},
		"HoldObjection":     {"异议", "objection"},
		"HoldFlag":          {"复核", "flag"},
		"HoldResolution":    {"处理理由", "Reason of the decision"},
		"Uphold":            {"异议成立，撤下", "Uphold: withdraw"},
		"Dismiss":           {"不成立，继续", "Dismiss: go on"},
		"WithdrawnBecause":  {"撤下理由", "Withdrawn because"},
		"DoneFlagged":       {"已提请复核，条目暂缓。", "Flagged; the entry is on hold."},
		"DoneObjected":      {"已登记异议，条目暂缓。", "Objection recorded; the entry is on hold."},
		"DoneUpheld":        {"异议成立，条目已撤下。", "Upheld; the entry is withdrawn."},
		"DoneDismissed":     {"已处理。", "Dismissed."},
		"PeriodHint":        {"按月 2026-11，按季度 2026-Q4", "a month 2026-11, a quarter 2026-Q4"},
		"ChatsTitle":        {"群消息推送", "Posts to group chats"},
		"ChatsNone":         {"还没有推送到群。", "Nothing posted to group chats yet."},
		"ColChat":           {"群", "Chat"},
		"ColAttempts":       {"尝试次数", "Attempts"},
		"ColLastError":      {"最近的错误", "Last error"},
		"DeliveryPending":   {"发送中", "sending"},
		"DeliveryDelivered": {"已送达", "delivered"},
		"DeliveryFailed":    {"发送失败", "failed"},
		"NavShop":           {"积分超市", "Points shop"},
		"ShopTitle":         {"积分超市", "Points shop"},
		"GoodsTitle":        {"商品", "Goods"},
		"GoodsNone":         {"还没有商品。", "No goods yet."},
		"GoodsID":           {"商品编号", "Goods id"},
		"GoodsName":         {"商品", "Goods"},
		"GoodsPrice":        {"所需积分", "Points"},
		"GoodsStock":        {"库存", "Stock"},
		"GoodsOnSale":       {"上架", "On sale"},
		"GoodsSave":         {"保存商品", "Save goods"},
		"RedeemTitle":       {"兑换", "Redeem"},
		"Quantity":          {"数量", "Quantity"},
		"RedeemButton":      {"兑换", "Redeem"},
		"Balance":           {"积分余额", "Balance"},
		"BalancesTitle":     {"各户积分余额", "Balances"},
		"ReceiptsTitle":     {"最近的兑换", "Recent redemptions"},
		"ReceiptsNone":      {"还没有兑换。", "No redemptions yet."},
		"Receipt":           {"小票号", "Receipt"},
		"CancelReason":      {"取消原因", "Reason for cancelling"},
		"CancelButton":      {"取消兑换", "Cancel"},
		"Cancelled":         {"已取消", "cancelled"},
		"DoneGoods":         {"商品已保存。", "Goods saved."},
		"DoneRedeemed":      {"已兑换，小票号 {x}。", "Redeemed; receipt {x}."},
		"DoneReplayed":      {"这次兑换已经办过（小票号 {x}），没有重复扣分。", "This redemption was already made (receipt {x}); nothing was taken twice."},
		"DoneCancelled":     {"已取消，积分和库存已退回。", "Cancelled; points and stock given back."},
		"BadNumber":         {"请填写整数。", "Fill in a whole number."},
		"LinkButton":        {"打印村民链接", "Print the villager link"},
		"LinkTitle":         {"村民专属链接", "The household's own link"},
		"LinkHint": {"请把下面的链接（或用它生成的二维码）打印交给户主。链接只显示这一次；重新打印会使旧链接作废。",
			"Print this link (or a QR code of it) for the head of the household. It is shown only this once; printing a new one makes the old one stop working."},
		"LinkBack": {"返回积分超市", "Back to the shop"},
		// The villager page.
		"VTitle":         {"我家的积分", "My household's points"},
		"VHousehold":     {"户", "household"},
		"VMembers":       {"家庭成员", "Members"},
		"VEarned":        {"获得", "Earned"},
		"VSpent":         {"已兑换", "Spent"},
		"VMyEntries":     {"我家上榜记录", "Our entries"},
		"VMyEntriesNone": {"暂无上榜记录。", "No entries."},
		"VRedemptions":   {"兑换记录", "Redemptions"},
		"VLists":         {"本村红黑榜", "The village's lists"},
		"VListsNone":     {"本月和本季度还没有发布的榜单。", "No list published this month or quarter."},
		"VShop":          {"积分超市可兑换商品", "What the points shop has"},
		"VObject":        {"我有异议", "I object"},
		"VObjectSend":    {"提交异议", "Send the objection"},
		"VObjected":      {"已收到您的异议，村委会将核实处理。", "Your objection is received; the village committee will look into it."},
		"VNoLink":        {"这个链接无效或已作废。请向村委会索取新的链接。", "This link does not work or was revoked. Ask the village committee for a new one."},
		"VSlowDown":      {"尝试次数过多，请一分钟后再试。", "Too many tries; try again in a minute."},
		"VNotice":        {"公示", "notice"},
		"VPoints":        {"积分", "points"},
	}
}

// formChange is listsChange for pages other than the list's: h's outcome
// in the flash, then back to back(r).
func (c *Console) formChange(labels map[string]string, back func(*http.Request) string, h func(*http.Request, *visit) (string, error)) func(http.ResponseWriter, *http.Request, *visit) {
	return func(w http.ResponseWriter, r *http.Request, v *visit) {
		done, err := "", c.changeOutside(r)
		if err == nil {
			done, err = h(r, v)
		}
		t := c.msgs[v.lang]
		var fe formError
		switch {
		case err == nil:
			text := t[done]
			if k, x, ok := strings.Cut(done, "|"); ok {
				text = strings.ReplaceAll(t[k], "{x}", x)
			}
			setFlash(w, r, flash{OK: true, Text: text})
		case errors.Is(err, lists.ErrInvalid), errors.Is(err, lists.ErrBadPeriod), errors.Is(err, lists.ErrForbidden), errors.Is(err, lists.ErrConflict),
			errors.Is(err, store.ErrExists), errors.Is(err, store.ErrNotFound):
			setFlash(w, r, flash{Text: explain(t, err, labels)})
		case errors.As(err, &fe):
			setFlash(w, r, flash{Text: t["Failed"] + t[string(fe)]})
		default:
			c.fail(w, r, v.lang, err)
			return
		}
		http.Redirect(w, r, back(r), http.StatusSeeOther)
	}
}

func (c *Console) shopChange(labels map[string]string, h func(*http.Request, *visit) (string, error)) func(http.ResponseWriter, *http.Request, *visit) {
	return c.formChange(labels, func(r *http.Request) string {
		return "/lists/shop?" + url.Values{"village": {r.PostFormValue("village")}}.Encode()
	}, h)
}

func formInt(r *http.Request, key string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue(key)))
	if err != nil {
		return 0, formErr("BadNumber")
	}
	return n, nil
}

func (c *Console) putGoods(r *http.Request, v *visit) (string, error) {
	price, err := formInt(r, "price")
	if err != nil {
		return "", err
	}
	stock, err := formInt(r, "stock")
	if err != nil {
		return "", err
	}
	village, id := r.PostFormValue("village"), r.PostFormValue("id")
	in := lists.GoodsInput{Name: r.PostFormValue("name"), Price: price, Stock: stock, OnSale: r.PostFormValue("on_sale") != ""}
	_, err = c.ls.PutGoods(r.Context(), actorOf(v), village, id, in, false)
	if errors.Is(err, store.ErrNotFound) {
		_, err = c.ls.PutGoods(r.Context(), actorOf(v), village, id, in, true)
	}
	return "DoneGoods", err
}

func (c *Console) redeem(r *http.Request, v *visit) (string, error) {
	n, err := formInt(r, "quantity")
	if err != nil {
		return "", err
	}
	x, err := c.ls.Redeem(r.Context(), actorOf(v), r.PostFormValue("village"), lists.RedeemInput{
		Household: r.PostFormValue("household"), Goods: r.PostFormValue("goods"), Quantity: n, Key: r.PostFormValue("key")})
	if err != nil {
		return "", err
	}
	if x.Replayed {
		return "DoneReplayed|" + x.Receipt, nil
	}
	return "DoneRedeemed|" + x.Receipt, nil
}

func (c *Console) cancelRedemption(r *http.Request, v *visit) (string, error) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		return "", formErr("BadRequest")
	}
	_, err = c.ls.CancelRedemption(r.Context(), actorOf(v), id, r.PostFormValue("reason"))
	return "DoneCancelled", err
}

// shopData is what shop.html gets.
type shopData struct {
	Villages    []villageOption
	Village     string
	Flash       *flash
	Goods       []lists.GoodsView
	Households  []shopHousehold
	Redemptions []lists.RedemptionView
	// Key is this form's idempotency key: a resend of the same form is
	// the same redemption.
	Key string
}

type shopHousehold struct {
	ID, Head string
	Balance  int
}

func (c *Console) villageOptions(r *http.Request, want string) ([]villageOption, string, error) {
	boxes, err := c.st.ListBoxes(r.Context())
	if err != nil {
		return nil, "", err
	}
	if want == "" && len(boxes) > 0 {
		want = boxes[0].ID
	}
	var out []villageOption
	known := false
	for _, b := range boxes {
		out = append(out, villageOption{ID: b.ID, Name: displayName(b), Selected: b.ID == want})
		known = known || b.ID == want
	}
	if !known {
		want = ""
	}
	return out, want, nil
}

func (c *Console) shopPage(w http.ResponseWriter, r *http.Request, v *visit) {
	d := shopData{Flash: takeFlash(w, r)}
	var err error
	if d.Villages, d.Village, err = c.villageOptions(r, r.URL.Query().Get("village")); err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	if d.Village != "" {
		if err := c.fillShop(r, &d); err != nil {
			c.fail(w, r, v.lang, err)
			return
		}
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key) // crypto/rand.Read never fails on Linux
	d.Key = hex.EncodeToString(key)
	c.render(w, r, http.StatusOK, "shop.html", c.pageData(v.lang, v, c.csrf.token(purposeSession, v.token), d))
}

func (c *Console) fillShop(r *http.Request, d *shopData) error {
	ctx := r.Context()
	var err error
	if d.Goods, err = c.ls.Goods(ctx, d.Village); err != nil {
		return err
	}
	hs, err := c.ls.Households(ctx, d.Village, lists.Query{})
	if err != nil {
		return err
	}
	bal, err := c.ls.Balances(ctx, d.Village)
	if err != nil {
		return err
	}
	for _, h := range hs {
		d.Households = append(d.Households, shopHousehold{ID: h.ID, Head: h.Head, Balance: bal[h.ID]})
	}
	rs, err := c.ls.Redemptions(ctx, d.Village, "")
	if err != nil {
		return err
	}
	slices.Reverse(rs)
	d.Redemptions = rs[:min(len(rs), 30)]
	return nil
}

// linkData is what link.html gets: the link, shown once.
type linkData struct {
	Village, Household, Head string
	URL                      string
}

// issueLink makes the household a new link and shows it to print; its
// token is never shown again.
func (c *Console) issueLink(w http.ResponseWriter, r *http.Request, v *visit) {
	village, household := r.PostFormValue("village"), r.PathValue("id")
	err := c.changeOutside(r)
	var l lists.IssuedLink
	if err == nil {
		l, err = c.ls.IssueLink(r.Context(), actorOf(v), village, household)
	}
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, lists.ErrInvalid) {
			c.errorPage(w, r, http.StatusNotFound, "NotFound")
			return
		}
		c.fail(w, r, v.lang, err)
		return
	}
	h, _ := c.ls.Household(r.Context(), village, household, false) // it exists: the link was just made for it
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	d := linkData{Village: village, Household: household, Head: h.Head, URL: scheme + "://" + r.Host + l.Path}
	c.render(w, r, http.StatusOK, "link.html", c.pageData(v.lang, v, c.csrf.token(purposeSession, v.token), d))
}

// villagerData is what villager.html gets.
type villagerData struct {
	Token    string
	V        lists.VillagerView
	Done     bool
	Error    string
	Statuses map[store.EntryStatus]string
}

// villagerPage is a household's own page: no session, the link is the key.
func (c *Console) villagerPage(w http.ResponseWriter, r *http.Request) {
	c.showVillager(w, r, http.StatusOK, r.URL.Query().Get("done") != "", "")
}

func (c *Console) showVillager(w http.ResponseWriter, r *http.Request, status int, done bool, problem string) {
	l := langOf(w, r)
	t := c.msgs[l]
	token := r.PathValue("id")
	v, err := c.ls.Villager(r.Context(), c.proxies.Client(r), token)
	var slow *lists.SlowDownError
	switch {
	case errors.As(err, &slow):
		w.Header().Set("Retry-After", strconv.Itoa(int((slow.RetryAfter+time.Second-1)/time.Second)))
		c.errorPage(w, r, http.StatusTooManyRequests, "VSlowDown")
		return
	case errors.Is(err, lists.ErrNoLink):
		c.errorPage(w, r, http.StatusNotFound, "VNoLink")
		return
	case err != nil:
		c.fail(w, r, l, err)
		return
	}
	d := villagerData{Token: token, V: v, Done: done, Error: problem, Statuses: map[store.EntryStatus]string{}}
	for _, s := range []store.EntryStatus{store.StatusPublished, store.StatusNotice, store.StatusRevoked, store.StatusExpired} {
		d.Statuses[s] = t[statusKey(s)]
	}
	c.render(w, r, status, "villager.html", c.pageData(l, nil, "", d))
}

// villagerObject takes an objection from a household's link.
func (c *Console) villagerObject(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	id, err := strconv.ParseUint(r.PostFormValue("entry"), 10, 64)
	if err != nil || id == 0 {
		c.errorPage(w, r, http.StatusBadRequest, "BadRequest")
		return
	}
	_, err = c.ls.VillagerObject(r.Context(), c.proxies.Client(r), r.PathValue("id"), id, objectionOf(r))
	var slow *lists.SlowDownError
	switch {
	case err == nil:
		http.Redirect(w, r, lists.LinkPath(r.PathValue("id"))+"?done=1", http.StatusSeeOther)
	case errors.As(err, &slow), errors.Is(err, lists.ErrNoLink):
		c.showVillager(w, r, http.StatusOK, false, "")
	case errors.Is(err, lists.ErrInvalid), errors.Is(err, lists.ErrConflict):
		c.showVillager(w, r, http.StatusBadRequest, false, explain(c.msgs[langOf(w, r)], err, objectionLabels()))
	default:
		c.fail(w, r, langOf(w, r), err)
	}
}

// holdRow is an open hold as the lists page shows it.
type holdRow struct {
	lists.HoldView
	KindText string
}

// fillHolds adds the village's open holds and latest chat posts.
func (c *Console) fillHolds(r *http.Request, v *visit, t map[string]string, d *listsData) error {
	if auth.Allowed(v.user.Role, auth.ActionViewObjections) {
		hs, err := c.ls.Holds(r.Context(), store.HoldFilter{Village: d.Village, Status: store.HoldOpen})
		if err != nil {
			return err
		}
		for _, h := range hs {
			k := t["HoldObjection"]
			if h.Kind == store.HoldFlag {
				k = t["HoldFlag"]
			}
			d.Holds = append(d.Holds, holdRow{HoldView: h, KindText: k})
		}
	}
	ds, err := c.ls.Deliveries(r.Context(), d.Village, 10)
	if err != nil {
		return err
	}
	for _, x := range ds {
		d.Posts = append(d.Posts, postRow{DeliveryView: x, StatusText: t[deliveryKey(x.Status)]})
	}
	return nil
}

type postRow struct {
	lists.DeliveryView
	StatusText string
}

func deliveryKey(s store.DeliveryStatus) string {
	switch s {
	case store.DeliveryPending:
		return "DeliveryPending"
	case store.DeliveryDelivered:
		return "DeliveryDelivered"
	case store.DeliveryFailed:
		return "DeliveryFailed"
	}
	return "Unknown"
}

// holdable says which hold forms an entry's row offers the visitor.
func holdable(role store.Role, e lists.EntryView) (flag, object bool) {
	at := e.Status
	if at == store.StatusOnHold {
		at = e.HeldFrom
	}
	flag = auth.Allowed(role, auth.ActionFlagLists) && (at == store.StatusInReview || at == store.StatusApproved || at == store.StatusNotice)
	object = auth.Allowed(role, auth.ActionLodgeObjection) && at == store.StatusNotice
	return flag, object
}
