package broadcast

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/edge/clock/clocktest"
	"github.com/dalaba/dalaba/edge/store"
	"github.com/dalaba/dalaba/protocol/schedule"
)

var shanghai, _ = time.LoadLocation("Asia/Shanghai")

func local(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, shanghai)
	if err != nil {
		panic(err)
	}
	return t
}

type firing struct {
	mu     sync.Mutex
	fired  map[string][]time.Time
	skips  []Missed
	untrus int
}

func (f *firing) fire(id string) func(context.Context, time.Time) {
	return func(_ context.Context, at time.Time) {
		f.mu.Lock()
		f.fired[id] = append(f.fired[id], at)
		f.mu.Unlock()
	}
}

type schedRig struct {
	s   *Scheduler
	clk *clocktest.Clock
	f   *firing
	st  *store.Store
}

func newSchedRig(t *testing.T, start time.Time, quiet []schedule.Quiet, trusted func(time.Time) bool) *schedRig {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "edge.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &schedRig{clk: clocktest.New(start), f: &firing{fired: map[string][]time.Time{}}, st: st}
	r.s, err = NewScheduler(SchedulerConfig{Quiet: quiet, MaxWait: time.Hour}, SchedulerDeps{
		Clock: r.clk, State: st, Trusted: trusted,
		Untrusted: func(time.Time) { r.f.mu.Lock(); r.f.untrus++; r.f.mu.Unlock() },
		Skipped:   func(s Missed) { r.f.mu.Lock(); r.f.skips = append(r.f.skips, s); r.f.mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *schedRig) run(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { r.s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// idle waits until the scheduler has armed its timer: it is asleep.
func (r *schedRig) idle(t *testing.T) {
	deadline := time.Now().Add(5 * time.Second)
	for r.clk.Timers() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the scheduler never went back to sleep")
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// runUntil steps the fake clock from timer to timer up to end.
func (r *schedRig) runUntil(t *testing.T, end time.Time) {
	for {
		r.idle(t)
		if !r.clk.Now().Before(end) {
			return
		}
		r.clk.AdvanceToNext()
	}
}

// A year of schedules on a fake clock, with quiet hours, month ends, a leap
// day and two clock jumps: exactly the expected playbacks, each once.
func TestAYearOfSchedules(t *testing.T) {
	quiet := []schedule.Quiet{{From: "22:00", To: "06:30"}}
	r := newSchedRig(t, local("2027-12-31 20:00"), quiet, func(time.Time) bool { return true })
	rules := map[string]schedule.Rule{
		"morning":   {At: []string{"07:30"}},
		"workdays":  {At: []string{"08:00"}, Weekdays: []int{1, 2, 3, 4, 5}},
		"monthend":  {At: []string{"19:00"}, MonthDays: []int{-1}},
		"late":      {At: []string{"23:00"}},
		"leap":      {Once: "2028-02-29T12:00:00+08:00"},
		"first7":    {At: []string{"08:00", "18:00"}, MonthDays: []int{1}, Start: "2028-06-01", End: "2028-06-07"},
		"twiceyear": {At: []string{"10:00"}, MonthDays: []int{15}, Count: 2, Start: "2028-01-01"},
	}
	var scheds []Schedule
	for id, rule := range rules {
		scheds = append(scheds, Schedule{ID: id, Rule: rule, Fire: r.f.fire(id)})
	}
	r.s.Set(scheds)
	r.run(t)

	// Run to 2028-03-10 09:00, then the clock jumps back three hours: the
	// 07:30 and 08:00 of that day must not play again.
	r.runUntil(t, local("2028-03-10 09:00"))
	r.clk.Set(local("2028-03-10 06:00"))
	// On 2028-04-05 (a Wednesday) at 07:00 the clock jumps forward to
	// 12:00: 07:30 and 08:00 are late, skipped and recorded.
	r.runUntil(t, local("2028-04-05 07:00"))
	r.clk.Set(local("2028-04-05 12:00"))
	r.runUntil(t, local("2029-01-01 00:00"))

	want := map[string]int{
		"morning":   366 - 1, // all of 2028 but the jumped-over 5 April
		"workdays":  260 - 1, // likewise
		"monthend":  12,      // including 29 February
		"late":      0,       // always in quiet hours
		"leap":      1,
		"first7":    2, // 1 June, 08:00 and 18:00 (only the 1st is in both the range and the days)
		"twiceyear": 2,
	}
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	for id, n := range want {
		got := r.f.fired[id]
		if len(got) != n {
			t.Errorf("%s fired %d times, want %d", id, len(got), n)
		}
		seen := map[time.Time]bool{}
		for _, x := range got {
			if seen[x] {
				t.Errorf("%s fired twice for %s", id, x)
			}
			seen[x] = true
		}
	}
	var quietSkips, lateSkips int
	for _, s := range r.f.skips {
		switch s.Reason {
		case SkipQuiet:
			quietSkips += s.Count
		case SkipLate:
			lateSkips += s.Count
			if !s.At.In(shanghai).Before(local("2028-04-05 12:00")) || s.At.In(shanghai).Before(local("2028-04-05 07:00")) {
				t.Errorf("late skip at %s", s.At)
			}
		}
	}
	if quietSkips != 367 || lateSkips != 2 { // 23:00 on 31 Dec 2027 and every night of 2028
		t.Errorf("skips: %d quiet (want 367), %d late (want 2)", quietSkips, lateSkips)
	}
}

// A box that boots with an implausible clock fires nothing and says so
// once; when the clock is trusted again it carries on.
func TestUntrustedClockHoldsSchedules(t *testing.T) {
	trusted := false
	var mu sync.Mutex
	r := newSchedRig(t, local("1970-01-01 07:00"), nil, func(time.Time) bool { mu.Lock(); defer mu.Unlock(); return trusted })
	r.s.Set([]Schedule{{ID: "m", Rule: schedule.Rule{At: []string{"07:30"}}, Fire: r.f.fire("m")}})
	r.run(t)
	for i := 0; i < 5; i++ {
		r.idle(t)
		r.clk.AdvanceToNext()
	}
	r.idle(t)
	r.f.mu.Lock()
	if len(r.f.fired["m"]) != 0 || r.f.untrus != 1 {
		t.Fatalf("untrusted clock: fired %d, untrusted events %d", len(r.f.fired["m"]), r.f.untrus)
	}
	r.f.mu.Unlock()
	mu.Lock()
	trusted = true
	mu.Unlock()
	r.clk.Set(local("2028-01-01 07:00"))
	r.runUntil(t, local("2028-01-02 08:00"))
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	if len(r.f.fired["m"]) != 2 {
		t.Fatalf("after trust: fired %v", r.f.fired["m"])
	}
}

// A restart does not replay what already played: the state is in bbolt.
func TestRestartDoesNotReplay(t *testing.T) {
	r := newSchedRig(t, local("2028-01-01 07:00"), nil, func(time.Time) bool { return true })
	r.s.Set([]Schedule{{ID: "m", Rule: schedule.Rule{At: []string{"07:30"}}, Fire: r.f.fire("m")}})
	r.run(t)
	r.runUntil(t, local("2028-01-01 07:31"))
	if last, _ := r.st.LastFired("m"); !last.Equal(local("2028-01-01 07:30")) {
		t.Fatalf("last fired %s", last)
	}
	s2, _ := NewScheduler(SchedulerConfig{MaxWait: time.Hour}, SchedulerDeps{Clock: r.clk, State: r.st, Trusted: func(time.Time) bool { return true }})
	fired := 0
	s2.Set([]Schedule{{ID: "m", Rule: schedule.Rule{At: []string{"07:30"}}, Fire: func(context.Context, time.Time) { fired++ }}})
	if _, ok := s2.pass(t.Context(), local("2028-01-01 07:31")); !ok || fired != 0 {
		t.Fatalf("a restarted scheduler replayed %d", fired)
	}
}
