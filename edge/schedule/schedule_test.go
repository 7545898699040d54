package schedule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var sh, _ = time.LoadLocation("Asia/Shanghai")

func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, sh)
	if err != nil {
		panic(err)
	}
	return t
}

// 2028 is a leap year: a whole year of each rule, counted and spot-checked.
func TestAYearOfRules(t *testing.T) {
	from, to := at("2027-12-31 23:59"), at("2028-12-31 23:59")
	cases := []struct {
		name   string
		rule   Rule
		count  int
		first  string
		last   string
		has    []string
		hasnot []string
	}{
		{"every day 07:30", Rule{At: []string{"07:30"}}, 366, "2028-01-01 07:30", "2028-12-31 07:30", []string{"2028-02-29 07:30"}, nil},
		{"weekdays 08:00", Rule{At: []string{"08:00"}, Weekdays: []int{1, 2, 3, 4, 5}}, 260, "2028-01-03 08:00", "2028-12-29 08:00", []string{"2028-02-29 08:00"}, []string{"2028-01-01 08:00"}},
		{"1st of the month 08:00 and 18:00", Rule{At: []string{"18:00", "08:00"}, MonthDays: []int{1}}, 24, "2028-01-01 08:00", "2028-12-01 18:00", []string{"2028-06-01 18:00"}, nil},
		{"last day of the month", Rule{At: []string{"20:00"}, MonthDays: []int{-1}}, 12, "2028-01-31 20:00", "2028-12-31 20:00", []string{"2028-02-29 20:00", "2028-04-30 20:00"}, []string{"2028-02-28 20:00"}},
		{"the 31st: seven months", Rule{At: []string{"09:00"}, MonthDays: []int{31}}, 7, "2028-01-31 09:00", "2028-12-31 09:00", nil, []string{"2028-04-30 09:00"}},
		{"the 30th: eleven months", Rule{At: []string{"09:00"}, MonthDays: []int{30}}, 11, "2028-01-30 09:00", "2028-12-30 09:00", nil, nil},
		{"the 29th: every month in a leap year", Rule{At: []string{"09:00"}, MonthDays: []int{29}}, 12, "2028-01-29 09:00", "2028-12-29 09:00", []string{"2028-02-29 09:00"}, nil},
		{"7 days from the 1st", Rule{At: []string{"08:00", "18:00"}, Start: "2028-03-01", End: "2028-03-07"}, 14, "2028-03-01 08:00", "2028-03-07 18:00", nil, []string{"2028-03-08 08:00"}},
		{"one-shot", Rule{Once: "2028-05-04T10:00:00+08:00"}, 1, "2028-05-04 10:00", "2028-05-04 10:00", nil, nil},
		{"count 3", Rule{At: []string{"12:00"}, Start: "2028-07-10", Count: 3}, 3, "2028-07-10 12:00", "2028-07-12 12:00", nil, nil},
		{"weekends in a range, seconds", Rule{At: []string{"06:30:15"}, Weekdays: []int{6, 7}, Start: "2028-10-01", End: "2028-10-31"}, 9, "2028-10-01 06:30", "2028-10-29 06:30", nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.rule.Validate(); err != nil {
				t.Fatal(err)
			}
			got := Between(c.rule, from, to)
			if len(got) != c.count {
				t.Fatalf("%d occurrences, want %d", len(got), c.count)
			}
			minute := func(x time.Time) string { return x.In(sh).Format("2006-01-02 15:04") }
			if minute(got[0]) != c.first || minute(got[len(got)-1]) != c.last {
				t.Errorf("first %s last %s, want %s and %s", minute(got[0]), minute(got[len(got)-1]), c.first, c.last)
			}
			set := map[string]bool{}
			for i, x := range got {
				set[minute(x)] = true
				if i > 0 && !x.After(got[i-1]) {
					t.Fatalf("not increasing at %d", i)
				}
			}
			for _, h := range c.has {
				if !set[h] {
					t.Errorf("missing %s", h)
				}
			}
			for _, h := range c.hasnot {
				if set[h] {
					t.Errorf("unexpected %s", h)
				}
			}
		})
	}
}

func TestNextIsStrictlyAfterAndEnds(t *testing.T) {
	r := Rule{At: []string{"08:00"}, Start: "2028-01-01", End: "2028-01-02"}
	n, ok := Next(r, at("2028-01-01 08:00"))
	if !ok || !n.Equal(at("2028-01-02 08:00")) {
		t.Fatalf("next after an occurrence: %s %v", n, ok)
	}
	if _, ok := Next(r, at("2028-01-02 08:00")); ok {
		t.Fatal("an occurrence after the end date")
	}
	if _, ok := Next(Rule{Once: "2028-01-01T08:00:00+08:00"}, at("2028-01-01 08:00")); ok {
		t.Fatal("a one-shot fired again")
	}
	if _, ok := Next(Rule{At: []string{"08:00"}, MonthDays: []int{30}, Weekdays: []int{1}, Start: "2028-02-01", End: "2028-02-29"}, at("2028-01-01 00:00")); ok {
		t.Fatal("February 30th found")
	}
}

