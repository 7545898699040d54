package schedule

import (
	"math"
	"math/bits"
	"time"
)

// Next returns the first occurrence of r strictly after after, in r's
// zone, and false when none remains: past End, Count used up, or r
// invalid. Count is counted from Start, so the answer does not depend on
// what was fired before; the cost grows with the months between Start
// and after (a few microseconds a decade), not with the occurrences. Each
// call loads r's zone (about 10µs, see BenchmarkNextDaily).
func Next(r Rule, after time.Time) (time.Time, bool) {
	p, err := r.compile()
	if err != nil {
		return time.Time{}, false
	}
	if p.isOnce {
		if !p.once.After(after) {
			return time.Time{}, false
		}
		return p.once, true
	}
	var next int64
	found := false
	p.walk(after.Unix(), func(u int64) bool {
		next, found = u, true
		return false
	})
	if !found {
		return time.Time{}, false
	}
	return time.Unix(next, 0).In(p.loc), true
}

// Between returns every occurrence of r in (from, to], in increasing
// order, in r's zone; nil for an invalid rule or an empty interval.
func Between(r Rule, from, to time.Time) []time.Time {
	p, err := r.compile()
	if err != nil || !to.After(from) {
		return nil
	}
	if p.isOnce {
		if p.once.After(from) && !p.once.After(to) {
			return []time.Time{p.once}
		}
		return nil
	}
	var out []time.Time
	last := to.Unix() // occurrences are whole seconds: u <= to ⇔ u <= floor(to)
	p.walk(from.Unix(), func(u int64) bool {
		if u > last {
			return false
		}
		out = append(out, time.Unix(u, 0).In(p.loc))
		return true
	})
	return out
}

// cycleMonths is the Gregorian calendar's period: 400 years of 146097
// days, a whole number of weeks. Day filters that match nothing in that
// many consecutive months match nothing ever.
const cycleMonths = 400 * 12

// walk calls yield with each occurrence strictly after after (Unix
// seconds), in increasing order, until yield returns false or none remain.
// Occurrences are whole seconds, so comparing with after's floor is exact.
//
// It steps a month at a time: a month's matching days are one mask
// (month days ∩ weekdays ∩ [start, end]), and a month the zone's offset
// is constant over is counted by popcount without visiting its days. Only
// the days around a zone transition resolve wall times one by one.
func (p *plan) walk(after int64, yield func(u int64) bool) {
	if after >= (p.end+2)*secPerDay {
		return // past End in every zone
	}
	from := p.start
	if p.count == 0 && after > p.start*secPerDay {
		// Without a count nothing before after matters; a day earlier than
		// after's local date, in case a zone transition moves an instant
		// across midnight.
		from = max(from, p.localDay(after)-1)
	}

	last := int64(math.MinInt64) // the last occurrence emitted; output strictly increases
	n := 0                       // occurrences from Start, for Count
	emit := func(u int64) bool {
		if u <= last {
			return true // a skipped wall time folded into one already emitted
		}
		last = u
		n++
		if p.count > 0 && n > p.count {
			return false
		}
		return u <= after || yield(u)
	}

	y, m, _ := time.Unix(from*secPerDay, 0).UTC().Date()
	for idle := 0; idle < cycleMonths; m++ {
		if m > time.December {
			y, m = y+1, time.January
		}
		first := civilDay(y, m, 1)
		if first > p.end {
			return
		}
		days := civilDay(y, m+1, 1) - first
		mask := p.monthMask(days, weekday(first))
		if lo := from - first; lo > 0 {
			mask &^= 1<<(lo+1) - 1 // days of the month before from
		}
		if hi := p.end - first + 1; hi < days {
			mask &= 1<<(hi+1) - 1 // days of the month after end
		}
		if mask == 0 {
			idle++
			continue
		}
		idle = 0

		base := first * secPerDay // the month's first midnight, as if UTC
		if off, ok := p.fixed(base-2*secPerDay, base+(days+2)*secPerDay); ok {
			final := base + int64(bits.Len64(mask)-2)*secPerDay + p.at[len(p.at)-1] - off
			if final <= after {
				// The whole month is behind after: count it, do not visit it.
				k := bits.OnesCount64(mask) * len(p.at)
				if p.count > 0 && n+k >= p.count {
					return
				}
				n, last = n+k, final
				continue
			}
			for rest := mask; rest != 0; rest &= rest - 1 {
				day := base + int64(bits.TrailingZeros64(rest)-1)*secPerDay
				for _, a := range p.at {
					if !emit(day + a - off) {
						return
					}
				}
			}
			continue
		}
		for rest := mask; rest != 0; rest &= rest - 1 {
			day := base + int64(bits.TrailingZeros64(rest)-1)*secPerDay
			off, ok := p.fixed(day-2*secPerDay, day+3*secPerDay)
			for _, a := range p.at {
				u := day + a - off
				if !ok {
					u = p.resolve(day + a)
				}
				if !emit(u) {
					return
				}
			}
		}
	}
}

// monthMask has bit d set for each day d of a month of the given length,
// starting on weekday first, that passes the month-day and weekday filters.
func (p *plan) monthMask(days int64, first time.Weekday) uint64 {
	all := uint64(1)<<(days+1) - 2
	m := all
	if !p.anyDay {
		m = p.dayMask & all
		if p.lastDay {
			m |= 1 << days
		}
	}
	return m & p.weekMask[first]
}

// civilDay counts days from 1970-01-01 to a proleptic Gregorian date;
// time.Date normalises a month of 13 into the next year.
func civilDay(y int, m time.Month, d int) int64 {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / secPerDay // exact: a UTC midnight
}

// weekday of a civil day; 1970-01-01 was a Thursday.
func weekday(day int64) time.Weekday {
	return time.Weekday(((day+4)%7 + 7) % 7)
}
