package schedule

import (
	"math"
	"time"
)

// A period is a stretch of time over which a zone's UTC offset does not
// change: [start, end) in Unix seconds, open ends as MinInt64 and MaxInt64.
// Wall times are handled as "civil seconds", the Unix time the wall clock
// would show if it were UTC, so an instant is a wall time minus the offset.
type period struct {
	start, end int64
	off        int64 // seconds east of UTC
	known      bool
}

// periodAt returns the period containing instant u. The last answer is
// kept on the plan because walks ask about neighbouring instants; a plan
// lives for one Next or Between call, so nothing is shared.
func (p *plan) periodAt(u int64) period {
	if z := p.zone; z.known && u >= z.start && u < z.end {
		return z
	}
	t := time.Unix(u, 0).In(p.loc)
	_, off := t.Zone()
	start, end := t.ZoneBounds()
	z := period{start: math.MinInt64, end: math.MaxInt64, off: int64(off), known: true}
	if !start.IsZero() {
		z.start = start.Unix()
	}
	if !end.IsZero() {
		z.end = end.Unix()
	}
	p.zone = z
	return z
}

// fixed reports the offset when it is the same over every instant in
// [lo, hi). Callers pad the wall times they convert by two days on each
// side: offsets stay within a day of UTC, so every candidate instant then
// falls inside, and wall time minus that offset is the only reading.
func (p *plan) fixed(lo, hi int64) (int64, bool) {
	z := p.periodAt(lo)
	return z.off, z.end >= hi
}

// localDay is the local date of instant u, in days since 1970-01-01.
func (p *plan) localDay(u int64) int64 {
	w := u + p.periodAt(u).off
	d := w / secPerDay
	if w%secPerDay < 0 {
		d-- // floor, for instants before 1970
	}
	return d
}

// resolve turns wall time w (civil seconds) into one instant near a zone
// transition, as doc.go promises: the earliest instant the wall clock
// shows w, or, when the clock skips w, the instant it jumps over it.
func (p *plan) resolve(w int64) int64 {
	// The periods covering w ± 2 days: every instant the clock could show w.
	var ps [8]period
	k := 0
	for u := w - 2*secPerDay; k < len(ps); {
		z := p.periodAt(u)
		ps[k] = z
		k++
		if z.end > w+2*secPerDay {
			break
		}
		u = z.end
	}
	for _, z := range ps[:k] { // in time order, so the first fit is the earliest
		if u := w - z.off; u >= z.start && u < z.end {
			return u
		}
	}
	for i := 1; i < k; i++ {
		b := ps[i].start // just before b the clock read below b+previous offset; at b it reads b+this one
		if b+ps[i-1].off <= w && w < b+ps[i].off {
			return b
		}
	}
	return w - ps[0].off // not reached: a wall time is either shown or jumped over
}
