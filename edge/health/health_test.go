package health

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/edge/clock/clocktest"
	"github.com/dalaba/dalaba/edge/store"
	"github.com/dalaba/dalaba/protocol"
)

type fixedOutbox struct{}

func (fixedOutbox) Backlog() (uint64, uint64) { return 12, 3400 }

var (
	build = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	start = time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "edge.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

type reading struct {
	recorded protocol.Health
	reported protocol.Health
}

// running starts a monitor whose every reading arrives on the returned
// channel, recorded and reported.
func running(t *testing.T, clk *clocktest.Clock, st *store.Store, record func() error) <-chan reading {
	t.Helper()
	recorded := make(chan protocol.Health, 1)
	out := make(chan reading, 16)
	m, err := New(Config{Interval: time.Minute}, Deps{
		Clock: clk, Floor: st, Outbox: fixedOutbox{}, DataDir: t.TempDir(), BuildDate: build, Started: start,
		Record: func(_ context.Context, typ string, prio protocol.Priority, data any) error {
			if typ != protocol.EventHealth || prio != protocol.PriorityInfo {
				t.Errorf("recorded %s prio %d, want %s info", typ, prio, protocol.EventHealth)
			}
			recorded <- data.(protocol.Health)
			return record()
		},
		Report: func(h protocol.Health) { out <- reading{<-recorded, h} },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return out
}

// next waits for the monitor's next reading and for its timer to be armed
// again, so that the test may advance the clock.
func next(t *testing.T, clk *clocktest.Clock, out <-chan reading) protocol.Health {
	t.Helper()
	var r reading
	select {
	case r = <-out:
	case <-time.After(5 * time.Second):
		t.Fatal("no health reading")
	}
	if r.recorded != r.reported {
		t.Errorf("reported %+v, recorded %+v", r.reported, r.recorded)
	}
	for deadline := time.Now().Add(5 * time.Second); clk.Timers() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the monitor did not arm its timer")
		}
	}
	return r.recorded
}

func noReading(t *testing.T, out <-chan reading) {
	t.Helper()
	select {
	case r := <-out:
		t.Fatalf("a reading before the interval passed: %+v", r.recorded)
	default:
	}
}

func TestAReadingAtStartThenEveryInterval(t *testing.T) {
	clk := clocktest.New(start)
	st := openStore(t)
	out := running(t, clk, st, func() error { return nil })

	first := next(t, clk, out)
	if first.UptimeSeconds != 0 || !first.Clock.Equal(start) {
		t.Errorf("first reading %+v", first)
	}
	clk.Advance(59 * time.Second)
	noReading(t, out)
	clk.Advance(time.Second)
	next(t, clk, out)
	clk.Advance(time.Minute)
	h := next(t, clk, out)

	if !h.ClockTrusted || h.UptimeSeconds != 120 || !h.Clock.Equal(start.Add(2*time.Minute)) {
		t.Errorf("clock and uptime: %+v", h)
	}
	if h.OutboxBacklog != 12 || h.OutboxBytes != 3400 {
		t.Errorf("outbox: %+v", h)
	}
	if h.DiskTotalBytes == 0 || h.DiskFreeBytes == 0 || h.DiskFreeBytes > h.DiskTotalBytes {
		t.Errorf("disk: free %d of %d", h.DiskFreeBytes, h.DiskTotalBytes)
	}
	if f, _ := st.TimeFloor(); !f.Equal(start.Add(2 * time.Minute)) {
		t.Errorf("floor %s, want raised to the last trusted reading", f)
	}
}

func TestAFailedRecordDoesNotStopTheMonitor(t *testing.T) {
	clk := clocktest.New(start)
	out := running(t, clk, openStore(t), func() error { return errors.New("disk full") })
	next(t, clk, out)
	clk.Advance(time.Minute)
	next(t, clk, out) // still ticking, and still reporting
}

func TestTrustReturnsWhenTheClockIsSet(t *testing.T) {
	// The box ran with a good clock until yesterday, then booted with no
	// network and a clock a day behind.
	clk := clocktest.New(start)
	st := openStore(t)
	floor := start.Add(24 * time.Hour)
	if err := st.RaiseTimeFloor(floor); err != nil {
		t.Fatal(err)
	}
	out := running(t, clk, st, func() error { return nil })
	if h := next(t, clk, out); h.ClockTrusted {
		t.Fatalf("trusted a clock a day behind the floor: %+v", h)
	}
	if f, _ := st.TimeFloor(); !f.Equal(floor) {
		t.Fatalf("an untrusted reading moved the floor to %s", f)
	}
	// NTP answers: the clock jumps forward past the floor.
	clk.Set(floor.Add(time.Hour))
	if h := next(t, clk, out); !h.ClockTrusted {
		t.Errorf("not trusted after the clock was set: %+v", h)
	}
	if f, _ := st.TimeFloor(); !f.Equal(floor.Add(time.Hour)) {
		t.Errorf("floor %s, want raised to %s", f, floor.Add(time.Hour))
	}
}

func TestClockTrust(t *testing.T) {
	cases := []struct {
		name    string
		now     time.Time
		floor   time.Time // zero: none stored
		trusted bool
	}{
		{"no floor yet, after the build", start, time.Time{}, true},
		{"after the floor", start, start.Add(-time.Hour), true},
		{"at the floor", start, start, true},
		{"booted in 1970", time.Date(1970, 1, 1, 0, 0, 10, 0, time.UTC), time.Time{}, false},
		{"before the build", build.Add(-time.Second), time.Time{}, false},
		{"before the floor", start, start.Add(time.Hour), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := openStore(t)
			if !c.floor.IsZero() {
				if err := st.RaiseTimeFloor(c.floor); err != nil {
					t.Fatal(err)
				}
			}
			m, err := New(Config{Interval: time.Minute}, Deps{Clock: clocktest.New(c.now), Floor: st, Outbox: fixedOutbox{},
				DataDir: t.TempDir(), BuildDate: build, Record: func(context.Context, string, protocol.Priority, any) error { return nil }})
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Check().ClockTrusted; got != c.trusted {
				t.Errorf("trusted = %v, want %v", got, c.trusted)
			}
			want := c.floor
			if c.trusted {
				want = c.now
			}
			if f, _ := st.TimeFloor(); !f.Equal(want) {
				t.Errorf("floor %s, want %s", f, want)
			}
		})
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := New(Config{}, Deps{})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"interval", "no clock", "no time floor", "no outbox", "no event recorder", "no data dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
}
