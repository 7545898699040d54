package lists

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
)

// The villagers' own view. A clerk prints a household a link (or its QR
// code) holding a random token; whoever holds the slip sees that
// household's points, entries and redemptions, the village's lists as the
// public sees them and its shop, and may object to an entry on public
// notice. There are no accounts: the token is the key, only its sha256 is
// stored, reprinting revokes the old one, and a clerk can revoke it. An
// address that tries LinkFailures wrong tokens within LinkWindow is
// refused until the window ends, so tokens (256 random bits) cannot be
// guessed at speed either.

// Errors of the villager page.
var (
	// ErrNoLink: the token is not one issued, or was revoked.
	ErrNoLink = errors.New("lists: no such link")
	// ErrSlowDown: too many wrong tokens from one address.
	ErrSlowDown = errors.New("lists: too many wrong links from this address")
)

// SlowDownError says how long an address must wait.
type SlowDownError struct{ RetryAfter time.Duration }

func (e *SlowDownError) Error() string {
	return fmt.Sprintf("%v: wait %s", ErrSlowDown, e.RetryAfter.Round(time.Second))
}

func (e *SlowDownError) Unwrap() error { return ErrSlowDown }

// Limits of the villager page.
const (
	LinkFailures = 100
	LinkWindow   = time.Minute
	// maxAddresses bounds the limiter's memory under a spray from many
	// addresses; the oldest windows are dropped first.
	maxAddresses = 10_000
)

// linkLimiter counts wrong tokens per address in fixed windows.
type linkLimiter struct {
	now func() time.Time
	mu  sync.Mutex
	by  map[string]*window
}

type window struct {
	start time.Time
	fails int
}

func newLinkLimiter(now func() time.Time) *linkLimiter {
	return &linkLimiter{now: now, by: map[string]*window{}}
}

// check refuses addr while its window holds LinkFailures failures.
func (l *linkLimiter) check(addr string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.by[addr]
	now := l.now()
	if !ok || !now.Before(w.start.Add(LinkWindow)) {
		return nil
	}
	if w.fails >= LinkFailures {
		return &SlowDownError{RetryAfter: w.start.Add(LinkWindow).Sub(now)}
	}
	return nil
}

// fail counts a wrong token from addr.
func (l *linkLimiter) fail(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w, ok := l.by[addr]
	if !ok || !now.Before(w.start.Add(LinkWindow)) {
		if len(l.by) >= maxAddresses {
			for a, x := range l.by {
				if !now.Before(x.start.Add(LinkWindow)) {
					delete(l.by, a)
				}
			}
			if len(l.by) >= maxAddresses {
				clear(l.by) // a spray from everywhere: start over rather than grow
			}
		}
		w = &window{start: now}
		l.by[addr] = w
	}
	w.fails++
}

// LinkView is a link as officials see it (never its token).
type LinkView struct {
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
	Active    bool      `json:"active"`
}

// IssuedLink is a new link: the token is shown this once.
type IssuedLink struct {
	Household string `json:"household"`
	Token     string `json:"token"`
	Path      string `json:"path"` // "/v/<token>"
}

// LinkPath is where a token's page is served.
func LinkPath(token string) string { return "/v/" + token }

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// IssueLink makes household a new link, revoking its old ones.
func (s *Service) IssueLink(ctx context.Context, by Actor, village, household string) (IssuedLink, error) {
	if err := by.may(auth.ActionManageLinks); err != nil {
		return IssuedLink{}, err
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	token := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	l := store.Link{TokenHash: tokenHash(token), Village: village, Household: household, CreatedAt: now, CreatedBy: by.Name}
	a := store.AuditRecord{Time: now, Actor: by.Name, Action: "link.issue", Target: "household/" + household + "/link", Note: "旧链接随之作废"}
	if err := s.st.IssueLink(ctx, l, a); err != nil {
		return IssuedLink{}, fmt.Errorf("lists: link for %s of %s: %w", household, village, err)
	}
	s.log.Info("villager link issued", "box_id", village, "household", household, "user", by.Name)
	return IssuedLink{Household: household, Token: token, Path: LinkPath(token)}, nil
}

// RevokeLinks revokes household's links and returns how many worked.
func (s *Service) RevokeLinks(ctx context.Context, by Actor, village, household string) (int, error) {
	if err := by.may(auth.ActionManageLinks); err != nil {
		return 0, err
	}
	now := s.now()
	a := store.AuditRecord{Time: now, Actor: by.Name, Action: "link.revoke", Target: "household/" + household + "/link"}
	n, err := s.st.RevokeLinks(ctx, village, household, by.Name, now, a)
	if err != nil {
		return 0, fmt.Errorf("lists: revoke links of %s of %s: %w", household, village, err)
	}
	s.log.Info("villager links revoked", "box_id", village, "household", household, "links", n, "user", by.Name)
	return n, nil
}

// Links returns household's links, newest first.
func (s *Service) Links(ctx context.Context, village, household string) ([]LinkView, error) {
	ls, err := s.st.ListLinks(ctx, village, household)
	if err != nil {
		return nil, fmt.Errorf("lists: links of %s: %w", household, err)
	}
	out := make([]LinkView, 0, len(ls))
	for _, l := range ls {
		out = append(out, LinkView{CreatedAt: l.CreatedAt, CreatedBy: l.CreatedBy, RevokedAt: l.RevokedAt, RevokedBy: l.RevokedBy, Active: l.RevokedAt.IsZero()})
	}
	return out, nil
}

// link finds token's working link for addr, counting a wrong one.
func (s *Service) link(ctx context.Context, addr, token string) (store.Link, error) {
	if err := s.limiter.check(addr); err != nil {
		return store.Link{}, err
	}
	l, err := s.st.GetLink(ctx, tokenHash(token))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !l.RevokedAt.IsZero()) {
		s.limiter.fail(addr)
		return store.Link{}, ErrNoLink
	}
	if err != nil {
		return store.Link{}, fmt.Errorf("lists: link: %w", err)
	}
	return l, nil
}

