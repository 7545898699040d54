package lists

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
)

// CreateEntry writes a new draft entry of village.
func (s *Service) CreateEntry(ctx context.Context, by Actor, village string, in EntryInput) (EntryView, error) {
	if err := by.may(auth.ActionEditLists); err != nil {
		return EntryView{}, err
	}
	e, err := s.checkEntry(ctx, village, in)
	if err != nil {
		return EntryView{}, err
	}
	now := s.now()
	e.Author, e.Editors, e.Status, e.CreatedAt, e.UpdatedAt = by.Name, []string{by.Name}, store.StatusDraft, now, now
	e, err = s.st.CreateEntry(ctx, e, func(e store.Entry) (store.AuditRecord, error) {
		return store.AuditRecord{Time: now, Actor: by.Name, Action: "entry.create", Target: target(e.ID), After: mustJSON(stored(e))}, nil
	})
	if err != nil {
		return EntryView{}, fmt.Errorf("lists: create entry of %s: %w", village, err)
	}
	s.log.Info("list entry created", "box_id", village, "entry", e.ID, "kind", e.Kind, "user", by.Name)
	return s.view(e), nil
}

func target(id uint64) string { return fmt.Sprintf("entry/%d", id) }

// change runs fn on entry id in one store transaction with its audit
// record: fn checks the entry's state and changes it, returning the note.
// UpdatedAt and Revision are set here so the record's after matches what
// is stored.
func (s *Service) change(ctx context.Context, by Actor, id uint64, action string, fn func(e *store.Entry) (note string, err error)) (EntryView, error) {
	now := s.now()
	es, err := s.st.UpdateEntries(ctx, []uint64{id}, func(e *store.Entry) (store.AuditRecord, error) {
		before := stored(*e)
		note, err := fn(e)
		if err != nil {
			return store.AuditRecord{}, err
		}
		e.UpdatedAt = now
		e.Revision++
		return store.AuditRecord{Time: now, Actor: by.Name, Action: action, Target: target(id), Before: mustJSON(before), After: mustJSON(stored(*e)), Note: note}, nil
	})
	if err != nil {
		return EntryView{}, fmt.Errorf("lists: %s %d: %w", action, id, err)
	}
	e := es[0]
	s.log.Info("list entry changed", "box_id", e.Village, "entry", id, "action", action, "status", e.Status, "user", by.Name)
	return s.view(e), nil
}

// UpdateEntry replaces what the author wrote. A draft stays a draft; an
// entry in review or approved goes back to draft and loses its approvals
// (an approved entry cannot change without going back to review). A
// published or revoked entry cannot be edited. revision, when not 0, must
// be the entry's current one, so an edit made on a stale copy is refused.
func (s *Service) UpdateEntry(ctx context.Context, by Actor, id uint64, in EntryInput, revision uint64) (EntryView, error) {
	if err := by.may(auth.ActionEditLists); err != nil {
		return EntryView{}, err
	}
	cur, err := s.st.GetEntry(ctx, id)
	if err != nil {
		return EntryView{}, fmt.Errorf("lists: update entry %d: %w", id, err)
	}
	fresh, err := s.checkEntry(ctx, cur.Village, in)
	if err != nil {
		return EntryView{}, err
	}
	return s.change(ctx, by, id, "entry.update", func(e *store.Entry) (string, error) {
		if revision != 0 && revision != e.Revision {
			return "", fmt.Errorf("%w: entry %d is at revision %d, not %d: reload it and edit again", ErrConflict, id, e.Revision, revision)
		}
		note := ""
		switch e.Status {
		case store.StatusDraft:
		case store.StatusInReview, store.StatusApproved:
			note = fmt.Sprintf("edited while %s: back to draft, %d approvals cleared", e.Status, len(e.Approvals))
		default:
			return "", fmt.Errorf("%w: entry %d is %s and cannot be edited (a published black entry can only be revoked)", ErrConflict, id, e.Status)
		}
		e.Kind, e.SubjectKind, e.SubjectID, e.Category = fresh.Kind, fresh.SubjectKind, fresh.SubjectID, fresh.Category
		e.Reason, e.Period, e.Points, e.Evidence = fresh.Reason, fresh.Period, fresh.Points, fresh.Evidence
		e.Status, e.Approvals = store.StatusDraft, nil
		if !slices.Contains(e.Editors, by.Name) {
			e.Editors = append(e.Editors, by.Name)
		}
		return note, nil
	})
}

