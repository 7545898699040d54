package lists

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
)

// The points shop (积分超市).
//
// The ledger. A household's account moves by these, each at its time:
//
//   - an entry about the household or a member published: its points
//     (a black entry's are negative), at PublishedAt;
//   - a published black entry revoked after 整改: its points given back,
//     at RevokedAt (the entry no longer counts);
//   - a redemption: the goods' price times the quantity, taken, at its
//     time;
//   - a cancelled redemption: the same given back, at its cancellation.
//
// The balance is their sum: the points of the published entries less
// those of the redemptions not cancelled, which is what the store checks
// a redemption against in the same transaction that takes it
// (store.Shop). A redemption never takes the balance below zero; black
// entries can (a household then redeems nothing until it earns more).
// Entries on notice, on hold, withdrawn or in review count for nothing.

// ErrOutOfStock and ErrNotEnoughPoints explain a refused redemption to the
// clerk (409); both are ErrConflict.
var (
	ErrOutOfStock      = fmt.Errorf("%w: out of stock", ErrConflict)
	ErrNotEnoughPoints = fmt.Errorf("%w: not enough points", ErrConflict)
)

// Limits of the shop.
const (
	MaxPrice    = 100_000
	MaxStock    = 100_000
	MaxQuantity = 99
	MaxKey      = 64
)

