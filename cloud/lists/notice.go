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

// Public notice (公示) and holds.
//
// With Config.NoticeDays set, Publish puts a round's approved entries on
// notice until NoticeEnds instead of publishing them: the poster and the
// villager page show them marked 公示, nothing is announced, and anyone
// may object. An objection (a villager's on the villager page, or one
// taken at the office) puts the entry on hold, and so does a supervisor's
// flag, which may also hold an entry still in review or approved. While
// any hold is open the entry is on hold: it is shown nowhere public,
// cannot be approved, edited or published. A reviewer upholds a hold (the
// entry is withdrawn, with the reason, and its other holds close) or
// dismisses it (when none is left open the entry goes back to where it
// was). Settle publishes the entries whose notice has ended, announces
// them and posts them to the group chats: only then do the loudspeakers
// hear them. Every step is one store transaction with its audit records.

// MaxNoticeDays bounds Config.NoticeDays.
const MaxNoticeDays = 30

// System is the actor of what the service does by itself (a notice
// ending, retention) in the audit trail.
const System = "（系统）"

// HoldView is a hold as the API shows it.
type HoldView struct {
	ID         uint64           `json:"id"`
	Village    string           `json:"village"`
	Entry      uint64           `json:"entry"`
	Kind       store.HoldKind   `json:"kind"`
	Name       string           `json:"name,omitempty"`
	Contact    string           `json:"contact,omitempty"`
	Reason     string           `json:"reason"`
	By         string           `json:"by,omitempty"`
	Household  string           `json:"household,omitempty"`
	Status     store.HoldStatus `json:"status"`
	Resolution string           `json:"resolution,omitempty"`
	ResolvedBy string           `json:"resolved_by,omitempty"`
	CreatedAt  time.Time        `json:"created_at"`
	ResolvedAt time.Time        `json:"resolved_at,omitzero"`
	Anonymised time.Time        `json:"anonymised,omitzero"`
}

func holdView(h store.Hold) HoldView {
	return HoldView{ID: h.ID, Village: h.Village, Entry: h.EntryID, Kind: h.Kind, Name: h.Name, Contact: h.Contact, Reason: h.Reason,
		By: h.By, Household: h.Household, Status: h.Status, Resolution: h.Resolution, ResolvedBy: h.ResolvedBy,
		CreatedAt: h.CreatedAt, ResolvedAt: h.ResolvedAt, Anonymised: h.Anonymised}
}

// Objection is what an objector writes.
type Objection struct {
	Name    string `json:"name"`
	Contact string `json:"contact"` // a phone number or an address in the village
	Reason  string `json:"reason"`
}

// Limits of an objection, in runes.
const (
	MaxContact = 64
)

func (o Objection) check() error {
	return errors.Join(checkText("name", o.Name, 1, MaxName), checkText("contact", o.Contact, 1, MaxContact),
		checkText("reason", o.Reason, 1, MaxReason))
}

// Object records an objection taken at the office to entry id, which
// must be on public notice; it puts the entry on hold.
func (s *Service) Object(ctx context.Context, by Actor, id uint64, in Objection) (HoldView, error) {
	if err := by.may(auth.ActionLodgeObjection); err != nil {
		return HoldView{}, err
	}
	if err := in.check(); err != nil {
		return HoldView{}, err
	}
	h := store.Hold{Kind: store.HoldObjection, Name: in.Name, Contact: in.Contact, Reason: in.Reason, By: by.Name}
	return s.hold(ctx, by.Name, id, "", h, onNotice)
}

// objectFrom records an objection lodged with household's link.
func (s *Service) objectFrom(ctx context.Context, village, household string, id uint64, in Objection) (HoldView, error) {
	if err := in.check(); err != nil {
		return HoldView{}, err
	}
	h := store.Hold{Kind: store.HoldObjection, Name: in.Name, Contact: in.Contact, Reason: in.Reason, Household: household}
	return s.hold(ctx, "村民 "+household, id, village, h, onNotice)
}

// Flag is a supervisor's request to re-examine entry id, in review,
// approved or on notice, with note; it puts the entry on hold.
func (s *Service) Flag(ctx context.Context, by Actor, id uint64, note string) (HoldView, error) {
	if err := by.may(auth.ActionFlagLists); err != nil {
		return HoldView{}, err
	}
	if err := checkText("note", note, 1, MaxNote); err != nil {
		return HoldView{}, err
	}
	h := store.Hold{Kind: store.HoldFlag, Reason: note, By: by.Name}
	return s.hold(ctx, by.Name, id, "", h, func(st store.EntryStatus) bool {
		return st == store.StatusInReview || st == store.StatusApproved || st == store.StatusNotice
	})
}

