package lists

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrBadPeriod wraps a period that is neither a month nor a quarter, or
// one a category's round does not take. Joined with other problems of the
// same input it becomes an ErrInvalid (joinInvalid): the input as a whole
// is invalid.
var ErrBadPeriod = errors.New("lists: bad period")

// joinInvalid joins the problems of one input: a lone bad period stays
// ErrBadPeriod, one among others is told as ErrInvalid.
func joinInvalid(errs []error) error {
	errs = slices.DeleteFunc(errs, func(e error) bool { return e == nil })
	if len(errs) < 2 {
		return errors.Join(errs...)
	}
	for i, e := range errs {
		if errors.Is(e, ErrBadPeriod) {
			errs[i] = fmt.Errorf("%w: %s", ErrInvalid, strings.TrimPrefix(e.Error(), ErrBadPeriod.Error()+": "))
		}
	}
	return errors.Join(errs...)
}

// Round is how often a township (or one category) makes its lists.
type Round string

// The rounds.
const (
	RoundMonthly   Round = "monthly"   // periods "YYYY-MM"
	RoundQuarterly Round = "quarterly" // periods "YYYY-Qn"
	RoundAny       Round = "any"       // either
)

// Rounds says which periods a township's entries take: Default for every
// category but those Categories name.
type Rounds struct {
	Default    Round            // "" = monthly
	Categories map[string]Round // category name → its round
}

func (r Rounds) validate() error {
	var errs []error
	check := func(what string, x Round) {
		switch x {
		case RoundMonthly, RoundQuarterly, RoundAny:
		default:
			errs = append(errs, fmt.Errorf("rounds: %s: %q, want monthly, quarterly or any", what, x))
		}
	}
	if r.Default != "" {
		check("default", r.Default)
	}
	for c, x := range r.Categories {
		check("category "+c, x)
	}
	return errors.Join(errs...)
}

// of is the round of category.
func (r Rounds) of(category string) Round {
	if x, ok := r.Categories[category]; ok {
		return x
	}
	if r.Default == "" {
		return RoundMonthly
	}
	return r.Default
}

// period is a parsed period: a month or a quarter of a year.
type period struct {
	year    int
	month   int // 1-12 for a month
	quarter int // 1-4 for a quarter
}

// badPeriod is the error of a period that is neither.
func badPeriod(p string) error {
	return fmt.Errorf("%w: period: %q, want a month as YYYY-MM (2026-11) or a quarter as YYYY-Qn (2026-Q4)", ErrBadPeriod, p)
}

// parse reads "YYYY-MM" or "YYYY-Qn", years 2000 to 2099.
func parse(p string) (period, error) {
	y, rest, ok := strings.Cut(p, "-")
	if !ok || len(y) != 4 || len(rest) != 2 {
		return period{}, badPeriod(p)
	}
	year, err := strconv.Atoi(y)
	if err != nil || year < 2000 || year > 2099 || strings.ContainsAny(y, "+-") {
		return period{}, badPeriod(p)
	}
	if rest[0] == 'Q' {
		if rest[1] < '1' || rest[1] > '4' {
			return period{}, badPeriod(p)
		}
		return period{year: year, quarter: int(rest[1] - '0')}, nil
	}
	m, err := strconv.Atoi(rest)
	if err != nil || m < 1 || m > 12 || strings.ContainsAny(rest, "+-") {
		return period{}, badPeriod(p)
	}
	return period{year: year, month: m}, nil
}

// start is the first instant of the period in loc; end that of the next.
func (p period) start(loc *time.Location) time.Time {
	m := p.month
	if p.quarter > 0 {
		m = 3*(p.quarter-1) + 1
	}
	return time.Date(p.year, time.Month(m), 1, 0, 0, 0, 0, loc)
}

func (p period) end(loc *time.Location) time.Time {
	if p.quarter > 0 {
		return p.start(loc).AddDate(0, 3, 0)
	}
	return p.start(loc).AddDate(0, 1, 0)
}

// round is the round the period belongs to.
func (p period) round() Round {
	if p.quarter > 0 {
		return RoundQuarterly
	}
	return RoundMonthly
}

// covers reports whether p holds q: itself, or a quarter its months.
func (p period) covers(q period) bool {
	if p == q {
		return true
	}
	return p.quarter > 0 && q.month > 0 && p.year == q.year && (q.month-1)/3+1 == p.quarter
}

// parsePeriod returns the first instant of period in loc.
func parsePeriod(p string, loc *time.Location) (time.Time, error) {
	x, err := parse(p)
	if err != nil {
		return time.Time{}, err
	}
	return x.start(loc), nil
}

// checkRound refuses a period the category's round does not take.
func (s *Service) checkRound(category, p string) error {
	x, err := parse(p)
	if err != nil {
		return err
	}
	want := s.rounds.of(category)
	if want != RoundAny && want != x.round() {
		ex := "2026-11"
		if want == RoundQuarterly {
			ex = "2026-Q4"
		}
		return fmt.Errorf("%w: period: %q, the category %s is listed %s, e.g. %s", ErrBadPeriod, p, category, want, ex)
	}
	return nil
}

// periodEnd is when period ends: the first instant of the next month or
// quarter.
func (s *Service) periodEnd(p string) (time.Time, error) {
	x, err := parse(p)
	if err != nil {
		return time.Time{}, err
	}
	return x.end(s.loc), nil
}

// ended reports whether period is over now. A malformed stored period
// counts as not ended, so it stays visible rather than vanishing.
func (s *Service) ended(period string) bool {
	end, err := s.periodEnd(period)
	return err == nil && !s.now().Before(end)
}

// yearMonth says a period the way it is spoken: "2026年11月",
// "2026年第四季度".
func yearMonth(p string) string {
	x, err := parse(p)
	switch {
	case err != nil:
		return p
	case x.quarter > 0:
		return fmt.Sprintf("%d年第%s季度", x.year, []string{"一", "二", "三", "四"}[x.quarter-1])
	}
	return fmt.Sprintf("%d年%d月", x.year, x.month)
}

// PeriodText says period in Chinese, as posters and pages print it.
func PeriodText(p string) string { return yearMonth(p) }

// ValidPeriod reports whether p is a month or a quarter.
func ValidPeriod(p string) bool {
	_, err := parse(p)
	return err == nil
}

// Covers reports whether entries of period q count in period p: the same
// period, or a month of quarter p.
func Covers(p, q string) bool {
	x, err1 := parse(p)
	y, err2 := parse(q)
	return err1 == nil && err2 == nil && x.covers(y)
}