// GoodsView is goods as the API shows them.
type GoodsView struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Price     int       `json:"price"`
	Stock     int       `json:"stock"`
	OnSale    bool      `json:"on_sale"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
}

func goodsView(g store.Goods) GoodsView {
	return GoodsView{ID: g.ID, Name: g.Name, Price: g.Price, Stock: g.Stock, OnSale: g.OnSale, UpdatedAt: g.UpdatedAt, UpdatedBy: g.UpdatedBy}
}

// GoodsInput is what a clerk writes of goods.
type GoodsInput struct {
	Name   string `json:"name"`
	Price  int    `json:"price"`
	Stock  int    `json:"stock"`
	OnSale bool   `json:"on_sale"`
}

// PutGoods creates (create) or replaces goods id of village.
func (s *Service) PutGoods(ctx context.Context, by Actor, village, id string, in GoodsInput, create bool) (GoodsView, error) {
	if err := by.may(auth.ActionRunShop); err != nil {
		return GoodsView{}, err
	}
	var errs []error
	errs = append(errs, checkID("id", id), checkText("name", in.Name, 1, MaxName))
	if in.Price < 1 || in.Price > MaxPrice {
		errs = append(errs, fmt.Errorf("%w: price: %d points, want 1 to %d", ErrInvalid, in.Price, MaxPrice))
	}
	if in.Stock < 0 || in.Stock > MaxStock {
		errs = append(errs, fmt.Errorf("%w: stock: %d, want 0 to %d", ErrInvalid, in.Stock, MaxStock))
	}
	if err := errors.Join(errs...); err != nil {
		return GoodsView{}, err
	}
	g := store.Goods{Village: village, ID: id, Name: in.Name, Price: in.Price, Stock: in.Stock, OnSale: in.OnSale, UpdatedAt: s.now(), UpdatedBy: by.Name}
	action := "goods.put"
	if create {
		action = "goods.create"
	}
	var before any
	if !create {
		if old, err := s.st.GetGoods(ctx, village, id); err == nil {
			before = goodsView(old)
		}
	}
	a := store.AuditRecord{Time: g.UpdatedAt, Actor: by.Name, Action: action, Target: "goods/" + id, After: mustJSON(goodsView(g))}
	if before != nil {
		a.Before = mustJSON(before)
	}
	if err := s.st.PutGoods(ctx, g, create, a); err != nil {
		return GoodsView{}, fmt.Errorf("lists: %s %s of %s: %w", action, id, village, err)
	}
	s.log.Info("goods changed", "box_id", village, "goods", id, "user", by.Name)
	return goodsView(g), nil
}

// Goods returns the village's goods by id.
func (s *Service) Goods(ctx context.Context, village string) ([]GoodsView, error) {
	if _, err := s.village(ctx, village); err != nil {
		return nil, err
	}
	gs, err := s.st.ListGoods(ctx, village)
	if err != nil {
		return nil, fmt.Errorf("lists: goods of %s: %w", village, err)
	}
	out := make([]GoodsView, 0, len(gs))
	for _, g := range gs {
		out = append(out, goodsView(g))
	}
	return out, nil
}

// RedemptionView is a redemption as the API shows it.
type RedemptionView struct {
	ID           uint64                 `json:"id"`
	Receipt      string                 `json:"receipt"`
	Village      string                 `json:"village"`
	Household    string                 `json:"household"`
	Goods        string                 `json:"goods"`
	GoodsName    string                 `json:"goods_name"`
	Quantity     int                    `json:"quantity"`
	Points       int                    `json:"points"`
	By           string                 `json:"by"`
	Status       store.RedemptionStatus `json:"status"`
	CreatedAt    time.Time              `json:"created_at"`
	CancelledAt  time.Time              `json:"cancelled_at,omitzero"`
	CancelledBy  string                 `json:"cancelled_by,omitempty"`
	CancelReason string                 `json:"cancel_reason,omitempty"`
	// Balance is the household's after the redemption (only in the
	// answer to the redemption itself).
	Balance *int `json:"balance,omitempty"`
	// Replayed: the request came before and this is what it did.
	Replayed bool `json:"replayed,omitempty"`
}

// Receipt is the number printed on a redemption's slip.
func Receipt(id uint64) string { return fmt.Sprintf("JF%08d", id) }

func redemptionView(r store.Redemption) RedemptionView {
	return RedemptionView{ID: r.ID, Receipt: Receipt(r.ID), Village: r.Village, Household: r.Household, Goods: r.Goods,
		GoodsName: r.GoodsName, Quantity: r.Quantity, Points: r.Points, By: r.By, Status: r.Status, CreatedAt: r.CreatedAt,
		CancelledAt: r.CancelledAt, CancelledBy: r.CancelledBy, CancelReason: r.CancelReason}
}

// RedeemInput is one redemption at the counter. Key is chosen by the
// clerk's page once per redemption, so a request sent twice (a double
// tap, a retry after a lost answer) is applied once.
type RedeemInput struct {
	Household string `json:"household"`
	Goods     string `json:"goods"`
	Quantity  int    `json:"quantity"`
	Key       string `json:"key"`
}

// Redeem spends household's points on goods.
func (s *Service) Redeem(ctx context.Context, by Actor, village string, in RedeemInput) (RedemptionView, error) {
	if err := by.may(auth.ActionRunShop); err != nil {
		return RedemptionView{}, err
	}
	var errs []error
	errs = append(errs, checkID("household", in.Household), checkID("goods", in.Goods), checkText("key", in.Key, 8, MaxKey))
	if in.Quantity < 1 || in.Quantity > MaxQuantity {
		errs = append(errs, fmt.Errorf("%w: quantity: %d, want 1 to %d", ErrInvalid, in.Quantity, MaxQuantity))
	}
	if err := errors.Join(errs...); err != nil {
		return RedemptionView{}, err
	}
	now := s.now()
	r := store.Redemption{Village: village, Household: in.Household, Goods: in.Goods, Quantity: in.Quantity, Key: in.Key, By: by.Name, CreatedAt: now}
	var bal int
	out, replayed, err := s.st.Redeem(ctx, r, func(r store.Redemption, balance int) store.AuditRecord {
		bal = balance
		return store.AuditRecord{Time: now, Actor: by.Name, Action: "shop.redeem", Target: "household/" + r.Household + "/redemption/" + Receipt(r.ID),
			After: mustJSON(redemptionView(r)), Note: fmt.Sprintf("余额 %d", balance)}
	})
	// The store's refusals are told in the clerk's terms, without its
	// chain of operations.
	switch {
	case errors.Is(err, store.ErrOutOfStock):
		return RedemptionView{}, fmt.Errorf("%w: goods %s: fewer than %d left, or off sale", ErrOutOfStock, in.Goods, in.Quantity)
	case errors.Is(err, store.ErrNotEnoughPoints):
		bal, berr := s.st.Balance(ctx, village, in.Household)
		if berr != nil {
			return RedemptionView{}, fmt.Errorf("%w: household %s", ErrNotEnoughPoints, in.Household)
		}
		return RedemptionView{}, fmt.Errorf("%w: household %s has %d points", ErrNotEnoughPoints, in.Household, bal)
	case errors.Is(err, store.ErrKeyReused):
		return RedemptionView{}, fmt.Errorf("%w: key: %q was used for another redemption; reload the page", ErrInvalid, in.Key)
	case errors.Is(err, store.ErrNotFound):
		return RedemptionView{}, fmt.Errorf("%w: household or goods: no household %q or goods %q in village %s", ErrInvalid, in.Household, in.Goods, village)
	case err != nil:
		return RedemptionView{}, fmt.Errorf("lists: redeem: %w", err)
	}
	v := redemptionView(out)
	v.Replayed = replayed
	if !replayed {
		v.Balance = &bal
		s.log.Info("points redeemed", "box_id", village, "household", in.Household, "goods", in.Goods, "receipt", v.Receipt, "user", by.Name)
	}
	return v, nil
}

// CancelRedemption gives a redemption's points and stock back.
func (s *Service) CancelRedemption(ctx context.Context, by Actor, id uint64, reason string) (RedemptionView, error) {
	if err := by.may(auth.ActionRunShop); err != nil {
		return RedemptionView{}, err
	}
	if err := checkText("reason", reason, 1, MaxReason); err != nil {
		return RedemptionView{}, err
	}
	now := s.now()
	r, err := s.st.CancelRedemption(ctx, id, func(r *store.Redemption) (store.AuditRecord, error) {
		if r.Status == store.RedemptionCancelled {
			return store.AuditRecord{}, fmt.Errorf("%w: redemption %s is already cancelled", ErrConflict, Receipt(id))
		}
		before := redemptionView(*r)
		r.Status, r.CancelledAt, r.CancelledBy, r.CancelReason = store.RedemptionCancelled, now, by.Name, reason
		return store.AuditRecord{Time: now, Actor: by.Name, Action: "shop.cancel", Target: "household/" + r.Household + "/redemption/" + Receipt(id),
			Before: mustJSON(before), After: mustJSON(redemptionView(*r)), Note: reason}, nil
	})
	if err != nil {
		return RedemptionView{}, fmt.Errorf("lists: cancel redemption %d: %w", id, err)
	}
	s.log.Info("redemption cancelled", "box_id", r.Village, "receipt", Receipt(id), "user", by.Name)
	return redemptionView(r), nil
}

// Redemptions returns the household's redemptions ("" = the village's),
// by id.
func (s *Service) Redemptions(ctx context.Context, village, household string) ([]RedemptionView, error) {
	rs, err := s.st.ListRedemptions(ctx, store.RedemptionFilter{Village: village, Household: household})
	if err != nil {
		return nil, fmt.Errorf("lists: redemptions: %w", err)
	}
	out := make([]RedemptionView, 0, len(rs))
	for _, r := range rs {
		out = append(out, redemptionView(r))
	}
	return out, nil
}

// Movement is one line of a household's account.
type Movement struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"` // entry.published, entry.revoked, redemption, cancellation
	Ref    string    `json:"ref"`  // "entry/12" or a receipt number
	What   string    `json:"what"` // the category or the goods
	Points int       `json:"points"`
}

