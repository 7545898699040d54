package health

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/edge/clock/clocktest"
	"github.com/dalaba/dalaba/protocol"
)

type memFloor struct {
	mu sync.Mutex
	t  time.Time
}

func (f *memFloor) TimeFloor() (time.Time, error) { f.mu.Lock(); defer f.mu.Unlock(); return f.t, nil }
func (f *memFloor) RaiseTimeFloor(t time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.After(f.t) {
		f.t = t
	}
	return nil
}

type fixedOutbox struct{}

func (fixedOutbox) Backlog() (uint64, uint64) { return 12, 3400 }

var build = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func TestHealthEveryIntervalAndClockTrust(t *testing.T) {
	start := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	clk := clocktest.New(start)
	floor := &memFloor{}
	var mu sync.Mutex
	var got []protocol.Health
	reports := 0
	m, err := New(time.Minute, Deps{
		Clock: clk, Floor: floor, Outbox: fixedOutbox{}, DataDir: t.TempDir(), BuildDate: build, Started: start,
		Record: func(_ context.Context, typ string, prio protocol.Priority, data any) error {
			if typ != protocol.EventHealth || prio != protocol.PriorityInfo {
				t.Errorf("recorded %s prio %d", typ, prio)
			}
			mu.Lock()
			got = append(got, data.(protocol.Health))
			mu.Unlock()
			return nil
		},
		Report: func() { mu.Lock(); reports++; mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	wait := func(n int) {
		deadline := time.Now().Add(5 * time.Second)
		for count() < n || clk.Timers() == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for health event %d", n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	wait(1)
	clk.Advance(time.Minute)
	wait(2)
	clk.Advance(59 * time.Second)
	if count() != 2 {
		t.Fatal("a health event before the interval passed")
	}
	clk.Advance(time.Second)
	wait(3)
	cancel()
	<-done

	mu.Lock()
	defer mu.Unlock()
	h := got[2]
	if !h.ClockTrusted || h.UptimeSeconds != 120 || h.OutboxBacklog != 12 || h.OutboxBytes != 3400 || h.DiskTotalBytes == 0 || h.DiskFreeBytes == 0 {
		t.Errorf("health %+v", h)
	}
	if reports != 3 {
		t.Errorf("%d reports, want 3", reports)
	}
	if f, _ := floor.TimeFloor(); !f.Equal(start.Add(2 * time.Minute)) {
		t.Errorf("floor %s, want raised to the last trusted reading", f)
	}
}

func TestClockNotTrusted(t *testing.T) {
	cases := []struct {
		name  string
		now   time.Time
		floor time.Time
	}{
		{"before the build", time.Date(1970, 1, 1, 0, 0, 10, 0, time.UTC), time.Time{}},
		{"before the floor", time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			floor := &memFloor{t: c.floor}
			m, err := New(time.Minute, Deps{Clock: clocktest.New(c.now), Floor: floor, Outbox: fixedOutbox{}, DataDir: t.TempDir(),
				BuildDate: build, Started: c.now, Record: func(context.Context, string, protocol.Priority, any) error { return nil }})
			if err != nil {
				t.Fatal(err)
			}
			if m.Check().ClockTrusted {
				t.Error("trusted")
			}
			if f, _ := floor.TimeFloor(); !f.Equal(c.floor) {
				t.Errorf("floor moved to %s on an untrusted clock", f)
			}
		})
	}
}
