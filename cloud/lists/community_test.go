package lists

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/notify"
	"github.com/dalaba/dalaba/cloud/notify/notifytest"
	"github.com/dalaba/dalaba/cloud/poster"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/internal/testenv"
)

var (
	clerk      = Actor{Name: "张会计", Role: store.RoleOperator}
	judge1     = Actor{Name: "李评委", Role: store.RoleReviewer}
	judge2     = Actor{Name: "王评委", Role: store.RoleReviewer}
	supervisor = Actor{Name: "赵监督", Role: store.RoleSupervisor}
	cst        = time.FixedZone("CST", 8*3600)
)

// town is a service over a real store with a steppable clock.
type town struct {
	s   *Service
	st  Store
	ann *recorder
	mu  sync.Mutex
	now time.Time
}

func (w *town) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *town) step(d time.Duration) {
	w.mu.Lock()
	w.now = w.now.Add(d)
	w.mu.Unlock()
}

func newTown(t *testing.T, cfg Config, deps Deps) *town {
	t.Helper()
	st := openStore(t)
	w := &town{st: st, ann: &recorder{}, now: time.Date(2026, 11, 10, 9, 0, 0, 0, cst)}
	deps.Logger, deps.Store, deps.Announcer, deps.Now = slog.New(slog.DiscardHandler), st, w.ann, w.clock
	s, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	w.s = s
	ctx := t.Context()
	for _, h := range [][2]string{{"h01", "张大山"}, {"h02", "李秀英"}} {
		if _, err := s.CreateHousehold(ctx, clerk, "village-1", h[0], h[1]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreatePerson(ctx, clerk, "village-1", "p1", "张小明", "h01"); err != nil {
		t.Fatal(err)
	}
	return w
}

// approved writes an entry and takes it through two approvals.
func (w *town) approved(t *testing.T, kind store.ListKind, subject Subject, category, reason, period string) EntryView {
	t.Helper()
	ctx := t.Context()
	e, err := w.s.CreateEntry(ctx, clerk, "village-1", EntryInput{Kind: kind, Subject: subject, Category: category, Reason: reason, Period: period})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.Submit(ctx, clerk, e.ID); err != nil {
		t.Fatal(err)
	}
	for _, j := range []Actor{judge1, judge2} {
		if e, err = w.s.Approve(ctx, j, e.ID, ""); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (w *town) status(t *testing.T, id uint64) store.EntryStatus {
	t.Helper()
	e, err := w.s.Entry(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return e.Status
}

func (w *town) link(t *testing.T, household string) string {
	t.Helper()
	l, err := w.s.IssueLink(t.Context(), clerk, "village-1", household)
	if err != nil {
		t.Fatal(err)
	}
	return l.Token
}

// TestPublicNoticeObjectionUpheld: the whole 公示: approval, three days of
// notice, an objection from the villager page holds the entry, a reviewer
// upholds it, and the list, the poster data and the announced text are
// without it; a dismissed objection lets its entry through.
func TestPublicNoticeObjectionUpheld(t *testing.T) {
	w := newTown(t, Config{NoticeDays: 3}, Deps{})
	ctx := t.Context()
	good := w.approved(t, store.KindRed, Subject{store.SubjectPerson, "p1"}, "孝老爱亲", "悉心照料瘫痪的奶奶十年", "2026-11")
	bad := w.approved(t, store.KindBlack, Subject{store.SubjectHousehold, "h02"}, "人居环境整治", "门前乱堆柴草", "2026-11")
	p, err := w.s.Publish(ctx, clerk, "village-1", "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	if p.Text != "" || !p.NoticeEnds.Equal(w.clock().AddDate(0, 0, 3)) || len(w.ann.texts) != 0 {
		t.Fatalf("publish with notice: %+v, announced %q", p, w.ann.texts)
	}
	for _, id := range []uint64{good.ID, bad.ID} {
		if st := w.status(t, id); st != store.StatusNotice {
			t.Fatalf("entry %d is %s, want notice", id, st)
		}
	}
	lv, err := w.s.List(ctx, "village-1", "2026-11")
	if err != nil || len(lv.Red) != 1 || !lv.Red[0].Notice || len(lv.Black) != 1 || lv.Text != "" || lv.NoticeEnds.IsZero() {
		t.Fatalf("the list on notice = %+v, %v", lv, err)
	}

	// Day 1: 李秀英户's own link objects to the black entry.
	w.step(24 * time.Hour)
	tok := w.link(t, "h02")
	if _, err := w.s.VillagerObject(ctx, "10.0.0.7", tok, bad.ID, Objection{Name: "李秀英", Contact: "13800138000", Reason: "柴草已于上周清理"}); err != nil {
		t.Fatal(err)
	}
	if st := w.status(t, bad.ID); st != store.StatusOnHold {
		t.Fatalf("objected entry is %s, want on_hold", st)
	}
	// On hold: shown nowhere public, cannot be approved or edited.
	lv, _ = w.s.PublicList(ctx, "village-1", "2026-11")
	if len(lv.Black) != 0 {
		t.Fatalf("an entry on hold is on the public list: %+v", lv.Black)
	}
	if _, err := w.s.UpdateEntry(ctx, clerk, bad.ID, EntryInput{Kind: store.KindBlack, Subject: Subject{store.SubjectHousehold, "h02"}, Category: "人居环境整治", Reason: "改", Period: "2026-11"}, 0); !errors.Is(err, ErrConflict) {
		t.Fatalf("editing an entry on hold = %v", err)
	}
	holds, err := w.s.Holds(ctx, store.HoldFilter{Village: "village-1", Status: store.HoldOpen})
	if err != nil || len(holds) != 1 || holds[0].Household != "h02" || holds[0].Name != "李秀英" {
		t.Fatalf("open holds = %+v, %v", holds, err)
	}
	// The clerk may not resolve; a reviewer upholds.
	if _, err := w.s.Uphold(ctx, clerk, holds[0].ID, "核实属实"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a clerk upholding = %v", err)
	}
	if _, err := w.s.Uphold(ctx, judge1, holds[0].ID, "经核实已整改，撤下"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.Dismiss(ctx, judge2, holds[0].ID, "再议"); !errors.Is(err, ErrConflict) {
		t.Fatalf("resolving a closed hold = %v", err)
	}
	if e, _ := w.s.Entry(ctx, bad.ID); e.Status != store.StatusWithdrawn || e.WithdrawReason != "经核实已整改，撤下" {
		t.Fatalf("upheld entry = %s %q", e.Status, e.WithdrawReason)
	}

	// Day 3, not yet: nothing settles; after it, the red entry is published.
	w.step(47 * time.Hour)
	if n, err := w.s.Settle(ctx); err != nil || n != 0 {
		t.Fatalf("settling before the notice ends = %d, %v", n, err)
	}
	w.step(time.Hour)
	if n, err := w.s.Settle(ctx); err != nil || n != 1 {
		t.Fatalf("settling at the notice's end = %d, %v", n, err)
	}
	if st := w.status(t, good.ID); st != store.StatusPublished {
		t.Fatalf("the red entry is %s after its notice", st)
	}
	lv, _ = w.s.List(ctx, "village-1", "2026-11")
	d := w.s.PosterData(lv, "")
	if len(lv.Black) != 0 || len(d.Black) != 0 || strings.Contains(lv.Text, "李秀英") || strings.Contains(lv.Text, "柴草") {
		t.Fatalf("the withdrawn entry is still on the list: %+v / %q", lv.Black, lv.Text)
	}
	if len(w.ann.texts) != 1 || !strings.Contains(w.ann.texts[0], "张小明") || strings.Contains(w.ann.texts[0], "李秀英") {
		t.Fatalf("announced %q, want the red entry only", w.ann.texts)
	}
	// The trail has every step.
	var actions []string
	recs, _ := w.st.ListAudit(ctx, store.AuditFilter{EntryID: bad.ID, Limit: 100})
	for _, r := range recs {
		actions = append(actions, r.Action)
	}
	if got := strings.Join(actions, " "); got != "entry.create entry.submit entry.approve entry.approve entry.notice objection.lodge hold.uphold" {
		t.Fatalf("the withdrawn entry's trail: %s", got)
	}
}

func TestPublicNoticeObjectionDismissedAndFlags(t *testing.T) {
	w := newTown(t, Config{NoticeDays: 3}, Deps{})
	ctx := t.Context()
	e := w.approved(t, store.KindBlack, Subject{store.SubjectHousehold, "h02"}, "人居环境整治", "门前乱堆柴草", "2026-11")
	if _, err := w.s.Publish(ctx, clerk, "village-1", "2026-11"); err != nil {
		t.Fatal(err)
	}
	h, err := w.s.Object(ctx, clerk, e.ID, Objection{Name: "王五", Contact: "村东头", Reason: "不属实"})
	if err != nil {
		t.Fatal(err)
	}
	// A supervisor flags the same entry; an entry may carry both.
	f, err := w.s.Flag(ctx, supervisor, e.ID, "请核实照片")
	if err != nil {
		t.Fatal(err)
	}
	// A supervisor changes nothing else.
	if _, err := w.s.Approve(ctx, supervisor, e.ID, ""); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a supervisor approving = %v", err)
	}
	if _, err := w.s.UpdateEntry(ctx, supervisor, e.ID, EntryInput{}, 0); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a supervisor editing = %v", err)
	}
	if _, err := w.s.Dismiss(ctx, supervisor, f.ID, "x"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a supervisor resolving = %v", err)
	}
	if _, err := w.s.Flag(ctx, clerk, e.ID, "x"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a clerk flagging = %v", err)
	}
	w.step(4 * 24 * time.Hour) // the notice ends while held
	if n, _ := w.s.Settle(ctx); n != 0 {
		t.Fatal("an entry on hold was published")
	}
	if _, err := w.s.Dismiss(ctx, judge1, h.ID, "经核实属实"); err != nil {
		t.Fatal(err)
	}
	if st := w.status(t, e.ID); st != store.StatusOnHold {
		t.Fatalf("with the flag still open the entry is %s", st)
	}
	// The last dismissal lets it through at once: its notice is over.
	if _, err := w.s.Dismiss(ctx, judge2, f.ID, "照片已核实"); err != nil {
		t.Fatal(err)
	}
	if st := w.status(t, e.ID); st != store.StatusPublished {
		t.Fatalf("after both dismissals the entry is %s, want published", st)
	}
	if len(w.ann.texts) != 1 || !strings.Contains(w.ann.texts[0], "李秀英户") {
		t.Fatalf("announced %q", w.ann.texts)
	}
	// A flag holds an entry in review too, which goes back to review.
	r, err := w.s.CreateEntry(ctx, clerk, "village-1", EntryInput{Kind: store.KindRed, Subject: Subject{store.SubjectPerson, "p1"}, Category: "孝老爱亲", Reason: "照顾老人", Period: "2026-11"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.Flag(ctx, supervisor, r.ID, "评审程序有疑问"); !errors.Is(err, ErrConflict) {
		t.Fatalf("flagging a draft = %v", err)
	}
	if _, err := w.s.Submit(ctx, clerk, r.ID); err != nil {
		t.Fatal(err)
	}
	f2, err := w.s.Flag(ctx, supervisor, r.ID, "评审程序有疑问")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.Approve(ctx, judge1, r.ID, ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("approving a flagged entry = %v", err)
	}
	if _, err := w.s.Dismiss(ctx, judge1, f2.ID, "程序无误"); err != nil {
		t.Fatal(err)
	}
	if st := w.status(t, r.ID); st != store.StatusInReview {
		t.Fatalf("after the flag the entry is %s, want in_review", st)
	}
}

func TestRoundsSideBySide(t *testing.T) {
	w := newTown(t, Config{Approvals: 1, Rounds: Rounds{Default: RoundMonthly, Categories: map[string]Round{"孝老爱亲": RoundQuarterly}}}, Deps{})
	ctx := t.Context()
	in := func(cat, period string) EntryInput {
		return EntryInput{Kind: store.KindRed, Subject: Subject{store.SubjectPerson, "p1"}, Category: cat, Reason: "好事", Period: period}
	}
	for _, c := range []struct {
		cat, period string
		ok          bool
	}{
		{"孝老爱亲", "2026-Q4", true},
		{"人居环境整治", "2026-11", true},
		{"孝老爱亲", "2026-11", false},   // this category is quarterly
		{"人居环境整治", "2026-Q4", false}, // and this one monthly
		{"人居环境整治", "2026-13", false},
		{"孝老爱亲", "2026-Q5", false},
		{"孝老爱亲", "2026-q4", false},
		{"孝老爱亲", "26-Q4", false},
	} {
		_, err := w.s.CreateEntry(ctx, clerk, "village-1", in(c.cat, c.period))
		if c.ok && err != nil {
			t.Errorf("%s %s: %v", c.cat, c.period, err)
		}
		if !c.ok && !errors.Is(err, ErrBadPeriod) {
			t.Errorf("%s %s = %v, want ErrBadPeriod", c.cat, c.period, err)
		}
	}
	for _, id := range []uint64{1, 2} {
		if _, err := w.s.Submit(ctx, clerk, id); err != nil {
			t.Fatal(err)
		}
		if _, err := w.s.Approve(ctx, judge1, id, ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"2026-Q4", "2026-11"} {
		if _, err := w.s.Publish(ctx, clerk, "village-1", p); err != nil {
			t.Fatalf("publish %s: %v", p, err)
		}
	}
	if w.ann.texts[0] == "" || !strings.Contains(w.ann.texts[0], "2026年第四季度") || !strings.Contains(w.ann.texts[1], "2026年11月") {
		t.Fatalf("announced %q", w.ann.texts)
	}
	// The quarter's board counts its months; the month's only itself.
	q, _ := w.s.Leaderboard(ctx, "village-1", "2026-Q4")
	m, _ := w.s.Leaderboard(ctx, "village-1", "2026-11")
	if q[0].Household != "h01" || q[0].Points != 15 || m[0].Points != 5 {
		t.Fatalf("quarter board %+v, month board %+v", q, m)
	}
	if _, err := w.s.Leaderboard(ctx, "village-1", "2026-Q0"); !errors.Is(err, ErrBadPeriod) {
		t.Fatalf("a bad period's board = %v", err)
	}
	// A quarter ends with its last month.
	w.now = time.Date(2026, 12, 31, 23, 59, 0, 0, cst)
	if w.s.ended("2026-Q4") || !w.s.ended("2026-11") {
		t.Fatal("end of December: Q4 has not ended, November has")
	}
	w.now = time.Date(2027, 1, 1, 0, 0, 0, 0, cst)
	if !w.s.ended("2026-Q4") {
		t.Fatal("Q4 has not ended on New Year")
	}
}

// TestShopConcurrentAndIdempotent: two clerks take the last item at once,
// one wins; a replayed request is applied once; points never go below
// zero; a cancellation gives back both points and stock.
func TestShopConcurrentAndIdempotent(t *testing.T) {
	w := newTown(t, Config{Approvals: 1}, Deps{})
	ctx := t.Context()
	e, err := w.s.CreateEntry(ctx, clerk, "village-1", EntryInput{Kind: store.KindRed, Subject: Subject{store.SubjectPerson, "p1"}, Category: "孝老爱亲", Reason: "好事", Period: "2026-11"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.Submit(ctx, clerk, e.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.Approve(ctx, judge1, e.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.Publish(ctx, clerk, "village-1", "2026-11"); err != nil {
		t.Fatal(err)
	}
	clerk2 := Actor{Name: "刘会计", Role: store.RoleOperator}
	if _, err := w.s.PutGoods(ctx, clerk, "village-1", "oil", GoodsInput{Name: "食用油", Price: 4, Stock: 1, OnSale: true}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.PutGoods(ctx, judge1, "village-1", "soap", GoodsInput{Name: "肥皂", Price: 1, Stock: 1}, true); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a reviewer keeping the shop = %v", err)
	}
	var wg sync.WaitGroup
	res := make([]error, 2)
	outs := make([]RedemptionView, 2)
	for i, c := range []Actor{clerk, clerk2} {
		wg.Go(func() {
			outs[i], res[i] = w.s.Redeem(ctx, c, "village-1", RedeemInput{Household: "h01", Goods: "oil", Quantity: 1, Key: fmt.Sprintf("counter-%d-key", i)})
		})
	}
	wg.Wait()
	win := 0
	if res[0] != nil {
		win = 1
	}
	if res[win] != nil || !errors.Is(res[1-win], ErrOutOfStock) {
		t.Fatalf("two clerks, last bottle: %v / %v", res[0], res[1])
	}
	if *outs[win].Balance != 6 || !strings.HasPrefix(outs[win].Receipt, "JF") {
		t.Fatalf("the winner's receipt %+v", outs[win])
	}
	again, err := w.s.Redeem(ctx, []Actor{clerk, clerk2}[win], "village-1", RedeemInput{Household: "h01", Goods: "oil", Quantity: 1, Key: fmt.Sprintf("counter-%d-key", win)})
	if err != nil || !again.Replayed || again.ID != outs[win].ID {
		t.Fatalf("a replayed request = %+v, %v", again, err)
	}
	if _, err := w.s.PutGoods(ctx, clerk, "village-1", "oil", GoodsInput{Name: "食用油", Price: 4, Stock: 10, OnSale: true}, false); err != nil {
		t.Fatal(err)
	}
	// 6 points left: one more bottle (4), then not a third.
	if _, err := w.s.Redeem(ctx, clerk, "village-1", RedeemInput{Household: "h01", Goods: "oil", Quantity: 1, Key: "third-bottle-a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.Redeem(ctx, clerk, "village-1", RedeemInput{Household: "h01", Goods: "oil", Quantity: 1, Key: "third-bottle-b"}); !errors.Is(err, ErrNotEnoughPoints) {
		t.Fatalf("redeeming past zero = %v", err)
	}
	a, err := w.s.Account(ctx, "village-1", "h01")
	if err != nil || a.Balance != 2 || a.Earned != 10 || a.Spent != 8 || len(a.Lines) != 3 {
		t.Fatalf("account = %+v, %v", a, err)
	}
	c, err := w.s.CancelRedemption(ctx, clerk, outs[win].ID, "拿错了")
	if err != nil || c.Status != store.RedemptionCancelled {
		t.Fatalf("cancel = %+v, %v", c, err)
	}
	if _, err := w.s.CancelRedemption(ctx, clerk, outs[win].ID, "again"); !errors.Is(err, ErrConflict) {
		t.Fatalf("cancelling twice = %v", err)
	}
	a, _ = w.s.Account(ctx, "village-1", "h01")
	gs, _ := w.s.Goods(ctx, "village-1")
	if a.Balance != 6 || gs[0].Stock != 10 {
		t.Fatalf("after the cancellation: balance %d stock %d, want 6 and 10", a.Balance, gs[0].Stock)
	}
	st, err := w.s.Statement(ctx, "village-1", "h01", "2026-11")
	if err != nil || st.Opening != 0 || st.Closing != 6 || len(st.Lines) != 4 {
		t.Fatalf("November's statement = %+v, %v", st, err)
	}
	if _, err := w.s.Statement(ctx, "village-1", "h01", "2026-Q4"); !errors.Is(err, ErrBadPeriod) {
		t.Fatalf("a quarter's statement = %v", err)
	}
}

// TestVillagerPage: a link sees its own household, the village's public
// list (masked) and the shop, nothing of other households; a wrong or
// revoked link is refused; LinkFailures wrong ones slow the address.
func TestVillagerPage(t *testing.T) {
	w := newTown(t, Config{Approvals: 2, Privacy: Privacy{MaskNames: true, ReasonRunes: 6}}, Deps{})
	ctx := t.Context()
	w.approved(t, store.KindRed, Subject{store.SubjectPerson, "p1"}, "孝老爱亲", "悉心照料瘫痪的奶奶十年", "2026-11")
	w.approved(t, store.KindBlack, Subject{store.SubjectHousehold, "h02"}, "人居环境整治", "门前乱堆柴草", "2026-11")
	if _, err := w.s.Publish(ctx, clerk, "village-1", "2026-11"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w.ann.texts[0], "张某明") || !strings.Contains(w.ann.texts[0], "李某英户") || strings.Contains(w.ann.texts[0], "张小明") {
		t.Fatalf("the spoken text does not mask: %q", w.ann.texts[0])
	}
	tok := w.link(t, "h01")
	v, err := w.s.Villager(ctx, "10.0.0.8", tok)
	if err != nil {
		t.Fatal(err)
	}
	if v.Household != "h01" || v.Head != "张大山" || v.Account.Balance != 10 || len(v.Entries) != 1 || v.Entries[0].Reason != "悉心照料瘫痪的奶奶十年" {
		t.Fatalf("own data = %+v", v)
	}
	if len(v.Lists) != 1 || v.Lists[0].Black[0].Name != "李*英户" || v.Lists[0].Red[0].Name != "张*明" || v.Lists[0].Black[0].Reason != "门前乱堆柴草" || v.Lists[0].Red[0].Reason != "悉心照料瘫…" || v.Lists[0].Black[0].Household != "" {
		t.Fatalf("the public list = %+v", v.Lists)
	}
	all := fmt.Sprintf("%+v", v)
	if strings.Contains(all, "李秀英") || strings.Contains(all, "h02") {
		t.Fatalf("the page shows another household: %s", all)
	}
	// Reprinted: the old slip stops working; revoked: the new one too.
	tok2 := w.link(t, "h01")
	if _, err := w.s.Villager(ctx, "10.0.0.8", tok); !errors.Is(err, ErrNoLink) {
		t.Fatalf("the old slip = %v", err)
	}
	if _, err := w.s.RevokeLinks(ctx, clerk, "village-1", "h01"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.Villager(ctx, "10.0.0.8", tok2); !errors.Is(err, ErrNoLink) {
		t.Fatalf("a revoked link = %v", err)
	}
	// Guessing: the 100th wrong token in a minute, then even a good one waits.
	good := w.link(t, "h02")
	for i := range LinkFailures - 1 {
		if _, err := w.s.Villager(ctx, "10.0.0.9", fmt.Sprintf("guess-%d", i)); !errors.Is(err, ErrNoLink) {
			t.Fatalf("guess %d = %v", i, err)
		}
	}
	if _, err := w.s.Villager(ctx, "10.0.0.9", good); err != nil {
		t.Fatalf("a good link before the limit = %v", err)
	}
	_, err = w.s.Villager(ctx, "10.0.0.9", "guess-last")
	if !errors.Is(err, ErrNoLink) {
		t.Fatalf("the 100th wrong link = %v", err)
	}
	_, err = w.s.Villager(ctx, "10.0.0.9", good)
	var slow *SlowDownError
	if !errors.As(err, &slow) || slow.RetryAfter <= 0 || slow.RetryAfter > LinkWindow {
		t.Fatalf("past the limit = %v, want SlowDownError", err)
	}
	if _, err := w.s.Villager(ctx, "10.0.0.10", good); err != nil {
		t.Fatalf("another address = %v", err)
	}
	w.step(LinkWindow)
	if _, err := w.s.Villager(ctx, "10.0.0.9", good); err != nil {
		t.Fatalf("a minute later = %v", err)
	}
}

func TestRetentionAndExport(t *testing.T) {
	w := newTown(t, Config{NoticeDays: 1, Privacy: Privacy{RetentionMonths: 24}}, Deps{})
	ctx := t.Context()
	e := w.approved(t, store.KindRed, Subject{store.SubjectPerson, "p1"}, "孝老爱亲", "悉心照料瘫痪的奶奶十年", "2026-11")
	if _, err := w.s.Publish(ctx, clerk, "village-1", "2026-11"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.Object(ctx, clerk, e.ID, Objection{Name: "王五", Contact: "13900000000", Reason: "不属实"}); err != nil {
		t.Fatal(err)
	}
	x, err := w.s.Export(ctx, clerk, "village-1", "h01")
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Entries) != 1 || len(x.Holds) != 1 || x.Holds[0].Name != "王五" || len(x.Audit) < 6 || x.Household.Head != "张大山" {
		t.Fatalf("export = %d entries, %d holds, %d audit records", len(x.Entries), len(x.Holds), len(x.Audit))
	}
	if _, err := w.s.Export(ctx, judge1, "village-1", "h01"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a reviewer exporting = %v", err)
	}
	if ne, nh, err := w.s.Retain(ctx); err != nil || ne+nh != 0 {
		t.Fatalf("retention of young records = %d %d %v", ne, nh, err)
	}
	w.step(25 * 30 * 24 * time.Hour)
	if ne, nh, err := w.s.Retain(ctx); err != nil || ne != 1 || nh != 1 {
		t.Fatalf("retention after 25 months = %d %d %v", ne, nh, err)
	}
	got, _ := w.s.Entry(ctx, e.ID)
	if got.Reason != Anonymised || got.Subject.Kind != store.SubjectHousehold || got.Subject.ID != "h01" || got.Anonymised.IsZero() {
		t.Fatalf("anonymised entry = %+v", got)
	}
	h, _ := w.s.Holds(ctx, store.HoldFilter{EntryID: e.ID})
	if h[0].Name != "" || h[0].Contact != "" {
		t.Fatalf("anonymised objection = %+v", h[0])
	}
	recs, _ := w.st.ListAudit(ctx, store.AuditFilter{Limit: 1000})
	for _, r := range recs {
		if b := string(r.Before) + string(r.After) + r.Note; strings.Contains(b, "王五") || strings.Contains(b, "瘫痪") {
			t.Errorf("audit %d %s still says %s", r.Seq, r.Action, b)
		}
	}
	if last := recs[len(recs)-1]; last.Action != "retention.anonymise" {
		t.Errorf("the last record is %s, want the anonymisation's", last.Action)
	}
}

// TestChatsPostTextAndPoster: a publication is posted to a WeCom and a
// DingTalk group as the platforms document (DingTalk signed), text and a
// PNG poster that decodes, names masked; a chat that fails is retried and
// its outcome recorded, and the loudspeaker is announced all the same.
func TestChatsPostTextAndPoster(t *testing.T) {
	if _, err := os.Stat(poster.DefaultFontPath); err != nil {
		testenv.Missing(t, poster.DefaultFontPath, "apt-get install fonts-noto-cjk (make deps)")
	}
	font, err := poster.LoadFont(poster.DefaultFontPath)
	if err != nil {
		t.Fatal(err)
	}
	rcv := notifytest.New(t, nil)
	var slept []time.Duration
	var mu sync.Mutex
	sleep := func(ctx context.Context, d time.Duration) bool {
		mu.Lock()
		slept = append(slept, d)
		mu.Unlock()
		return ctx.Err() == nil
	}
	w := newTown(t, Config{Approvals: 2, Privacy: Privacy{MaskNames: true},
		Chats: ChatConfig{PublicURL: "https://town.example", Backoff: notify.Backoff{Initial: time.Second, Max: 4 * time.Second, Attempts: 3}}},
		Deps{Font: font, Sleep: sleep, Sender: notify.NewSender(nil, nil)})
	ctx := t.Context()
	chats := []ChatView{}
	for _, k := range []notify.Kind{notify.KindWeCom, notify.KindDingTalk, notify.KindWebhook} {
		c := rcv.Channel(k)
		chats = append(chats, ChatView{ID: "grid-" + string(k), Kind: k, URL: c.URL, Secret: c.Secret})
	}
	got, err := w.s.PutChats(ctx, clerk, "village-1", chats)
	if err != nil || got[1].Secret != SecretMask {
		t.Fatalf("PutChats = %+v, %v", got, err)
	}
	// The webhook fails twice and then takes it.
	rcv.FailNext(notify.KindWebhook, 2, 503, 0)
	w.approved(t, store.KindRed, Subject{store.SubjectPerson, "p1"}, "孝老爱亲", "悉心照料瘫痪的奶奶十年", "2026-11")
	if _, err := w.s.Publish(ctx, clerk, "village-1", "2026-11"); err != nil {
		t.Fatal(err)
	}
	if len(w.ann.texts) != 1 {
		t.Fatal("the loudspeaker was not announced")
	}
	if err := w.s.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	if r := rcv.Refused(); len(r) != 0 {
		t.Fatalf("the receiver refused: %q", r)
	}
	var wecomText, wecomImage, ding bool
	for _, r := range rcv.Received() {
		switch {
		case r.Kind == notify.KindWeCom && r.Type == "text":
			wecomText = strings.Contains(r.Text, "张*明") && !strings.Contains(r.Text, "张小明")
		case r.Kind == notify.KindWeCom && r.Type == "image":
			img, err := png.Decode(bytes.NewReader(r.Image))
			wecomImage = err == nil && img.Bounds().Dx() == 1080
		case r.Kind == notify.KindDingTalk:
			ding = strings.Contains(r.Text, "张*明") && strings.HasPrefix(r.ImageURL, "https://town.example/p/")
		}
	}
	if !wecomText || !wecomImage || !ding {
		t.Fatalf("received %+v: wecom text %t image %t dingtalk %t", rcv.Received(), wecomText, wecomImage, ding)
	}
	ds, err := w.s.Deliveries(ctx, "village-1", 10)
	if err != nil || len(ds) != 3 {
		t.Fatalf("deliveries = %+v, %v", ds, err)
	}
	for _, d := range ds {
		want := 1
		if d.Chat == "grid-webhook" {
			want = 3
		}
		if d.Status != store.DeliveryDelivered || d.Attempts != want {
			t.Errorf("%s: %s after %d attempts, want delivered after %d", d.Chat, d.Status, d.Attempts, want)
		}
	}
	if len(slept) != 2 || slept[0] != time.Second || slept[1] != 2*time.Second {
		t.Errorf("backoff waits %v, want 1s then 2s", slept)
	}
	// The picture is served at its link.
	img, err := w.s.Image(ctx, strings.TrimSuffix(strings.TrimPrefix(ds[0].Image, "/p/"), ".png"))
	if err != nil || !bytes.HasPrefix(img, []byte("\x89PNG")) {
		t.Fatalf("the posted picture = %d bytes, %v", len(img), err)
	}
	// A chat that keeps failing is given up and says why.
	rcv.FailNext(notify.KindWeCom, 10, 500, 0)
	if _, err := w.s.Revoke(ctx, judge1, 999, "x"); err == nil {
		t.Fatal("revoking an unknown entry")
	}
	w.s.post(ctx, "village-1", "2026-11", EventRevoke)
	if err := w.s.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	ds, _ = w.s.Deliveries(ctx, "village-1", 3)
	for _, d := range ds {
		if d.Chat == "grid-wecom" && (d.Status != store.DeliveryFailed || d.Attempts != 3 || !strings.Contains(d.LastError, "500")) {
			t.Errorf("the failing chat: %+v", d)
		}
	}
}
