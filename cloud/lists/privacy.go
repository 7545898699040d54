package lists

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
)

// Personal information (《个人信息保护法》). What the public sees (the
// loudspeaker, the group chats, the posters, the villager page) names
// people as Privacy says; the officials' console and API show the
// registers as they are. Entries and holds older than RetentionMonths
// are anonymised in the store, and the audit records about them emptied
// of what they said, keeping who did what and when; Export gathers all
// that is held about one household.

// Privacy is what public pages and broadcasts show, and how long.
type Privacy struct {
	// MaskNames writes names with their middle hidden: 张*英 on pages
	// and pictures, 张某英 when spoken.
	MaskNames bool
	// ReasonRunes shortens reasons on public pages (not when spoken) to
	// at most this many characters; 0 = in full.
	ReasonRunes int
	// RetentionMonths is how long entries and objections keep their
	// personal details; 0 = for ever.
	RetentionMonths int
}

// MaxRetentionMonths bounds Privacy.RetentionMonths: ten years.
const MaxRetentionMonths = 120

func (p Privacy) validate() error {
	var errs []error
	if p.ReasonRunes < 0 || (p.ReasonRunes > 0 && p.ReasonRunes < 4) || p.ReasonRunes > MaxReason {
		errs = append(errs, fmt.Errorf("privacy: reason runes %d: want 0 (in full) or 4 to %d", p.ReasonRunes, MaxReason))
	}
	if p.RetentionMonths < 0 || p.RetentionMonths > MaxRetentionMonths {
		errs = append(errs, fmt.Errorf("privacy: retention months %d: want 0 (for ever) to %d", p.RetentionMonths, MaxRetentionMonths))
	}
	return errors.Join(errs...)
}

func (p Privacy) withDefaults() Privacy { return p }

// MaskName hides the middle of a name with mask: 张三英 → 张*英, 张三 →
// 张*, a single character stays.
func MaskName(name, mask string) string {
	r := []rune(name)
	switch len(r) {
	case 0, 1:
		return name
	case 2:
		return string(r[0]) + mask
	}
	return string(r[0]) + strings.Repeat(mask, len(r)-2) + string(r[len(r)-1])
}