// Account is a household's points account.
type Account struct {
	Household string     `json:"household"`
	Balance   int        `json:"balance"`
	Earned    int        `json:"earned"` // published entries, less revoked ones
	Spent     int        `json:"spent"`  // redemptions not cancelled
	Lines     []Movement `json:"lines"`  // in time order
}

// Account returns household's account over all time.
func (s *Service) Account(ctx context.Context, village, household string) (Account, error) {
	l, err := s.Points(ctx, village, household)
	if err != nil {
		return Account{}, err
	}
	a := Account{Household: household, Lines: []Movement{}}
	for _, line := range l.Entries {
		ref := target(line.Entry)
		a.Lines = append(a.Lines, Movement{At: line.PublishedAt, Kind: "entry.published", Ref: ref, What: line.Category, Points: line.Points})
		if !line.Counted {
			e, err := s.st.GetEntry(ctx, line.Entry)
			if err != nil {
				return Account{}, fmt.Errorf("lists: account of %s: %w", household, err)
			}
			a.Lines = append(a.Lines, Movement{At: e.RevokedAt, Kind: "entry.revoked", Ref: ref, What: line.Category, Points: -line.Points})
		}
	}
	rs, err := s.Redemptions(ctx, village, household)
	if err != nil {
		return Account{}, err
	}
	for _, r := range rs {
		a.Lines = append(a.Lines, Movement{At: r.CreatedAt, Kind: "redemption", Ref: r.Receipt, What: r.GoodsName, Points: -r.Points})
		if r.Status == store.RedemptionCancelled {
			a.Lines = append(a.Lines, Movement{At: r.CancelledAt, Kind: "cancellation", Ref: r.Receipt, What: r.GoodsName, Points: r.Points})
		} else {
			a.Spent += r.Points
		}
	}
	slices.SortStableFunc(a.Lines, func(x, y Movement) int { return x.At.Compare(y.At) })
	a.Earned = l.Total
	a.Balance = a.Earned - a.Spent
	return a, nil
}

