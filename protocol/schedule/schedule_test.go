package schedule

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func zone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// at reads "2028-01-31 09:00" or "2028-01-31 09:00:15" in zone name.
func at(t testing.TB, name, s string) time.Time {
	t.Helper()
	layout := "2006-01-02 15:04"
	if len(s) > len(layout) {
		layout += ":05"
	}
	v, err := time.ParseInLocation(layout, s, zone(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func sh(t testing.TB, s string) time.Time { t.Helper(); return at(t, DefaultZone, s) }

// each is every date of [first, last] at each time, "2006-01-02" and "15:04".
func each(first, last string, times ...string) []string {
	var out []string
	d, _ := time.Parse(time.DateOnly, first)
	end, _ := time.Parse(time.DateOnly, last)
	for ; !d.After(end); d = d.AddDate(0, 0, 1) {
		for _, c := range times {
			out = append(out, d.Format(time.DateOnly)+" "+c)
		}
	}
	return out
}

// naive is the rule's definition read literally, day by day, for zones
// without DST: the oracle the month-stepping walk must agree with.
func naive(t testing.TB, r Rule, from, to time.Time) []time.Time {
	t.Helper()
	loc := zone(t, cmp.Or(r.Zone, DefaultZone))
	var out []time.Time
	n := 0
	first := from.In(loc).AddDate(0, 0, -1)
	if r.Count > 0 {
		first, _ = time.ParseInLocation(time.DateOnly, r.Start, loc)
	}
	for d := first; !d.After(to.AddDate(0, 0, 1)); d = d.AddDate(0, 0, 1) {
		date := d.Format(time.DateOnly)
		if r.Start != "" && date < r.Start || r.End != "" && date > r.End {
			continue
		}
		if len(r.Weekdays) > 0 && !slices.Contains(r.Weekdays, (int(d.Weekday())+6)%7+1) {
			continue
		}
		lastDay := d.AddDate(0, 0, 1).Day() == 1
		if len(r.MonthDays) > 0 && !slices.Contains(r.MonthDays, d.Day()) && !(lastDay && slices.Contains(r.MonthDays, -1)) {
			continue
		}
		var secs []int
		for _, c := range r.At {
			var hms [3]int
			for i, part := range strings.Split(c, ":") {
				hms[i], _ = strconv.Atoi(part)
			}
			secs = append(secs, hms[0]*3600+hms[1]*60+hms[2])
		}
		slices.Sort(secs)
		for _, s := range secs {
			x := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, s, 0, loc)
			if len(out) > 0 && x.Equal(out[len(out)-1]) {
				continue
			}
			n++
			if r.Count > 0 && n > r.Count {
				return out
			}
			if x.After(from) && !x.After(to) {
				out = append(out, x)
			}
		}
	}
	return out
}

func format(ts []time.Time, loc *time.Location) []string {
	out := make([]string, len(ts))
	for i, x := range ts {
		out[i] = x.In(loc).Format("2006-01-02 15:04:05")
	}
	return out
}

// yearCases are a year of rules in Asia/Shanghai; 2028 is a leap year and
// starts on a Saturday. want lists every instant, "2006-01-02 15:04" or
// with seconds. They double as fuzz seeds.
var yearCases = []struct {
	name string
	rule Rule
	want []string // nil: only count (and the oracle) are checked
	n    int
}{
	{"every day 07:30", Rule{At: []string{"07:30"}}, each("2028-01-01", "2028-12-31", "07:30"), 366},
	{"workdays 08:00", Rule{At: []string{"08:00"}, Weekdays: []int{1, 2, 3, 4, 5}}, nil, 260},
	{"the 1st, 08:00 and 18:00", Rule{At: []string{"18:00", "08:00"}, MonthDays: []int{1}}, []string{
		"2028-01-01 08:00", "2028-01-01 18:00", "2028-02-01 08:00", "2028-02-01 18:00",
		"2028-03-01 08:00", "2028-03-01 18:00", "2028-04-01 08:00", "2028-04-01 18:00",
		"2028-05-01 08:00", "2028-05-01 18:00", "2028-06-01 08:00", "2028-06-01 18:00",
		"2028-07-01 08:00", "2028-07-01 18:00", "2028-08-01 08:00", "2028-08-01 18:00",
		"2028-09-01 08:00", "2028-09-01 18:00", "2028-10-01 08:00", "2028-10-01 18:00",
		"2028-11-01 08:00", "2028-11-01 18:00", "2028-12-01 08:00", "2028-12-01 18:00",
	}, 24},
	{"the last day of the month", Rule{At: []string{"20:00"}, MonthDays: []int{-1}}, []string{
		"2028-01-31 20:00", "2028-02-29 20:00", "2028-03-31 20:00", "2028-04-30 20:00",
		"2028-05-31 20:00", "2028-06-30 20:00", "2028-07-31 20:00", "2028-08-31 20:00",
		"2028-09-30 20:00", "2028-10-31 20:00", "2028-11-30 20:00", "2028-12-31 20:00",
	}, 12},
	{"the 31st: seven months", Rule{At: []string{"09:00"}, MonthDays: []int{31}}, []string{
		"2028-01-31 09:00", "2028-03-31 09:00", "2028-05-31 09:00", "2028-07-31 09:00",
		"2028-08-31 09:00", "2028-10-31 09:00", "2028-12-31 09:00",
	}, 7},
	{"the 30th: all but February", Rule{At: []string{"09:00"}, MonthDays: []int{30}}, []string{
		"2028-01-30 09:00", "2028-03-30 09:00", "2028-04-30 09:00", "2028-05-30 09:00",
		"2028-06-30 09:00", "2028-07-30 09:00", "2028-08-30 09:00", "2028-09-30 09:00",
		"2028-10-30 09:00", "2028-11-30 09:00", "2028-12-30 09:00",
	}, 11},
	{"the 29th: every month of a leap year", Rule{At: []string{"09:00"}, MonthDays: []int{29}}, nil, 12},
	{"29th, 30th, 31st together", Rule{At: []string{"09:00"}, MonthDays: []int{31, 29, 30}}, nil, 12 + 11 + 7},
	{"the 31st and the last day fire once", Rule{At: []string{"09:00"}, MonthDays: []int{31, -1}}, nil, 12},
	{"29 February 2028", Rule{At: []string{"10:00"}, MonthDays: []int{29}, Start: "2028-02-01", End: "2028-02-29"}, []string{"2028-02-29 10:00"}, 1},
	{"seven days from the 1st", Rule{At: []string{"08:00"}, Start: "2028-03-01", End: "2028-03-07"}, each("2028-03-01", "2028-03-07", "08:00"), 7},
	{"one-shot", Rule{Once: "2028-05-04T02:00:00Z"}, []string{"2028-05-04 10:00"}, 1},
	{"count 3", Rule{At: []string{"12:00"}, Start: "2028-07-10", Count: 3}, []string{"2028-07-10 12:00", "2028-07-11 12:00", "2028-07-12 12:00"}, 3},
	{"count 3 on weekends", Rule{At: []string{"12:00"}, Weekdays: []int{6, 7}, Start: "2028-07-10", Count: 3}, []string{"2028-07-15 12:00", "2028-07-16 12:00", "2028-07-22 12:00"}, 3},
	{"count started last year", Rule{At: []string{"12:00"}, Start: "2027-12-30", Count: 4}, []string{"2028-01-01 12:00", "2028-01-02 12:00"}, 2},
	{"weekends in October, with seconds", Rule{At: []string{"06:30:15"}, Weekdays: []int{6, 7}, Start: "2028-10-01", End: "2028-10-31"}, []string{
		"2028-10-01 06:30:15", "2028-10-07 06:30:15", "2028-10-08 06:30:15", "2028-10-14 06:30:15", "2028-10-15 06:30:15",
		"2028-10-21 06:30:15", "2028-10-22 06:30:15", "2028-10-28 06:30:15", "2028-10-29 06:30:15",
	}, 9},
	{"Mondays that are the 1st", Rule{At: []string{"07:00"}, Weekdays: []int{1}, MonthDays: []int{1}}, []string{"2028-05-01 07:00"}, 1},
	{"duplicate times fire once", Rule{At: []string{"07:00", "07:00:00", "07:00"}, MonthDays: []int{15}, Weekdays: []int{2, 2}}, []string{"2028-02-15 07:00", "2028-08-15 07:00"}, 2},
	{"outside the year", Rule{At: []string{"07:00"}, Start: "2029-01-01"}, nil, 0},
}

func TestAYearInShanghai(t *testing.T) {
	loc := zone(t, DefaultZone)
	from, to := sh(t, "2027-12-31 23:59:59"), sh(t, "2028-12-31 23:59:59")
	for _, c := range yearCases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.rule.Validate(); err != nil {
				t.Fatal(err)
			}
			got := Between(c.rule, from, to)
			if len(got) != c.n {
				t.Fatalf("%d occurrences, want %d: %v", len(got), c.n, format(got, loc))
			}
			if c.want != nil {
				want := make([]time.Time, len(c.want))
				for i, s := range c.want {
					want[i] = sh(t, s)
				}
				if !slices.EqualFunc(got, want, time.Time.Equal) {
					t.Fatalf("got  %v\nwant %v", format(got, loc), format(want, loc))
				}
			}
			if c.rule.Once == "" {
				if oracle := naive(t, c.rule, from, to); !slices.EqualFunc(got, oracle, time.Time.Equal) {
					t.Fatalf("disagrees with the day-by-day reading:\ngot  %v\nwant %v", format(got, loc), format(oracle, loc))
				}
			}
			for i, x := range got {
				if x.Location().String() != DefaultZone {
					t.Fatalf("occurrence %d in %s, want the rule's zone", i, x.Location())
				}
			}
		})
	}
}

