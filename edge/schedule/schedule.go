// Package schedule is calendar math for broadcast schedules: given a rule
// (times of day, weekdays, days of the month, a date range, a one-shot
// instant, a repeat count, a time zone) it says when the rule fires. It is
// pure: no clock, no timers, no goroutines; the broadcast package asks it
// and keeps the time itself.
//
// Time zones come from the system's zoneinfo or, on a box without one,
// from the copy embedded by importing time/tzdata (about 450 KB).
package schedule

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // a village box may ship without /usr/share/zoneinfo
)

// DefaultZone is where the villages are.
const DefaultZone = "Asia/Shanghai"

// Rule is when something plays. Either Once, or At with optional filters.
type Rule struct {
	At        []string `json:"at,omitempty"`         // local times of day, "HH:MM" or "HH:MM:SS"
	Weekdays  []int    `json:"weekdays,omitempty"`   // ISO: 1 Monday … 7 Sunday; empty = every day
	MonthDays []int    `json:"month_days,omitempty"` // 1-31, or -1 for the last day; a day a month lacks is skipped that month
	Start     string   `json:"start,omitempty"`      // first local date, "YYYY-MM-DD", inclusive
	End       string   `json:"end,omitempty"`        // last local date, inclusive
	Once      string   `json:"once,omitempty"`       // a single instant, RFC 3339
	Count     int      `json:"count,omitempty"`      // fire at most this many times from Start; 0 = no limit
	Zone      string   `json:"zone,omitempty"`       // IANA zone; default Asia/Shanghai
}

// Quiet is a daily window, in local time, when nothing scheduled plays;
// From after To wraps midnight (22:00-06:30).
type Quiet struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// horizon bounds the search for a next occurrence: a rule that has not
// fired in 8 years (say the 29th of February on a Monday only) is treated as
// having no next occurrence within reach.
const horizonDays = 8 * 366

type compiled struct {
	loc        *time.Location
	at         []time.Duration // sorted offsets into the day
	weekdays   [8]bool         // by ISO number
	anyWeekday bool
	monthDays  [32]bool
	lastDay    bool
	anyDay     bool
	start, end time.Time // local midnights; end zero = open
	once       time.Time
	count      int
}

// Validate reports every problem of r at once.
func (r Rule) Validate() error {
	_, err := r.compile()
	return err
}

func parseClock(s string) (time.Duration, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, fmt.Errorf("time %q: want HH:MM or HH:MM:SS", s)
	}
	lim := []int{23, 59, 59}
	var v [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || len(p) != 2 || n < 0 || n > lim[i] {
			return 0, fmt.Errorf("time %q: want HH:MM or HH:MM:SS", s)
		}
		v[i] = n
	}
	return time.Duration(v[0])*time.Hour + time.Duration(v[1])*time.Minute + time.Duration(v[2])*time.Second, nil
}

func (r Rule) compile() (compiled, error) {
	var c compiled
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("schedule: "+format, a...)) }
	zone := r.Zone
	if zone == "" {
		zone = DefaultZone
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		bad("zone %q: %v", zone, err)
		loc = time.UTC
	}
	c.loc = loc
	switch {
	case r.Once != "" && len(r.At) > 0:
		bad("once and at exclude each other")
	case r.Once == "" && len(r.At) == 0:
		bad("needs at (times of day) or once")
	}
	if r.Once != "" {
		if c.once, err = time.Parse(time.RFC3339, r.Once); err != nil {
			bad("once %q: want RFC 3339, e.g. 2026-12-01T08:00:00+08:00", r.Once)
		}
	}
	for _, a := range r.At {
		d, err := parseClock(a)
		if err != nil {
			bad("%v", err)
			continue
		}
		c.at = append(c.at, d)
	}
	slices.Sort(c.at)
	c.at = slices.Compact(c.at)
	c.anyWeekday = len(r.Weekdays) == 0
	for _, w := range r.Weekdays {
		if w < 1 || w > 7 {
			bad("weekday %d: 1 (Monday) to 7 (Sunday)", w)
			continue
		}
		c.weekdays[w] = true
	}
	c.anyDay = len(r.MonthDays) == 0
	for _, d := range r.MonthDays {
		switch {
		case d == -1:
			c.lastDay = true
		case d >= 1 && d <= 31:
			c.monthDays[d] = true
		default:
			bad("month day %d: 1-31, or -1 for the last day", d)
		}
	}
	date := func(field, s string) time.Time {
		if s == "" {
			return time.Time{}
		}
		t, err := time.ParseInLocation("2006-01-02", s, loc)
		if err != nil {
			bad("%s %q: want YYYY-MM-DD", field, s)
		}
		return t
	}
	c.start, c.end = date("start", r.Start), date("end", r.End)
	if !c.start.IsZero() && !c.end.IsZero() && c.end.Before(c.start) {
		bad("end %s is before start %s", r.End, r.Start)
	}
	if r.Count < 0 {
		bad("count %d: not negative", r.Count)
	}
	if r.Count > 0 && r.Start == "" && r.Once == "" {
		bad("count needs a start date to count from")
	}
	c.count = r.Count
	return c, errors.Join(errs...)
}

