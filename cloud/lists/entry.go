package lists

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
)

// Subject names who an entry is about.
type Subject struct {
	Kind store.SubjectKind `json:"kind"` // "person" or "household"
	ID   string            `json:"id"`
}

// EntryInput is what an author writes of an entry.
type EntryInput struct {
	Kind     store.ListKind `json:"kind"` // "red" or "black"
	Subject  Subject        `json:"subject"`
	Category string         `json:"category"`
	Reason   string         `json:"reason"`
	Period   string         `json:"period"` // "YYYY-MM" or "YYYY-Qn"
	// Points: nil takes the category's default for the kind. Red entries
	// have 0..100, black ones -100..0.
	Points   *int   `json:"points,omitempty"`
	Evidence string `json:"evidence,omitempty"`
}

// ApprovalView is one approval as the API shows it.
type ApprovalView struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// EntryView is an entry as the API and the audit trail show it.
type EntryView struct {
	ID           uint64            `json:"id"`
	Village      string            `json:"village"`
	Kind         store.ListKind    `json:"kind"`
	Subject      Subject           `json:"subject"`
	Category     string            `json:"category"`
	Reason       string            `json:"reason"`
	Period       string            `json:"period"`
	Points       int               `json:"points"`
	Evidence     string            `json:"evidence,omitempty"`
	Author       string            `json:"author"`
	Editors      []string          `json:"editors"`
	Status       store.EntryStatus `json:"status"`
	Approvals    []ApprovalView    `json:"approvals"`
	RejectReason string            `json:"reject_reason,omitempty"`
	RevokeNote   string            `json:"revoke_note,omitempty"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
	SubmittedAt  time.Time         `json:"submitted_at,omitzero"`
	PublishedAt  time.Time         `json:"published_at,omitzero"`
	RevokedAt    time.Time         `json:"revoked_at,omitzero"`
	Revision     uint64            `json:"revision"`
	// NoticeEnds is when an entry on public notice (公示) becomes final.
	NoticeEnds     time.Time         `json:"notice_ends,omitzero"`
	HeldFrom       store.EntryStatus `json:"held_from,omitempty"`
	WithdrawReason string            `json:"withdraw_reason,omitempty"`
	WithdrawnAt    time.Time         `json:"withdrawn_at,omitzero"`
	Anonymised     time.Time         `json:"anonymised,omitzero"`
}

// stored is the view of e as stored (the audit trail's before and after).
func stored(e store.Entry) EntryView {
	v := EntryView{
		ID: e.ID, Village: e.Village, Kind: e.Kind, Subject: Subject{Kind: e.SubjectKind, ID: e.SubjectID},
		Category: e.Category, Reason: e.Reason, Period: e.Period, Points: e.Points, Evidence: e.Evidence,
		Author: e.Author, Editors: append([]string{}, e.Editors...), Status: e.Status, Approvals: []ApprovalView{},
		RejectReason: e.RejectReason, RevokeNote: e.RevokeNote, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
		SubmittedAt: e.SubmittedAt, PublishedAt: e.PublishedAt, RevokedAt: e.RevokedAt, Revision: e.Revision,
		NoticeEnds: e.NoticeEnds, HeldFrom: e.HeldFrom, WithdrawReason: e.WithdrawReason, WithdrawnAt: e.WithdrawnAt, Anonymised: e.Anonymised,
	}
	for _, a := range e.Approvals {
		v.Approvals = append(v.Approvals, ApprovalView(a))
	}
	return v
}

// view is e as read now: a published entry whose period has ended shows
// as expired.
func (s *Service) view(e store.Entry) EntryView {
	v := stored(e)
	if e.Status == store.StatusPublished && s.ended(e.Period) {
		v.Status = store.StatusExpired
	}
	return v
}

// checkEntry validates in against the village's registers and categories
// and returns the entry's fields; every problem is reported at once.
func (s *Service) checkEntry(ctx context.Context, village string, in EntryInput) (store.Entry, error) {
	var errs []error
	if in.Kind != store.KindRed && in.Kind != store.KindBlack {
		errs = append(errs, fmt.Errorf("%w: kind: %q, want red or black", ErrInvalid, in.Kind))
	}
	if err := checkText("reason", in.Reason, 1, MaxReason); err != nil {
		errs = append(errs, err)
	}
	if err := checkText("evidence", in.Evidence, 0, MaxNote); err != nil {
		errs = append(errs, err)
	}
	if err := s.checkRound(in.Category, in.Period); err != nil {
		errs = append(errs, err)
	}
	switch in.Subject.Kind {
	case store.SubjectPerson, store.SubjectHousehold:
		if err := checkID("subject.id", in.Subject.ID); err != nil {
			errs = append(errs, err)
		} else if err := s.subjectExists(ctx, village, in.Subject); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("%w: subject.kind: %q, want person or household", ErrInvalid, in.Subject.Kind))
	}
	cats, err := s.Categories(ctx, village)
	if err != nil {
		return store.Entry{}, err
	}
	var cat *store.Category
	for i := range cats {
		if cats[i].Name == in.Category {
			cat = &cats[i]
		}
	}
	if cat == nil {
		errs = append(errs, fmt.Errorf("%w: category: %q is not one of the village's categories", ErrInvalid, in.Category))
	}
	points := 0
	switch {
	case in.Points != nil:
		points = *in.Points
	case cat != nil && in.Kind == store.KindRed:
		points = cat.Red
	case cat != nil:
		points = cat.Black
	}
	if in.Kind == store.KindRed && (points < 0 || points > MaxPoints) {
		errs = append(errs, fmt.Errorf("%w: points: %d on the red list, want 0 to %d", ErrInvalid, points, MaxPoints))
	}
	if in.Kind == store.KindBlack && (points > 0 || points < -MaxPoints) {
		errs = append(errs, fmt.Errorf("%w: points: %d on the black list, want -%d to 0", ErrInvalid, points, MaxPoints))
	}
	if err := joinInvalid(errs); err != nil {
		return store.Entry{}, err
	}
	return store.Entry{
		Village: village, Kind: in.Kind, SubjectKind: in.Subject.Kind, SubjectID: in.Subject.ID,
		Category: in.Category, Reason: in.Reason, Period: in.Period, Points: points, Evidence: in.Evidence,
	}, nil
}

// subjectExists refuses a person or household the village does not have.
// Neither is ever deleted, so what is found here still exists when the
// entry is written.
func (s *Service) subjectExists(ctx context.Context, village string, sub Subject) error {
	var err error
	if sub.Kind == store.SubjectPerson {
		_, err = s.st.GetPerson(ctx, village, sub.ID)
	} else {
		_, err = s.st.GetHousehold(ctx, village, sub.ID)
	}
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: subject.id: no %s %q in village %s", ErrInvalid, sub.Kind, sub.ID, village)
	}
	if err != nil {
		return fmt.Errorf("lists: subject %s %s: %w", sub.Kind, sub.ID, err)
	}
	return nil
}

// Entry returns entry id as read now.
func (s *Service) Entry(ctx context.Context, id uint64) (EntryView, error) {
	e, err := s.st.GetEntry(ctx, id)
	if err != nil {
		return EntryView{}, fmt.Errorf("lists: entry %d: %w", id, err)
	}
	return s.view(e), nil
}

// Filter selects entries; empty fields match all. Status may be
// "expired", which selects published entries whose period has ended
// (and "published" then means the unexpired ones).
type Filter struct {
	Village string
	Period  string
	Status  store.EntryStatus
	Kind    store.ListKind
}

// Entries returns the entries f selects, by id.
func (s *Service) Entries(ctx context.Context, f Filter) ([]EntryView, error) {
	var errs []error
	switch f.Status {
	case "", store.StatusDraft, store.StatusInReview, store.StatusApproved, store.StatusPublished, store.StatusRevoked, store.StatusExpired,
		store.StatusNotice, store.StatusOnHold, store.StatusWithdrawn:
	default:
		errs = append(errs, fmt.Errorf("%w: status: %q, want draft, in_review, approved, notice, on_hold, published, withdrawn, revoked or expired", ErrInvalid, f.Status))
	}
	if f.Kind != "" && f.Kind != store.KindRed && f.Kind != store.KindBlack {
		errs = append(errs, fmt.Errorf("%w: kind: %q, want red or black", ErrInvalid, f.Kind))
	}
	if f.Period != "" {
		if _, err := parsePeriod(f.Period, s.loc); err != nil {
			errs = append(errs, err)
		}
	}
	if err := joinInvalid(errs); err != nil {
		return nil, err
	}
	sf := store.EntryFilter{Village: f.Village, Period: f.Period, Status: f.Status, Kind: f.Kind}
	if f.Status == store.StatusExpired {
		sf.Status = store.StatusPublished
	}
	es, err := s.st.ListEntries(ctx, sf)
	if err != nil {
		return nil, fmt.Errorf("lists: entries: %w", err)
	}
	out := make([]EntryView, 0, len(es))
	for _, e := range es {
		if v := s.view(e); f.Status == "" || v.Status == f.Status {
			out = append(out, v)
		}
	}
	return out, nil
}