// Submit sends a draft to review.
func (s *Service) Submit(ctx context.Context, by Actor, id uint64) (EntryView, error) {
	if err := by.may(auth.ActionEditLists); err != nil {
		return EntryView{}, err
	}
	return s.change(ctx, by, id, "entry.submit", func(e *store.Entry) (string, error) {
		if e.Status != store.StatusDraft {
			return "", fmt.Errorf("%w: entry %d is %s; only a draft can be submitted", ErrConflict, id, e.Status)
		}
		e.Status, e.SubmittedAt, e.Approvals = store.StatusInReview, s.now(), nil
		return "", nil
	})
}

// Approve adds by's approval; with enough distinct approvals the entry is
// approved. Nobody who wrote or edited the entry may approve it.
func (s *Service) Approve(ctx context.Context, by Actor, id uint64, note string) (EntryView, error) {
	if err := by.may(auth.ActionReviewLists); err != nil {
		return EntryView{}, err
	}
	if err := checkText("note", note, 0, MaxNote); err != nil {
		return EntryView{}, err
	}
	return s.change(ctx, by, id, "entry.approve", func(e *store.Entry) (string, error) {
		if e.Status != store.StatusInReview {
			return "", fmt.Errorf("%w: entry %d is %s; only an entry in review can be approved", ErrConflict, id, e.Status)
		}
		if slices.Contains(e.Editors, by.Name) {
			return "", fmt.Errorf("%w: %s wrote or edited entry %d and cannot approve it; another reviewer must", ErrForbidden, by.Name, id)
		}
		if slices.ContainsFunc(e.Approvals, func(a store.Approval) bool { return a.By == by.Name }) {
			return "", fmt.Errorf("%w: %s has already approved entry %d; another reviewer must", ErrConflict, by.Name, id)
		}
		e.Approvals = append(e.Approvals, store.Approval{By: by.Name, At: s.now()})
		if len(e.Approvals) >= s.approvals {
			e.Status = store.StatusApproved
		}
		return note, nil
	})
}

// Reject sends an entry in review (or approved, not yet published) back
// to draft with the reviewer's reason; its approvals are cleared.
func (s *Service) Reject(ctx context.Context, by Actor, id uint64, reason string) (EntryView, error) {
	if err := by.may(auth.ActionReviewLists); err != nil {
		return EntryView{}, err
	}
	if err := checkText("reason", reason, 1, MaxReason); err != nil {
		return EntryView{}, err
	}
	return s.change(ctx, by, id, "entry.reject", func(e *store.Entry) (string, error) {
		if e.Status != store.StatusInReview && e.Status != store.StatusApproved {
			return "", fmt.Errorf("%w: entry %d is %s; only an entry in review or approved can be rejected", ErrConflict, id, e.Status)
		}
		e.Status, e.Approvals, e.RejectReason = store.StatusDraft, nil, reason
		return reason, nil
	})
}

// Revoke withdraws a published black entry after rectification (整改),
// then re-announces the period without it. note says what was rectified.
// The revocation stands even when the announcement fails (ErrAnnounce).
func (s *Service) Revoke(ctx context.Context, by Actor, id uint64, note string) (EntryView, error) {
	if err := by.may(auth.ActionReviewLists); err != nil {
		return EntryView{}, err
	}
	if err := checkText("note", note, 1, MaxNote); err != nil {
		return EntryView{}, err
	}
	v, err := s.change(ctx, by, id, "entry.revoke", func(e *store.Entry) (string, error) {
		if e.Kind != store.KindBlack {
			return "", fmt.Errorf("%w: entry %d is on the red list; only black entries are revoked", ErrConflict, id)
		}
		if e.Status != store.StatusPublished {
			return "", fmt.Errorf("%w: entry %d is %s; only a published entry can be revoked", ErrConflict, id, e.Status)
		}
		e.Status, e.RevokeNote, e.RevokedAt = store.StatusRevoked, note, s.now()
		return note, nil
	})
	if err != nil {
		return EntryView{}, err
	}
	_, err = s.announce(ctx, by, v.Village, v.Period)
	s.post(ctx, v.Village, v.Period, EventRevoke)
	return v, err
}

