package schedule

import (
	"testing"
	"time"
)

// The scheduler asks Next for every schedule on each wake-up; most of the
// cost is loading the zone, which Next does per call to stay pure.
func BenchmarkNextDaily(b *testing.B) {
	r := Rule{At: []string{"07:30", "18:00"}}
	after := sh(b, "2028-06-15 12:00")
	for b.Loop() {
		if _, ok := Next(r, after); !ok {
			b.Fatal("none")
		}
	}
}

// Count is counted from Start on every call: a decade of a daily rule.
func BenchmarkNextCountDecade(b *testing.B) {
	r := Rule{At: []string{"07:30"}, Start: "2028-01-01", Count: 3653}
	after := sh(b, "2037-12-31 00:00")
	for b.Loop() {
		if _, ok := Next(r, after); !ok {
			b.Fatal("none")
		}
	}
}

func BenchmarkBetweenYear(b *testing.B) {
	for _, c := range []struct {
		name string
		rule Rule
	}{
		{"workdays_shanghai", Rule{At: []string{"07:30"}, Weekdays: []int{1, 2, 3, 4, 5}}},
		{"daily_new_york", Rule{At: []string{"02:30"}, Zone: "America/New_York"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			from := time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)
			to := from.AddDate(1, 0, 0)
			for b.Loop() {
				if len(Between(c.rule, from, to)) == 0 {
					b.Fatal("none")
				}
			}
		})
	}
}