func onNotice(st store.EntryStatus) bool { return st == store.StatusNotice }

// hold adds h to entry id (of village, when not "") if the status the
// entry stands at, under any holds, is one allowed takes.
func (s *Service) hold(ctx context.Context, actor string, id uint64, village string, h store.Hold, allowed func(store.EntryStatus) bool) (HoldView, error) {
	now := s.now()
	h.Status, h.CreatedAt = store.HoldOpen, now
	action := "objection.lodge"
	if h.Kind == store.HoldFlag {
		action = "flag.raise"
	}
	_, hs, err := s.st.ChangeHolds(ctx, id, func(e *store.Entry, holds *[]store.Hold) ([]store.AuditRecord, error) {
		if village != "" && e.Village != village {
			return nil, fmt.Errorf("entry %d: %w", id, store.ErrNotFound)
		}
		at := e.Status
		if at == store.StatusOnHold {
			at = e.HeldFrom
		}
		if !allowed(at) {
			what := "on public notice"
			if h.Kind == store.HoldFlag {
				what = "in review, approved or on public notice"
			}
			return nil, fmt.Errorf("%w: entry %d is %s; only an entry %s can be held", ErrConflict, id, e.Status, what)
		}
		before := stored(*e)
		if e.Status != store.StatusOnHold {
			e.HeldFrom, e.Status = e.Status, store.StatusOnHold
		}
		e.UpdatedAt = now
		e.Revision++
		*holds = append(*holds, h)
		return []store.AuditRecord{{Time: now, Actor: actor, Action: action, Target: target(id),
			Before: mustJSON(before), After: mustJSON(map[string]any{"entry": stored(*e), "hold": holdView(h)}), Note: h.Reason}}, nil
	})
	if err != nil {
		return HoldView{}, fmt.Errorf("lists: %s on entry %d: %w", action, id, err)
	}
	out := holdView(hs[len(hs)-1])
	s.log.Info("list entry held", "entry", id, "hold", out.ID, "kind", h.Kind, "user", actor)
	return out, nil
}

// Uphold withdraws the entry of hold id, with the reviewer's reason; its
// other open holds close.
func (s *Service) Uphold(ctx context.Context, by Actor, id uint64, reason string) (HoldView, error) {
	return s.resolve(ctx, by, id, reason, true)
}

// Dismiss closes hold id with the reviewer's reason; with no hold left
// open the entry goes back to where it was (and is published at once
// when its notice has ended meanwhile).
func (s *Service) Dismiss(ctx context.Context, by Actor, id uint64, reason string) (HoldView, error) {
	return s.resolve(ctx, by, id, reason, false)
}

func (s *Service) resolve(ctx context.Context, by Actor, id uint64, reason string, uphold bool) (HoldView, error) {
	if err := by.may(auth.ActionReviewLists); err != nil {
		return HoldView{}, err
	}
	if err := checkText("reason", reason, 1, MaxReason); err != nil {
		return HoldView{}, err
	}
	h, err := s.st.GetHold(ctx, id)
	if err != nil {
		return HoldView{}, fmt.Errorf("lists: hold %d: %w", id, err)
	}
	now := s.now()
	action := "hold.dismiss"
	if uphold {
		action = "hold.uphold"
	}
	var out store.Hold
	e, _, err := s.st.ChangeHolds(ctx, h.EntryID, func(e *store.Entry, holds *[]store.Hold) ([]store.AuditRecord, error) {
		i := slices.IndexFunc(*holds, func(x store.Hold) bool { return x.ID == id })
		if i < 0 || (*holds)[i].Status != store.HoldOpen {
			return nil, fmt.Errorf("%w: hold %d is no longer open", ErrConflict, id)
		}
		before := stored(*e)
		x := &(*holds)[i]
		x.Status, x.Resolution, x.ResolvedBy, x.ResolvedAt = store.HoldDismissed, reason, by.Name, now
		open := 0
		for j := range *holds {
			y := &(*holds)[j]
			if y.Status != store.HoldOpen {
				continue
			}
			if uphold {
				y.Status, y.Resolution, y.ResolvedBy, y.ResolvedAt = store.HoldClosed, fmt.Sprintf("条目已因第 %d 号撤下", id), by.Name, now
			} else {
				open++
			}
		}
		if uphold {
			x.Status = store.HoldUpheld
			e.Status, e.HeldFrom, e.WithdrawReason, e.WithdrawnAt = store.StatusWithdrawn, "", reason, now
		} else if open == 0 {
			e.Status, e.HeldFrom = e.HeldFrom, ""
		}
		e.UpdatedAt = now
		e.Revision++
		out = *x
		return []store.AuditRecord{{Time: now, Actor: by.Name, Action: action, Target: target(h.EntryID),
			Before: mustJSON(before), After: mustJSON(map[string]any{"entry": stored(*e), "hold": holdView(*x)}), Note: reason}}, nil
	})
	if err != nil {
		return HoldView{}, fmt.Errorf("lists: %s %d: %w", action, id, err)
	}
	s.log.Info("hold resolved", "box_id", e.Village, "entry", e.ID, "hold", id, "upheld", uphold, "status", e.Status, "user", by.Name)
	if e.Status == store.StatusNotice && !s.now().Before(e.NoticeEnds) {
		if _, err := s.Settle(ctx); err != nil {
			return holdView(out), err
		}
	}
	return holdView(out), nil
}

