package lists

import (
	"context"
	"fmt"
	"slices"

	"github.com/dalaba/dalaba/cloud/store"
)

// What the reports (cloud/report) read of the lists: a month's entries
// with the names they are about, their review trail, and every
// household's ledger.

// EntryRow is an entry as read now, with whom it is about.
type EntryRow struct {
	EntryView
	Name          string // as spoken: a person's name or "<户主>户"
	Household     string
	HouseholdHead string
}

// EntryRows returns village's entries of period, every status, by id.
func (s *Service) EntryRows(ctx context.Context, village, period string) ([]EntryRow, error) {
	if _, err := parsePeriod(period, s.loc); err != nil {
		return nil, err
	}
	if _, err := s.village(ctx, village); err != nil {
		return nil, err
	}
	reg, err := s.names(ctx, village)
	if err != nil {
		return nil, err
	}
	es, err := s.st.ListEntries(ctx, store.EntryFilter{Village: village, Period: period})
	if err != nil {
		return nil, fmt.Errorf("lists: entries of %s %s: %w", village, period, err)
	}
	out := make([]EntryRow, 0, len(es))
	for _, e := range es {
		r := reg.row(e)
		out = append(out, EntryRow{EntryView: s.view(e), Name: r.Name, Household: r.Household, HouseholdHead: r.HouseholdHead})
	}
	return out, nil
}

// trailPage is how many audit records one read of the trail takes.
const trailPage = 1000

// Trail returns the audit records of village's entries ids, oldest first:
// who wrote, changed, submitted, approved, rejected, published or revoked
// each, and why.
func (s *Service) Trail(ctx context.Context, village string, ids []uint64) ([]store.AuditRecord, error) {
	var out []store.AuditRecord
	after := uint64(0)
	for {
		recs, err := s.st.ListAudit(ctx, store.AuditFilter{Village: village, After: after, Limit: trailPage})
		if err != nil {
			return nil, fmt.Errorf("lists: trail of %s: %w", village, err)
		}
		for _, r := range recs {
			if r.EntryID != 0 && slices.Contains(ids, r.EntryID) {
				out = append(out, r)
			}
			after = r.Seq
		}
		if len(recs) < trailPage {
			return out, nil
		}
	}
}

// Ledgers returns every household's ledger of village in period ("" =
// every period), by household id.
func (s *Service) Ledgers(ctx context.Context, village, period string) ([]Ledger, error) {
	ls, hs, err := s.ledgers(ctx, village, period)
	if err != nil {
		return nil, err
	}
	out := make([]Ledger, 0, len(hs))
	for _, h := range hs {
		out = append(out, *ls[h.ID])
	}
	return out, nil
}