// Statement is a household's account over one month.
type Statement struct {
	Household string     `json:"household"`
	Month     string     `json:"month"` // "YYYY-MM"
	Opening   int        `json:"opening"`
	Lines     []Movement `json:"lines"`
	Closing   int        `json:"closing"`
}

// Statement returns household's statement of month ("YYYY-MM", in the
// township's zone): the balance at its start, its movements and the
// balance at its end.
func (s *Service) Statement(ctx context.Context, village, household, month string) (Statement, error) {
	p, err := parse(month)
	if err != nil || p.month == 0 {
		return Statement{}, fmt.Errorf("%w: month: %q, a statement is of a month, YYYY-MM", ErrBadPeriod, month)
	}
	a, err := s.Account(ctx, village, household)
	if err != nil {
		return Statement{}, err
	}
	from, to := p.start(s.loc), p.end(s.loc)
	st := Statement{Household: household, Month: month, Lines: []Movement{}}
	for _, m := range a.Lines {
		switch {
		case m.At.Before(from):
			st.Opening += m.Points
		case m.At.Before(to):
			st.Lines = append(st.Lines, m)
		}
	}
	st.Closing = st.Opening
	for _, m := range st.Lines {
		st.Closing += m.Points
	}
	return st, nil
}

// Balances returns every household's balance in village, by household.
func (s *Service) Balances(ctx context.Context, village string) (map[string]int, error) {
	ls, hs, err := s.ledgers(ctx, village, "")
	if err != nil {
		return nil, err
	}
	rs, err := s.Redemptions(ctx, village, "")
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, h := range hs {
		out[h.ID] = ls[h.ID].Total
	}
	for _, r := range rs {
		if r.Status != store.RedemptionCancelled {
			out[r.Household] -= r.Points
		}
	}
	return out, nil
}

// RedemptionVillage is the village of redemption id; store.ErrNotFound
// for an unknown id. Callers that scope by village ask it before acting.
func (s *Service) RedemptionVillage(ctx context.Context, id uint64) (string, error) {
	r, err := s.st.GetRedemption(ctx, id)
	if err != nil {
		return "", fmt.Errorf("lists: redemption %d: %w", id, err)
	}
	return r.Village, nil
}