// Hold returns hold id.
func (s *Service) Hold(ctx context.Context, id uint64) (HoldView, error) {
	h, err := s.st.GetHold(ctx, id)
	if err != nil {
		return HoldView{}, fmt.Errorf("lists: hold %d: %w", id, err)
	}
	return holdView(h), nil
}

// Holds returns the holds f selects, by id.
func (s *Service) Holds(ctx context.Context, f store.HoldFilter) ([]HoldView, error) {
	switch f.Status {
	case "", store.HoldOpen, store.HoldUpheld, store.HoldDismissed, store.HoldClosed:
	default:
		return nil, fmt.Errorf("%w: status: %q, want open, upheld, dismissed or closed", ErrInvalid, f.Status)
	}
	hs, err := s.st.ListHolds(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("lists: holds: %w", err)
	}
	out := make([]HoldView, 0, len(hs))
	for _, h := range hs {
		out = append(out, holdView(h))
	}
	return out, nil
}

// Settle publishes every entry whose public notice has ended, then
// announces each village's period and posts it to the group chats. An
// entry held meanwhile is left alone. It returns how many it published;
// Run calls it every minute, a test after stepping its clock.
func (s *Service) Settle(ctx context.Context) (int, error) {
	due, err := s.st.ListEntries(ctx, store.EntryFilter{Status: store.StatusNotice})
	if err != nil {
		return 0, fmt.Errorf("lists: settle: %w", err)
	}
	now := s.now()
	type round struct{ village, period string }
	var rounds []round
	n := 0
	for _, d := range due {
		if now.Before(d.NoticeEnds) {
			continue
		}
		_, err := s.st.UpdateEntries(ctx, []uint64{d.ID}, func(e *store.Entry) (store.AuditRecord, error) {
			if e.Status != store.StatusNotice || now.Before(e.NoticeEnds) {
				return store.AuditRecord{}, errMoved
			}
			before := stored(*e)
			e.Status, e.PublishedAt, e.UpdatedAt = store.StatusPublished, now, now
			e.Revision++
			return store.AuditRecord{Time: now, Actor: System, Action: "entry.publish", Target: target(e.ID),
				Before: mustJSON(before), After: mustJSON(stored(*e)), Note: "公示期满，无异议"}, nil
		})
		if errors.Is(err, errMoved) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("lists: settle entry %d: %w", d.ID, err)
		}
		n++
		if r := (round{d.Village, d.Period}); !slices.Contains(rounds, r) {
			rounds = append(rounds, r)
		}
	}
	var errs []error
	for _, r := range rounds {
		s.log.Info("public notice ended; list published", "box_id", r.village, "period", r.period)
		if _, err := s.announce(ctx, Actor{Name: System}, r.village, r.period); err != nil {
			errs = append(errs, err)
		}
		s.post(ctx, r.village, r.period, EventPublish)
	}
	return n, errors.Join(errs...)
}

// errMoved: an entry due for publication changed before its write.
var errMoved = errors.New("lists: entry moved on")
