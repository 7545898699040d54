package schedule

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // a box may have no /usr/share/zoneinfo; see doc.go
)

// DefaultZone is the zone a Rule without one is read in: the villages'.
const DefaultZone = "Asia/Shanghai"

// Rule says when something plays. It is either one-shot (Once) or
// recurring (At, narrowed by the other fields). It travels inside the
// signed desired state, hence the JSON tags; Validate says whether it is
// usable, and Next and Between treat an invalid rule as one that never fires.
type Rule struct {
	// At lists local times of day, "HH:MM" or "HH:MM:SS", 24-hour. A day
	// the rule fires on fires at each of them; duplicates fire once.
	At []string `json:"at,omitempty"`
	// Weekdays narrows to ISO weekdays, 1 Monday … 7 Sunday (周一…周日).
	// Empty means every day.
	Weekdays []int `json:"weekdays,omitempty"`
	// MonthDays narrows to days of the month, 1 to 31, or -1 for the last
	// day of the month. A day a month lacks (the 31st of April, the 30th
	// of February) does not fire in that month; it does not move to the
	// last day. Empty means every day. With Weekdays too, a day must pass
	// both.
	MonthDays []int `json:"month_days,omitempty"`
	// Start and End are the first and last local dates, "YYYY-MM-DD",
	// both inclusive; either may be empty (open).
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
	// Once is a single instant, RFC 3339 with its offset. It excludes At
	// and every other recurring field.
	Once string `json:"once,omitempty"`
	// Count caps the occurrences in total, counted from Start (which it
	// therefore needs); 0 means no cap.
	Count int `json:"count,omitempty"`
	// Zone is the IANA zone the times and dates are read in; empty means
	// DefaultZone.
	Zone string `json:"zone,omitempty"`
}

const (
	secPerDay = 24 * 60 * 60
	maxYear   = 9999 // the last year "YYYY-MM-DD" can name
)

// plan is a valid Rule in the form the calendar walk reads.
type plan struct {
	loc *time.Location

	once   time.Time
	isOnce bool

	at []int64 // seconds into the local day, sorted, unique
	// weekMask[w] has bit d set when day d of a month whose 1st falls on
	// weekday w (time.Weekday numbering) is an allowed weekday.
	weekMask [7]uint64
	dayMask  uint64 // bit d for month day d; bit 0 unused
	lastDay  bool
	anyDay   bool
	start    int64 // first local day, days since 1970-01-01; year 1 when open
	end      int64 // last local day, inclusive; 9999-12-31 when open
	count    int

	zone period // the zone period last looked up; see periodAt
}

// Validate reports every problem with r at once, joined, each naming the
// field; nil means Next and Between will honour r as written.
func (r Rule) Validate() error {
	_, err := r.compile()
	return err
}

func (r Rule) compile() (*plan, error) {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("schedule: "+format, a...))
	}
	p := &plan{start: civilDay(1, time.January, 1), end: civilDay(maxYear, time.December, 31)}

	name := r.Zone
	if name == "" {
		name = DefaultZone
	}
	if name == "Local" {
		// time.Local is whatever the box was configured with, which the
		// signed desired state cannot see.
		bad(`zone "Local": name the zone, e.g. %s`, DefaultZone)
		p.loc = time.UTC
	} else if loc, err := time.LoadLocation(name); err != nil {
		bad("zone %q: not a known IANA zone, e.g. %s (%v)", name, DefaultZone, err)
		p.loc = time.UTC
	} else {
		p.loc = loc
	}

	if r.Once != "" {
		p.isOnce = true
		t, err := time.Parse(time.RFC3339, r.Once)
		if err != nil {
			bad("once %q: want RFC 3339 with an offset, e.g. 2028-05-04T10:00:00+08:00", r.Once)
		}
		p.once = t.In(p.loc)
		var recurring []string
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"at", len(r.At) > 0}, {"weekdays", len(r.Weekdays) > 0},
			{"month_days", len(r.MonthDays) > 0}, {"start", r.Start != ""},
			{"end", r.End != ""}, {"count", r.Count != 0},
		} {
			if f.set {
				recurring = append(recurring, f.name)
			}
		}
		if len(recurring) > 0 {
			bad("once excludes %s: a rule is one-shot or recurring", strings.Join(recurring, ", "))
		}
		return p, errors.Join(errs...)
	}

	if len(r.At) == 0 {
		bad("needs at (times of day) or once (an instant)")
	}
	for i, s := range r.At {
		sec, ok := parseClock(s)
		if !ok {
			bad("at[%d] %q: want HH:MM or HH:MM:SS, 00:00 to 23:59:59", i, s)
			continue
		}
		p.at = append(p.at, sec)
	}
	slices.Sort(p.at)
	p.at = slices.Compact(p.at)

	var allowed [7]bool // by time.Weekday
	for i, w := range r.Weekdays {
		if w < 1 || w > 7 {
			bad("weekdays[%d] = %d: want 1 (Monday) to 7 (Sunday)", i, w)
			continue
		}
		allowed[w%7] = true // ISO 7, Sunday, is time.Sunday, 0
	}
	for first := range 7 {
		for d := 1; d <= 31; d++ {
			if len(r.Weekdays) == 0 || allowed[(first+d-1)%7] {
				p.weekMask[first] |= 1 << d
			}
		}
	}

	p.anyDay = len(r.MonthDays) == 0
	for i, d := range r.MonthDays {
		switch {
		case d == -1:
			p.lastDay = true
		case d >= 1 && d <= 31:
			p.dayMask |= 1 << d
		default:
			bad("month_days[%d] = %d: want 1 to 31, or -1 for the last day", i, d)
		}
	}

	date := func(field, s string, into *int64) bool {
		if s == "" {
			return false
		}
		t, err := time.Parse(time.DateOnly, s)
		switch {
		case !dateShaped(s):
			bad("%s %q: want a date YYYY-MM-DD", field, s)
			return false
		case err != nil || t.Year() < 1:
			bad("%s %q: no such date", field, s)
			return false
		}
		*into = civilDay(t.Date())
		return true
	}
	hasStart := date("start", r.Start, &p.start)
	hasEnd := date("end", r.End, &p.end)
	if hasStart && hasEnd && p.end < p.start {
		bad("end %s is before start %s", r.End, r.Start)
	}

	switch {
	case r.Count < 0:
		bad("count %d: want 0 (no cap) or more", r.Count)
	case r.Count > 0 && r.Start == "":
		bad("count %d needs a start date to count from", r.Count)
	}
	p.count = r.Count
	return p, errors.Join(errs...)
}

// parseClock reads "HH:MM" or "HH:MM:SS" into seconds since midnight.
// Exactly two digits per field, so "8:00" and "08:00:0" are refused rather
// than guessed at.
func parseClock(s string) (int64, bool) {
	if len(s) != 5 && (len(s) != 8 || s[5] != ':') || s[2] != ':' {
		return 0, false
	}
	field := func(i int, limit int64) (int64, bool) {
		a, b := s[i], s[i+1]
		if a < '0' || a > '9' || b < '0' || b > '9' {
			return 0, false
		}
		v := int64(a-'0')*10 + int64(b-'0')
		return v, v <= limit
	}
	h, okh := field(0, 23)
	m, okm := field(3, 59)
	sec, oks := int64(0), true
	if len(s) == 8 {
		sec, oks = field(6, 59)
	}
	return h*3600 + m*60 + sec, okh && okm && oks
}

// dateShaped reports whether s looks like YYYY-MM-DD, to tell a typo from
// a date the calendar lacks.
func dateShaped(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	for i := range len(s) {
		if i != 4 && i != 7 && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}