// Published is the outcome of a publication.
type Published struct {
	Entries []EntryView `json:"entries"` // published now, or put on public notice
	Text    string      `json:"text"`    // announced; "" while on notice
	// NoticeEnds is set when the entries went to public notice (公示)
	// first: they are published, and announced, then.
	NoticeEnds time.Time `json:"notice_ends,omitzero"`
}

// Publish publishes every approved entry of village's period in one store
// transaction, then announces the period's list and posts it to the
// village's group chats. With public notice configured the entries go to
// notice (公示) instead, and Settle publishes them when it ends. A period
// that has ended cannot be published. The publication stands even when
// the announcement fails (ErrAnnounce).
func (s *Service) Publish(ctx context.Context, by Actor, village, period string) (Published, error) {
	if err := by.may(auth.ActionEditLists); err != nil {
		return Published{}, err
	}
	if _, err := parsePeriod(period, s.loc); err != nil {
		return Published{}, err
	}
	if _, err := s.village(ctx, village); err != nil {
		return Published{}, err
	}
	if s.ended(period) {
		return Published{}, fmt.Errorf("%w: period %s has ended; its list can no longer be published", ErrConflict, period)
	}
	approved, err := s.st.ListEntries(ctx, store.EntryFilter{Village: village, Period: period, Status: store.StatusApproved})
	if err != nil {
		return Published{}, fmt.Errorf("lists: publish %s %s: %w", village, period, err)
	}
	if len(approved) == 0 {
		return Published{}, fmt.Errorf("%w: village %s has no approved entries for %s", ErrConflict, village, period)
	}
	ids := make([]uint64, 0, len(approved))
	for _, e := range approved {
		ids = append(ids, e.ID)
	}
	now := s.now()
	var ends time.Time
	if s.notice > 0 {
		ends = now.AddDate(0, 0, s.notice)
	}
	es, err := s.st.UpdateEntries(ctx, ids, func(e *store.Entry) (store.AuditRecord, error) {
		// Re-checked inside the write: an entry edited since the read
		// above is no longer approved, and then nothing is published.
		if e.Status != store.StatusApproved {
			return store.AuditRecord{}, fmt.Errorf("%w: entry %d changed to %s meanwhile; publish again", ErrConflict, e.ID, e.Status)
		}
		before := stored(*e)
		action := "entry.publish"
		if ends.IsZero() {
			e.Status, e.PublishedAt = store.StatusPublished, now
		} else {
			e.Status, e.NoticeEnds, action = store.StatusNotice, ends, "entry.notice"
		}
		e.UpdatedAt = now
		e.Revision++
		return store.AuditRecord{Time: now, Actor: by.Name, Action: action, Target: target(e.ID), Before: mustJSON(before), After: mustJSON(stored(*e))}, nil
	})
	if err != nil {
		return Published{}, fmt.Errorf("lists: publish %s %s: %w", village, period, err)
	}
	out := Published{Entries: make([]EntryView, 0, len(es)), NoticeEnds: ends}
	for _, e := range es {
		out.Entries = append(out.Entries, s.view(e))
	}
	if !ends.IsZero() {
		s.log.Info("list on public notice", "box_id", village, "period", period, "entries", len(es), "until", ends, "user", by.Name)
		return out, nil
	}
	s.log.Info("list published", "box_id", village, "period", period, "entries", len(es), "user", by.Name)
	out.Text, err = s.announce(ctx, by, village, period)
	s.post(ctx, village, period, EventPublish)
	return out, err
}