// matches reports whether the local date y-m-d passes the day filters.
func (c *compiled) matches(day time.Time) bool {
	if !c.anyWeekday {
		w := int(day.Weekday())
		if w == 0 {
			w = 7
		}
		if !c.weekdays[w] {
			return false
		}
	}
	if c.anyDay {
		return true
	}
	if c.monthDays[day.Day()] {
		return true
	}
	return c.lastDay && day.AddDate(0, 0, 1).Day() == 1
}

// instant is the local wall time at on day. A wall time a DST change skips
// or repeats resolves as Go's time.Date does, deterministically, and the
// rule fires once for it.
func (c *compiled) instant(day time.Time, at time.Duration) time.Time {
	h, m, s := int(at/time.Hour), int(at/time.Minute)%60, int(at/time.Second)%60
	return time.Date(day.Year(), day.Month(), day.Day(), h, m, s, 0, c.loc)
}

// scan calls f with each occurrence at or after from's local day, in
// order, until f returns false, the end date or the horizon.
func (c *compiled) scan(from time.Time, f func(time.Time) bool) {
	l := from.In(c.loc)
	day := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, c.loc)
	if !c.start.IsZero() && day.Before(c.start) {
		day = c.start
	}
	for i := 0; i < horizonDays; i++ {
		if !c.end.IsZero() && day.After(c.end) {
			return
		}
		if c.matches(day) {
			for _, at := range c.at {
				if !f(c.instant(day, at)) {
					return
				}
			}
		}
		day = time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, c.loc)
	}
}

// last is the final occurrence allowed by Count (zero when unlimited).
func (c *compiled) last() time.Time {
	if c.count == 0 {
		return time.Time{}
	}
	var n int
	var t time.Time
	c.scan(c.start, func(x time.Time) bool {
		n++
		t = x
		return n < c.count
	})
	return t
}

// Next returns the first occurrence strictly after after, and false when
// none remains. An invalid rule has none.
func Next(r Rule, after time.Time) (time.Time, bool) {
	c, err := r.compile()
	if err != nil {
		return time.Time{}, false
	}
	if !c.once.IsZero() {
		return c.once, c.once.After(after)
	}
	limit := c.last()
	var next time.Time
	found := false
	c.scan(after, func(t time.Time) bool {
		if !limit.IsZero() && t.After(limit) {
			return false
		}
		if t.After(after) {
			next, found = t, true
			return false
		}
		return true
	})
	return next, found
}

// Between returns every occurrence in (from, to], in order.
func Between(r Rule, from, to time.Time) []time.Time {
	var out []time.Time
	for t := from; ; {
		n, ok := Next(r, t)
		if !ok || n.After(to) {
			return out
		}
		out = append(out, n)
		t = n
	}
}

// InQuiet reports whether t falls in one of the quiet windows, read in loc.
// Windows that do not parse are ignored here; ValidateQuiet reports them.
func InQuiet(q []Quiet, t time.Time, loc *time.Location) bool {
	l := t.In(loc)
	x := time.Duration(l.Hour())*time.Hour + time.Duration(l.Minute())*time.Minute + time.Duration(l.Second())*time.Second
	for _, w := range q {
		from, err1 := parseClock(w.From)
		to, err2 := parseClock(w.To)
		if err1 != nil || err2 != nil {
			continue
		}
		if from <= to && x >= from && x < to || from > to && (x >= from || x < to) {
			return true
		}
	}
	return false
}

// ValidateQuiet checks quiet windows.
func ValidateQuiet(q []Quiet) error {
	var errs []error
	for _, w := range q {
		for _, s := range []string{w.From, w.To} {
			if _, err := parseClock(s); err != nil {
				errs = append(errs, fmt.Errorf("schedule: quiet hours: %v", err))
			}
		}
	}
	return errors.Join(errs...)
}
