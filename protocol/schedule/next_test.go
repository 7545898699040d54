package schedule

import (
	"slices"
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	daily := Rule{At: []string{"08:00"}, Start: "2028-01-01", End: "2028-01-03"}
	hundred := Rule{At: []string{"08:00"}, Start: "2028-01-01", Count: 100}
	// 3653 days from 2028 to 2037 (three leap years): the count ends on the last.
	decade := Rule{At: []string{"08:00"}, Start: "2028-01-01", Count: 3653}
	once := Rule{Once: "2028-01-01T08:00:00+08:00"}
	for _, c := range []struct {
		name  string
		rule  Rule
		after string // Asia/Shanghai
		want  string // "" for none
	}{
		{"strictly after: an occurrence is not its own next", daily, "2028-01-01 08:00", "2028-01-02 08:00"},
		{"a second before", daily, "2028-01-01 07:59:59", "2028-01-01 08:00"},
		{"long before start", daily, "2020-06-01 00:00", "2028-01-01 08:00"},
		{"the last occurrence has no next", daily, "2028-01-03 08:00", ""},
		{"past the end", daily, "2030-01-01 00:00", ""},
		{"count counts from start, not from after", hundred, "2028-04-08 12:00", "2028-04-09 08:00"},
		{"after the 100th", hundred, "2028-04-09 08:00", ""},
		{"a decade counted", decade, "2037-12-31 07:59:59", "2037-12-31 08:00"},
		{"a decade used up", decade, "2037-12-31 08:00", ""},
		{"one-shot ahead", once, "2027-12-31 00:00", "2028-01-01 08:00"},
		{"one-shot is not after itself", once, "2028-01-01 08:00", ""},
		{"invalid rules never fire", Rule{At: []string{"25:00"}}, "2028-01-01 00:00", ""},
		{"the year 9999 ends occurrences", Rule{At: []string{"08:00"}}, "9999-12-31 08:00", ""},
		{"the last day of 9999", Rule{At: []string{"08:00"}}, "9999-12-30 23:00", "9999-12-31 08:00"},
		{"year 1", Rule{At: []string{"08:00"}}, "0001-01-01 00:00", "0001-01-01 08:00"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := Next(c.rule, sh(t, c.after))
			switch {
			case c.want == "" && ok:
				t.Fatalf("Next = %s, want none", got)
			case c.want == "":
			case !ok:
				t.Fatalf("none, want %s", c.want)
			case !got.Equal(sh(t, c.want)):
				t.Fatalf("Next = %s, want %s", got.In(zone(t, DefaultZone)), c.want)
			}
		})
	}
}

func TestNextSubSecond(t *testing.T) {
	r := Rule{At: []string{"08:00"}}
	x := sh(t, "2028-01-01 08:00")
	if got, _ := Next(r, x.Add(-time.Nanosecond)); !got.Equal(x) {
		t.Errorf("a nanosecond before: %s", got)
	}
	if got, _ := Next(r, x.Add(time.Nanosecond)); !got.Equal(x.AddDate(0, 0, 1)) {
		t.Errorf("a nanosecond after: %s", got)
	}
	if got := Between(r, x.Add(-time.Nanosecond), x); len(got) != 1 {
		t.Errorf("(x-1ns, x] holds %d", len(got))
	}
	if got := Between(r, x, x.Add(time.Hour)); len(got) != 0 {
		t.Errorf("(x, x+1h] holds %d", len(got))
	}
	if got := Between(r, x, x.AddDate(0, 0, -10)); got != nil {
		t.Errorf("a reversed interval holds %d", len(got))
	}
}