// VillagerView is what a household's link shows: its own data in full,
// the village's only as the public sees it.
type VillagerView struct {
	Village     string           `json:"village"`
	VillageName string           `json:"village_name"`
	Household   string           `json:"household"`
	Head        string           `json:"head"`
	Members     []string         `json:"members"`
	Account     Account          `json:"account"`
	Entries     []EntryView      `json:"entries"` // about the household, once published or on notice
	Redemptions []RedemptionView `json:"redemptions"`
	Lists       []ListView       `json:"lists"` // this month's and this quarter's, public rows
	Goods       []GoodsView      `json:"goods"` // on sale
}

// Villager is the page of token's household, for a visitor from addr.
func (s *Service) Villager(ctx context.Context, addr, token string) (VillagerView, error) {
	l, err := s.link(ctx, addr, token)
	if err != nil {
		return VillagerView{}, err
	}
	h, err := s.Household(ctx, l.Village, l.Household)
	if err != nil {
		return VillagerView{}, err
	}
	box, err := s.village(ctx, l.Village)
	if err != nil {
		return VillagerView{}, err
	}
	v := VillagerView{Village: l.Village, VillageName: box.Name, Household: h.ID, Head: h.Head, Members: []string{}, Entries: []EntryView{}, Lists: []ListView{}, Goods: []GoodsView{}}
	if v.VillageName == "" {
		v.VillageName = box.ID
	}
	members := map[string]bool{}
	for _, p := range h.Members {
		v.Members = append(v.Members, p.Name)
		members[p.ID] = true
	}
	if v.Account, err = s.Account(ctx, l.Village, l.Household); err != nil {
		return VillagerView{}, err
	}
	if v.Redemptions, err = s.Redemptions(ctx, l.Village, l.Household); err != nil {
		return VillagerView{}, err
	}
	es, err := s.st.ListEntries(ctx, store.EntryFilter{Village: l.Village})
	if err != nil {
		return VillagerView{}, fmt.Errorf("lists: villager page: %w", err)
	}
	for _, e := range es {
		mine := (e.SubjectKind == store.SubjectHousehold && e.SubjectID == l.Household) || (e.SubjectKind == store.SubjectPerson && members[e.SubjectID])
		switch e.Status {
		case store.StatusPublished, store.StatusRevoked, store.StatusNotice:
		default:
			mine = false
		}
		if mine {
			ev := s.view(e)
			ev.Author, ev.Editors, ev.Approvals, ev.Evidence = "", []string{}, []ApprovalView{}, ""
			v.Entries = append(v.Entries, ev)
		}
	}
	now := s.now().In(s.loc)
	month := now.Format("2006-01")
	quarter := fmt.Sprintf("%d-Q%d", now.Year(), (int(now.Month())-1)/3+1)
	for _, p := range []string{month, quarter} {
		lv, err := s.PublicList(ctx, l.Village, p)
		if err != nil {
			return VillagerView{}, err
		}
		if len(lv.Red)+len(lv.Black) > 0 {
			lv.Text = ""
			v.Lists = append(v.Lists, lv)
		}
	}
	gs, err := s.Goods(ctx, l.Village)
	if err != nil {
		return VillagerView{}, err
	}
	for _, g := range gs {
		if g.OnSale {
			v.Goods = append(v.Goods, g)
		}
	}
	return v, nil
}

// VillagerObject lodges an objection with token's link to entry id of its
// village, which must be on public notice.
func (s *Service) VillagerObject(ctx context.Context, addr, token string, id uint64, in Objection) (HoldView, error) {
	l, err := s.link(ctx, addr, token)
	if err != nil {
		return HoldView{}, err
	}
	h, err := s.objectFrom(ctx, l.Village, l.Household, id, in)
	if errors.Is(err, store.ErrNotFound) {
		return HoldView{}, fmt.Errorf("%w: entry %d is not on this village's notice", ErrConflict, id)
	}
	return h, err
}
