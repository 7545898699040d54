package lists

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/dalaba/dalaba/cloud/store"
)

// LedgerLine is one entry in a household's points ledger.
type LedgerLine struct {
	Row
	Period string `json:"period"`
	// Counted is false for a revoked black entry: after rectification its
	// points no longer apply, but the line stays for the record.
	Counted bool `json:"counted"`
}

// Ledger is a household's points (积分).
type Ledger struct {
	Household string       `json:"household"`
	Head      string       `json:"head"`
	Entries   []LedgerLine `json:"entries"`
	Total     int          `json:"total"`
}

// Standing is one household's place on the leaderboard.
type Standing struct {
	Rank      int    `json:"rank"` // equal points share a rank
	Household string `json:"household"`
	Head      string `json:"head"`
	Points    int    `json:"points"`
}

// ledgers builds every household's ledger of village from its published,
// expired and revoked entries; period "" means all periods.
func (s *Service) ledgers(ctx context.Context, village, period string) (map[string]*Ledger, []store.Household, error) {
	if period != "" {
		if _, err := parsePeriod(period, s.loc); err != nil {
			return nil, nil, err
		}
	}
	if _, err := s.village(ctx, village); err != nil {
		return nil, nil, err
	}
	reg, err := s.names(ctx, village)
	if err != nil {
		return nil, nil, err
	}
	// A quarter's points are its own entries' and its months'.
	es, err := s.st.ListEntries(ctx, store.EntryFilter{Village: village})
	if err != nil {
		return nil, nil, fmt.Errorf("lists: points of %s: %w", village, err)
	}
	if period != "" {
		es = slices.DeleteFunc(es, func(e store.Entry) bool { return !Covers(period, e.Period) })
	}
	hs := make([]store.Household, 0, len(reg.households))
	out := map[string]*Ledger{}
	for id, h := range reg.households {
		hs = append(hs, h)
		out[id] = &Ledger{Household: id, Head: h.Head, Entries: []LedgerLine{}}
	}
	slices.SortFunc(hs, func(a, b store.Household) int { return cmp.Compare(a.ID, b.ID) })
	for _, e := range es {
		if e.Status != store.StatusPublished && e.Status != store.StatusRevoked {
			continue
		}
		l, ok := out[reg.household(e)]
		if !ok {
			continue // households are never deleted; nothing to credit otherwise
		}
		line := LedgerLine{Row: reg.row(e), Period: e.Period, Counted: e.Status == store.StatusPublished}
		l.Entries = append(l.Entries, line)
		if line.Counted {
			l.Total += e.Points
		}
	}
	return out, hs, nil
}

// Points returns household's ledger in village over every period.
func (s *Service) Points(ctx context.Context, village, household string) (Ledger, error) {
	ls, _, err := s.ledgers(ctx, village, "")
	if err != nil {
		return Ledger{}, err
	}
	l, ok := ls[household]
	if !ok {
		return Ledger{}, fmt.Errorf("lists: points of household %s of %s: %w", household, village, store.ErrNotFound)
	}
	return *l, nil
}

// Leaderboard ranks every household of village by its points in period
// ("" = all periods; a quarter counts its months too), most first; ties share a rank and are ordered by
// household id.
func (s *Service) Leaderboard(ctx context.Context, village, period string) ([]Standing, error) {
	ls, hs, err := s.ledgers(ctx, village, period)
	if err != nil {
		return nil, err
	}
	out := make([]Standing, 0, len(hs))
	for _, h := range hs {
		out = append(out, Standing{Household: h.ID, Head: h.Head, Points: ls[h.ID].Total})
	}
	slices.SortStableFunc(out, func(a, b Standing) int { return cmp.Compare(b.Points, a.Points) })
	for i := range out {
		out[i].Rank = i + 1
		if i > 0 && out[i].Points == out[i-1].Points {
			out[i].Rank = out[i-1].Rank
		}
	}
	return out, nil
}
