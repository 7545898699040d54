package schedule

import (
	"errors"
	"fmt"
	"time"
)

// Quiet is a daily window of local wall time, From inclusive to To
// exclusive, "HH:MM" or "HH:MM:SS", in which scheduled broadcasts do not
// play. From after To wraps midnight (22:00 to 06:30). An occurrence in
// quiet hours is suppressed, not moved: the caller reports it as skipped
// with its reason (edge/broadcast records "quiet_hours").
type Quiet struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// InQuiet reports whether the wall time of t in loc falls in any of the
// windows (a nil loc reads t in its own location). Windows ValidateQuiet
// would refuse never match, so a bad window cannot silence a village.
func InQuiet(q []Quiet, t time.Time, loc *time.Location) bool {
	if loc != nil {
		t = t.In(loc)
	}
	h, m, s := t.Clock()
	x := int64(h*3600 + m*60 + s)
	for _, w := range q {
		from, ok1 := parseClock(w.From)
		to, ok2 := parseClock(w.To)
		if !ok1 || !ok2 {
			continue
		}
		if from <= to && x >= from && x < to || from > to && (x >= from || x < to) {
			return true
		}
	}
	return false
}

// ValidateQuiet reports every bad window at once: times that do not parse,
// and From equal to To, which would be an empty window or a whole day of
// silence depending on how one reads it.
func ValidateQuiet(q []Quiet) error {
	var errs []error
	for i, w := range q {
		from, ok1 := parseClock(w.From)
		to, ok2 := parseClock(w.To)
		if !ok1 {
			errs = append(errs, fmt.Errorf("schedule: quiet[%d] from %q: want HH:MM or HH:MM:SS, 00:00 to 23:59:59", i, w.From))
		}
		if !ok2 {
			errs = append(errs, fmt.Errorf("schedule: quiet[%d] to %q: want HH:MM or HH:MM:SS, 00:00 to 23:59:59", i, w.To))
		}
		if ok1 && ok2 && from == to {
			errs = append(errs, fmt.Errorf("schedule: quiet[%d] from %s to %s: an empty window; give different times", i, w.From, w.To))
		}
	}
	return errors.Join(errs...)
}