// Shorten cuts s to at most n characters, marking the cut; n 0 keeps it.
func Shorten(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// maskRow names a row's person or household as the public sees it.
func (s *Service) maskRow(r Row, mask string) Row {
	if !s.privacy.MaskNames {
		return r
	}
	if r.Subject.Kind == store.SubjectHousehold {
		r.Name = MaskName(r.HouseholdHead, mask) + "户"
	} else {
		r.Name = MaskName(r.Name, mask)
	}
	r.HouseholdHead = MaskName(r.HouseholdHead, mask)
	return r
}

// publicRow is a row as public pages show it: masked, reason shortened.
func (s *Service) publicRow(r Row) Row {
	r = s.maskRow(r, "*")
	r.Reason = Shorten(r.Reason, s.privacy.ReasonRunes)
	r.Household, r.Subject.ID = "", ""
	return r
}

// Anonymised is what an anonymised entry's reason reads.
const Anonymised = "（已匿名）"

// Retain anonymises the entries and holds created more than
// RetentionMonths ago: an entry keeps its village, kind, category,
// period, points and status, and its household (the points it earned
// stay the household's), and loses its person, reason, evidence and
// notes; a hold loses the objector's name, contact and reason and the
// resolution. The audit records about them keep who did what, when.
// It returns how many entries and holds it changed.
func (s *Service) Retain(ctx context.Context) (entries, holds int, err error) {
	if s.privacy.RetentionMonths == 0 {
		return 0, 0, nil
	}
	now := s.now()
	cutoff := now.AddDate(0, -s.privacy.RetentionMonths, 0)
	persons := map[string]string{} // village/person → household
	boxes, err := s.st.ListEntries(ctx, store.EntryFilter{})
	if err != nil {
		return 0, 0, fmt.Errorf("lists: retention: %w", err)
	}
	seen := map[string]bool{}
	for _, e := range boxes {
		if seen[e.Village] || !e.CreatedAt.Before(cutoff) {
			continue
		}
		seen[e.Village] = true
		ps, err := s.st.ListPersons(ctx, e.Village)
		if err != nil {
			return 0, 0, fmt.Errorf("lists: retention: %w", err)
		}
		for _, p := range ps {
			persons[p.Village+"/"+p.ID] = p.Household
		}
	}
	entries, holds, err = s.st.Anonymise(ctx, cutoff, func(e *store.Entry) {
		if e.SubjectKind == store.SubjectPerson {
			e.SubjectKind, e.SubjectID = store.SubjectHousehold, persons[e.Village+"/"+e.SubjectID]
		}
		e.Reason, e.Evidence, e.RejectReason, e.RevokeNote, e.WithdrawReason = Anonymised, "", "", "", ""
		e.Anonymised = now
	}, func(h *store.Hold) {
		h.Name, h.Contact, h.Reason, h.Resolution, h.Anonymised = "", "", "", "", now
	}, func(ne, nh int) store.AuditRecord {
		return store.AuditRecord{Time: now, Actor: System, Action: "retention.anonymise", Target: "retention",
			Note: fmt.Sprintf("%d 条榜单条目和 %d 条异议或复核标记超过 %d 个月，已匿名化（创建于 %s 之前）", ne, nh,
				s.privacy.RetentionMonths, cutoff.In(s.loc).Format(time.DateOnly))}
	})
	if err != nil {
		return 0, 0, fmt.Errorf("lists: retention: %w", err)
	}
	if entries+holds > 0 {
		s.log.Info("retention: entries and holds anonymised", "entries", entries, "holds", holds, "cutoff", cutoff)
	}
	if n, err := s.st.DeleteImages(ctx, now.Add(-s.chats.ImageLife)); err != nil {
		return entries, holds, fmt.Errorf("lists: retention: %w", err)
	} else if n > 0 {
		s.log.Info("retention: posted pictures deleted", "images", n)
	}
	return entries, holds, nil
}

// Export is everything the township holds about one household.
type Export struct {
	ExportedAt  time.Time           `json:"exported_at"`
	Village     string              `json:"village"`
	Household   HouseholdView       `json:"household"`
	Entries     []EntryView         `json:"entries"`
	Holds       []HoldView          `json:"holds"`
	Ledger      Ledger              `json:"ledger"`
	Account     Account             `json:"account"`
	Redemptions []RedemptionView    `json:"redemptions"`
	Links       []LinkView          `json:"links"`
	Audit       []store.AuditRecord `json:"audit"`
}

// Export gathers what is held about household of village: its register,
// every entry about it or a member (any status), the objections lodged
// with its link or about those entries, its points and redemptions, its
// links (never their tokens) and the audit records of all of these. The
// export itself is recorded in the audit trail.
func (s *Service) Export(ctx context.Context, by Actor, village, household string) (Export, error) {
	if err := by.may(auth.ActionExportHousehold); err != nil {
		return Export{}, err
	}
	h, err := s.Household(ctx, village, household)
	if err != nil {
		return Export{}, err
	}
	out := Export{ExportedAt: s.now(), Village: village, Household: h, Entries: []EntryView{}, Holds: []HoldView{}, Audit: []store.AuditRecord{}}
	members := map[string]bool{}
	targets := map[string]bool{"household/" + household: true}
	for _, p := range h.Members {
		members[p.ID] = true
		targets["person/"+p.ID] = true
	}
	es, err := s.st.ListEntries(ctx, store.EntryFilter{Village: village})
	if err != nil {
		return Export{}, fmt.Errorf("lists: export: %w", err)
	}
	ids := map[uint64]bool{}
	for _, e := range es {
		if (e.SubjectKind == store.SubjectHousehold && e.SubjectID == household) || (e.SubjectKind == store.SubjectPerson && members[e.SubjectID]) {
			out.Entries = append(out.Entries, s.view(e))
			ids[e.ID] = true
		}
	}
	hs, err := s.st.ListHolds(ctx, store.HoldFilter{Village: village})
	if err != nil {
		return Export{}, fmt.Errorf("lists: export: %w", err)
	}
	for _, x := range hs {
		if x.Household == household || ids[x.EntryID] {
			out.Holds = append(out.Holds, holdView(x))
		}
	}
	if out.Ledger, err = s.Points(ctx, village, household); err != nil {
		return Export{}, err
	}
	if out.Account, err = s.Account(ctx, village, household); err != nil {
		return Export{}, err
	}
	if out.Redemptions, err = s.Redemptions(ctx, village, household); err != nil {
		return Export{}, err
	}
	if out.Links, err = s.Links(ctx, village, household); err != nil {
		return Export{}, err
	}
	var after uint64
	for {
		page, err := s.st.ListAudit(ctx, store.AuditFilter{Village: village, After: after, Limit: 1000})
		if err != nil {
			return Export{}, fmt.Errorf("lists: export: %w", err)
		}
		for _, a := range page {
			if ids[a.EntryID] || targets[a.Target] || strings.HasPrefix(a.Target, "household/"+household+"/") {
				out.Audit = append(out.Audit, a)
			}
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Seq
	}
	slices.SortFunc(out.Audit, func(a, b store.AuditRecord) int { return cmp.Compare(a.Seq, b.Seq) })
	rec := store.AuditRecord{Time: out.ExportedAt, Actor: by.Name, Action: "household.export", Target: "household/" + household + "/export",
		Note: fmt.Sprintf("%d entries, %d holds, %d redemptions, %d audit records", len(out.Entries), len(out.Holds), len(out.Redemptions), len(out.Audit))}
	rec.Village = village
	if _, err := s.st.AppendAudit(ctx, rec); err != nil {
		return Export{}, fmt.Errorf("lists: export: %w", err)
	}
	s.log.Info("household exported", "box_id", village, "household", household, "user", by.Name)
	return out, nil
}