func TestDSTGapAndOverlapFireOnce(t *testing.T) {
	ny := Rule{At: []string{"02:30"}, Zone: "America/New_York", Start: "2028-03-11", End: "2028-11-06"}
	got := Between(ny, time.Date(2028, 3, 10, 0, 0, 0, 0, time.UTC), time.Date(2028, 11, 7, 0, 0, 0, 0, time.UTC))
	days := map[string]int{}
	loc, _ := time.LoadLocation("America/New_York")
	for _, x := range got {
		days[x.In(loc).Format("2006-01-02")]++
	}
	for d, n := range days {
		if n != 1 {
			t.Errorf("%s fired %d times", d, n)
		}
	}
	// 2028-03-12 02:30 does not exist in New York; it still fires once.
	if days["2028-03-12"] != 1 || days["2028-11-05"] != 1 {
		t.Errorf("DST days: gap %d, overlap %d", days["2028-03-12"], days["2028-11-05"])
	}
}

func TestQuietHours(t *testing.T) {
	q := []Quiet{{From: "22:00", To: "06:30"}, {From: "12:00", To: "13:00"}}
	for s, want := range map[string]bool{
		"2028-01-01 23:00": true, "2028-01-01 06:29": true, "2028-01-01 06:30": false,
		"2028-01-01 21:59": false, "2028-01-01 12:30": true, "2028-01-01 13:00": false,
	} {
		if got := InQuiet(q, at(s), sh); got != want {
			t.Errorf("%s quiet = %v", s, got)
		}
	}
	if err := ValidateQuiet([]Quiet{{From: "25:00", To: "x"}}); err == nil {
		t.Error("bad quiet hours accepted")
	}
}

var badRules = []struct {
	json string
	want []string
}{
	{`{}`, []string{"at (times of day) or once"}},
	{`{"at":["8:00","24:00","07:60"]}`, []string{`"8:00"`, `"24:00"`, `"07:60"`}},
	{`{"at":["08:00"],"once":"2028-01-01T08:00:00Z"}`, []string{"exclude"}},
	{`{"at":["08:00"],"weekdays":[0,8],"month_days":[32,-2]}`, []string{"weekday 0", "weekday 8", "month day 32", "month day -2"}},
	{`{"at":["08:00"],"start":"2028-02-30","end":"2027-01-01","zone":"Mars/Olympus"}`, []string{"start", "zone"}},
	{`{"at":["08:00"],"count":3}`, []string{"count needs a start"}},
	{`{"once":"tomorrow"}`, []string{"RFC 3339"}},
}

func TestValidateReportsEverything(t *testing.T) {
	for _, c := range badRules {
		var r Rule
		if err := json.Unmarshal([]byte(c.json), &r); err != nil {
			t.Fatal(err)
		}
		err := r.Validate()
		if err == nil {
			t.Errorf("%s accepted", c.json)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q: %v", c.json, w, err)
			}
		}
	}
}

func FuzzRuleJSON(f *testing.F) {
	for _, c := range badRules {
		f.Add([]byte(c.json), int64(0))
	}
	f.Add([]byte(`{"at":["07:30"],"weekdays":[1,3,5],"month_days":[-1,15],"start":"2028-01-01","count":5}`), int64(1830000000))
	f.Fuzz(func(t *testing.T, b []byte, after int64) {
		var r Rule
		if json.Unmarshal(b, &r) != nil || r.Validate() != nil {
			return
		}
		from := time.Unix(after%(1<<35), 0)
		prev := from
		for i := 0; i < 5; i++ {
			n, ok := Next(r, prev)
			if !ok {
				return
			}
			if !n.After(prev) {
				t.Fatalf("Next(%s) = %s, not after", prev, n)
			}
			prev = n
		}
	})
}

func BenchmarkNextDaily(b *testing.B) {
	r := Rule{At: []string{"07:30", "18:00"}}
	t0 := at("2028-01-01 00:00")
	for i := 0; i < b.N; i++ {
		Next(r, t0)
	}
}

func BenchmarkBetweenYear(b *testing.B) {
	r := Rule{At: []string{"07:30"}, Weekdays: []int{1, 2, 3, 4, 5}}
	for i := 0; i < b.N; i++ {
		Between(r, at("2028-01-01 00:00"), at("2028-12-31 23:59"))
	}
}
