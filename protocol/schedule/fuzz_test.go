package schedule

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"
)

// FuzzRuleJSON feeds arbitrary JSON through the path a rule takes from the
// desired state: decode, Validate, then Next. A rule Validate accepts must
// give occurrences that strictly increase from after, agree with Between,
// obey the rule's own fields, and respect Count; and each call must be
// quick, since it is bounded by months walked, not by seconds.
func FuzzRuleJSON(f *testing.F) {
	newYear := time.Date(2027, 12, 31, 16, 0, 0, 0, time.UTC).Unix() // 2028-01-01 00:00 in Shanghai
	for _, c := range yearCases {
		b, err := json.Marshal(c.rule)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, newYear)
	}
	for _, c := range badRules {
		f.Add([]byte(c.json), int64(0))
	}
	f.Fuzz(func(t *testing.T, b []byte, after int64) {
		var r Rule
		if json.Unmarshal(b, &r) != nil || r.Validate() != nil {
			return
		}
		checkNext(t, r, after)
	})
}

// FuzzNext builds valid rules field by field, which random JSON seldom
// is, to push the calendar walk through zones, filters, ranges and counts.
func FuzzNext(f *testing.F) {
	f.Add(uint32(7*3600+30*60), uint32(18*3600), uint8(0), uint32(0), false, int32(0), uint16(0), uint8(0), uint8(0), int64(1830268800))
	f.Add(uint32(2*3600+30*60), uint32(1*3600+30*60), uint8(1<<6), uint32(1<<12), true, int32(21000), uint16(400), uint8(9), uint8(1), int64(1836000000))
	f.Add(uint32(12*3600), uint32(0), uint8(0), uint32(1<<29|1<<30|1<<31), true, int32(15300), uint16(60), uint8(0), uint8(2), int64(1324900000))
	zones := []string{DefaultZone, "America/New_York", "Pacific/Apia", "Australia/Lord_Howe", "America/Havana", "Europe/London", "UTC", "America/Santiago"}
	f.Fuzz(func(t *testing.T, at1, at2 uint32, weekdays uint8, monthDays uint32, last bool, start int32, span uint16, count, zoneIdx uint8, after int64) {
		clock := func(s uint32) string {
			s %= secPerDay
			return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
		}
		r := Rule{At: []string{clock(at1), clock(at2)}, Zone: zones[int(zoneIdx)%len(zones)], Count: int(count % 32)}
		for w := 1; w <= 7; w++ {
			if weekdays&(1<<(w-1)) != 0 {
				r.Weekdays = append(r.Weekdays, w)
			}
		}
		for d := 1; d <= 31; d++ {
			if monthDays&(1<<d) != 0 {
				r.MonthDays = append(r.MonthDays, d)
			}
		}
		if last {
			r.MonthDays = append(r.MonthDays, -1)
		}
		if start != 0 || r.Count > 0 { // days from 1970, so the dates stay in years 1 to 9999
			first := time.Unix(int64(start%2_900_000)*secPerDay, 0).UTC()
			if first.Year() < 1 {
				first = first.AddDate(2000, 0, 0)
			}
			r.Start = first.Format(time.DateOnly)
			if span > 0 {
				r.End = first.AddDate(0, 0, int(span)).Format(time.DateOnly)
			}
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		checkNext(t, r, after)
	})
}

// checkNext holds Next and Between to their promises for a valid rule.
func checkNext(t *testing.T, r Rule, after int64) {
	t.Helper()
	// Within ±8700 years of 1970, past both ends of the calendar, with a
	// fraction of a second.
	from := time.Unix(after%(1<<38), (after>>38)%1e9)

	var got []time.Time
	for prev := from; len(got) < 64; {
		x, ok := Next(r, prev)
		if !ok {
			break
		}
		if !x.After(prev) {
			t.Fatalf("Next(%s) = %s: not after", prev, x)
		}
		if why := disobeys(r, x); why != "" {
			t.Fatalf("%s: %s", x, why)
		}
		got = append(got, x)
		prev = x
	}
	if len(got) > 0 {
		if listed := Between(r, from, got[len(got)-1]); !slices.EqualFunc(listed, got, time.Time.Equal) {
			t.Fatalf("Between listed %d, Next walked %d", len(listed), len(got))
		}
	}
	if r.Count > 0 && r.Count <= 64 {
		if all := Between(r, time.Time{}, time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)); len(all) > r.Count {
			t.Fatalf("%d occurrences, count %d", len(all), r.Count)
		}
	}
}

// disobeys says how x breaks r, read literally in r's zone, or "". A wall
// time the clock skips fires at the jump, so an occurrence at a zone
// transition is exempt from the clock and date checks.
func disobeys(r Rule, x time.Time) string {
	if r.Once != "" {
		once, _ := time.Parse(time.RFC3339, r.Once)
		if !x.Equal(once) {
			return "not the one-shot instant"
		}
		return ""
	}
	if start, _ := x.ZoneBounds(); start.Equal(x) {
		return ""
	}
	_, off := x.Zone()
	_, offBefore := x.AddDate(0, 0, -1).Zone()
	if earlier := x.Add(time.Duration(off-offBefore) * time.Second); earlier.Before(x) &&
		earlier.Format(time.DateTime) == x.Format(time.DateTime) {
		return "a repeated wall time fired on its second showing"
	}
	clock := x.Format(time.TimeOnly)
	if !slices.ContainsFunc(r.At, func(a string) bool { return a == clock || a+":00" == clock }) {
		return "wall time " + clock + " not in at"
	}
	date := x.Format(time.DateOnly)
	if r.Start != "" && date < r.Start || r.End != "" && date > r.End {
		return "outside start..end"
	}
	if len(r.Weekdays) > 0 && !slices.Contains(r.Weekdays, (int(x.Weekday())+6)%7+1) {
		return "weekday " + x.Weekday().String()
	}
	last := x.AddDate(0, 0, 1).Day() == 1
	if len(r.MonthDays) > 0 && !slices.Contains(r.MonthDays, x.Day()) && !(last && slices.Contains(r.MonthDays, -1)) {
		return "day of the month"
	}
	return ""
}