// New York, 2028: clocks spring forward at 02:00 on 12 March (to 03:00 EDT)
// and fall back at 02:00 on 5 November (to 01:00 EST).
func TestDaylightSaving(t *testing.T) {
	const ny = "America/New_York"
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		name string
		rule Rule
		want []string // UTC
	}{
		{"a skipped time fires once, as the clock jumps", Rule{At: []string{"02:30"}, Start: "2028-03-11", End: "2028-03-13"}, []string{
			"2028-03-11T07:30:00Z", // 02:30 EST
			"2028-03-12T07:00:00Z", // 03:00 EDT: 02:30 never shows
			"2028-03-13T06:30:00Z", // 02:30 EDT
		}},
		{"skipped times fold into the jump", Rule{At: []string{"01:59", "02:00", "02:30", "03:00", "03:01"}, Start: "2028-03-12", End: "2028-03-12"}, []string{
			"2028-03-12T06:59:00Z", "2028-03-12T07:00:00Z", "2028-03-12T07:01:00Z",
		}},
		{"a repeated time fires at its first showing", Rule{At: []string{"01:30"}, Start: "2028-11-04", End: "2028-11-06"}, []string{
			"2028-11-04T05:30:00Z", // 01:30 EDT
			"2028-11-05T05:30:00Z", // 01:30 EDT, not 01:30 EST an hour later
			"2028-11-06T06:30:00Z", // 01:30 EST
		}},
		{"the repeated hour keeps its order", Rule{At: []string{"00:59", "01:00", "01:59:59", "02:00"}, Start: "2028-11-05", End: "2028-11-05"}, []string{
			"2028-11-05T04:59:00Z", "2028-11-05T05:00:00Z", "2028-11-05T05:59:59Z", "2028-11-05T07:00:00Z",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.rule.Zone = ny
			got := Between(c.rule, utc("2028-01-01T00:00:00Z"), utc("2029-01-01T00:00:00Z"))
			want := make([]time.Time, len(c.want))
			for i, s := range c.want {
				want[i] = utc(s)
			}
			if !slices.EqualFunc(got, want, time.Time.Equal) {
				t.Fatalf("got  %v\nwant %v", format(got, time.UTC), format(want, time.UTC))
			}
		})
	}

	// Next does not offer the repeated 01:30 EST after the EDT one.
	r := Rule{At: []string{"01:30"}, Zone: ny}
	if got, _ := Next(r, utc("2028-11-05T05:30:00Z")); !got.Equal(utc("2028-11-06T06:30:00Z")) {
		t.Errorf("after the first 01:30 of 5 November: %s", got.UTC())
	}
	// Nor the skipped 02:30 twice, from anywhere in between.
	r = Rule{At: []string{"02:30"}, Zone: ny}
	if got, _ := Next(r, utc("2028-03-12T07:00:00Z")); !got.Equal(utc("2028-03-13T06:30:00Z")) {
		t.Errorf("after the jump: %s", got.UTC())
	}

	// A year of a nightly 02:30: once per local date, 366 of them.
	got := Between(r, at(t, ny, "2027-12-31 23:59"), at(t, ny, "2028-12-31 23:59"))
	dates := map[string]int{}
	for _, x := range got {
		dates[x.Format(time.DateOnly)]++
	}
	if len(got) != 366 || len(dates) != 366 {
		t.Errorf("%d occurrences on %d dates, want 366 on 366", len(got), len(dates))
	}
}

// Samoa skipped 30 December 2011 entirely, jumping from UTC-10 to UTC+14.
// Its noon fires as the clock jumps over the day, once, in order.
func TestASkippedDay(t *testing.T) {
	r := Rule{At: []string{"12:00"}, Zone: "Pacific/Apia", Start: "2011-12-28", End: "2012-01-01"}
	got := Between(r, time.Date(2011, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2012, 2, 1, 0, 0, 0, 0, time.UTC))
	want := []time.Time{
		time.Date(2011, 12, 28, 22, 0, 0, 0, time.UTC), // 12:00 UTC-10
		time.Date(2011, 12, 29, 22, 0, 0, 0, time.UTC),
		time.Date(2011, 12, 30, 10, 0, 0, 0, time.UTC), // the jump: 29th 24:00 becomes 31st 00:00
		time.Date(2011, 12, 30, 22, 0, 0, 0, time.UTC), // 12:00 UTC+14
		time.Date(2011, 12, 31, 22, 0, 0, 0, time.UTC),
	}
	if !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Fatalf("got  %v\nwant %v", format(got, time.UTC), format(want, time.UTC))
	}
}

// Walking with Next from occurrence to occurrence finds exactly what
// Between lists, in every zone and with counts.
func TestNextWalksBetween(t *testing.T) {
	rules := []Rule{
		{At: []string{"02:30", "01:30", "23:59:59"}, Zone: "America/New_York"},
		{At: []string{"02:15"}, Zone: "Australia/Lord_Howe", Weekdays: []int{7}}, // half-hour DST
		{At: []string{"00:00", "00:30"}, Zone: "America/Havana"},                 // transitions at midnight
		{At: []string{"12:00"}, Zone: "Pacific/Apia", Start: "2011-01-01", Count: 400},
		{At: []string{"07:30"}, MonthDays: []int{-1, 15}, Start: "2027-11-20", Count: 17},
		{At: []string{"04:00"}, Zone: "Europe/London", MonthDays: []int{29, 30, 31}},
	}
	from := time.Date(2011, 6, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2013, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, r := range rules {
		from, to := from, to
		if r.Zone == "" {
			from, to = from.AddDate(16, 0, 0), to.AddDate(16, 0, 0)
		}
		want := Between(r, from, to)
		var got []time.Time
		for x := from; ; {
			n, ok := Next(r, x)
			if !ok || n.After(to) {
				break
			}
			got = append(got, n)
			x = n
		}
		if len(want) == 0 || !slices.EqualFunc(got, want, time.Time.Equal) {
			t.Errorf("%+v: Next walked %d, Between listed %d", r, len(got), len(want))
		}
		for i := 1; i < len(want); i++ {
			if !want[i].After(want[i-1]) {
				t.Errorf("%+v: %s then %s", r, want[i-1], want[i])
			}
		}
	}
}