// Quiet hours suppress occurrences; they are not moved. The caller reports
// each suppressed one as skipped.
func TestQuietHoursSuppressAYear(t *testing.T) {
	loc := zone(t, DefaultZone)
	quiet := []Quiet{{From: "22:00", To: "06:30"}}
	if err := ValidateQuiet(quiet); err != nil {
		t.Fatal(err)
	}
	from, to := sh(t, "2027-12-31 23:59:59"), sh(t, "2028-12-31 23:59:59")
	for _, c := range []struct {
		at                []string
		played, suppressd int
	}{
		{[]string{"23:00"}, 0, 366},
		{[]string{"21:59"}, 366, 0},
		{[]string{"06:00", "06:30", "12:00", "22:00", "23:00"}, 2 * 366, 3 * 366},
	} {
		var played, suppressed int
		for _, x := range Between(Rule{At: c.at}, from, to) {
			if InQuiet(quiet, x, loc) {
				suppressed++
			} else {
				played++
			}
		}
		if played != c.played || suppressed != c.suppressd {
			t.Errorf("at %v: %d played, %d suppressed; want %d and %d", c.at, played, suppressed, c.played, c.suppressd)
		}
	}
}

func TestInQuiet(t *testing.T) {
	loc := zone(t, DefaultZone)
	quiet := []Quiet{{From: "22:00", To: "06:30"}, {From: "12:00", To: "13:00:30"}}
	for _, c := range []struct {
		at   string
		want bool
	}{
		{"2028-01-01 21:59:59", false},
		{"2028-01-01 22:00:00", true}, // From is inclusive
		{"2028-01-01 23:59:59", true},
		{"2028-01-02 00:00:00", true},
		{"2028-01-02 06:29:59", true},
		{"2028-01-02 06:30:00", false}, // To is exclusive
		{"2028-01-02 12:00:00", true},
		{"2028-01-02 13:00:29", true},
		{"2028-01-02 13:00:30", false},
	} {
		if got := InQuiet(quiet, sh(t, c.at), loc); got != c.want {
			t.Errorf("%s: quiet %v, want %v", c.at, got, c.want)
		}
	}
	// Read in loc, whatever t's own location: 23:00 in Shanghai is 15:00 UTC.
	if !InQuiet(quiet, time.Date(2028, 1, 1, 15, 0, 0, 0, time.UTC), loc) {
		t.Error("t was not read in loc")
	}
	if InQuiet(quiet, time.Date(2028, 1, 1, 15, 0, 0, 0, time.UTC), nil) {
		t.Error("a nil loc did not read t in its own location")
	}
	// A window that does not parse silences nothing.
	if InQuiet([]Quiet{{From: "xx", To: "06:30"}, {From: "08:00", To: "08:00"}}, sh(t, "2028-01-01 05:00"), loc) {
		t.Error("a bad window matched")
	}
}

func TestValidateQuiet(t *testing.T) {
	err := ValidateQuiet([]Quiet{{From: "22:00", To: "06:30"}, {From: "25:00", To: "6:30"}, {From: "08:00", To: "08:00:00"}})
	if err == nil {
		t.Fatal("bad windows accepted")
	}
	for _, want := range []string{`quiet[1] from "25:00"`, `quiet[1] to "6:30"`, "quiet[2] from 08:00 to 08:00:00: an empty window"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "quiet[0]") {
		t.Errorf("a good window reported:\n%v", err)
	}
}
