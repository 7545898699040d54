package testenv

import (
	"slices"
	"testing"
	"time"
)

func TestWaitForReturnsOnceTheConditionHolds(t *testing.T) {
	rec := newRecorder(t)
	calls := 0
	start := time.Now()
	rec.do(func() {
		WaitFor(rec, 5*time.Second, "the third look", func() bool { calls++; return calls == 3 })
	})
	took := time.Since(start)
	if failures, fatal := rec.reported(); len(failures) > 0 || fatal {
		t.Fatalf("reported %q (fatal %v); want nothing", failures, fatal)
	}
	if calls != 3 {
		t.Errorf("cond called %d times; want 3 (it held on the third)", calls)
	}
	if took < 2*pollEvery {
		t.Errorf("returned after %s; two pauses of %s between three looks take longer", took, pollEvery)
	}
}

func TestWaitForLooksOnceWhenTheConditionAlreadyHolds(t *testing.T) {
	rec := newRecorder(t)
	calls := 0
	rec.do(func() { WaitFor(rec, 5*time.Second, "already so", func() bool { calls++; return true }) })
	if failures, fatal := rec.reported(); len(failures) > 0 || fatal {
		t.Fatalf("reported %q (fatal %v); want nothing", failures, fatal)
	}
	if calls != 1 {
		t.Errorf("cond called %d times; want 1", calls)
	}
}

func TestWaitForFailsAtTheDeadline(t *testing.T) {
	rec := newRecorder(t)
	const within = 100 * time.Millisecond
	calls := 0
	returned := false
	start := time.Now()
	rec.do(func() {
		WaitFor(rec, within, "the bell rings", func() bool { calls++; return false })
		returned = true
	})
	took := time.Since(start)
	failures, fatal := rec.reported()
	if !fatal || returned {
		t.Fatalf("fatal %v, returned %v; want a Fatalf that ends the caller", fatal, returned)
	}
	if want := []string{"not within 100ms: the bell rings"}; !slices.Equal(failures, want) {
		t.Errorf("reported %q; want %q", failures, want)
	}
	if took < within {
		t.Errorf("gave up after %s; want at least %s", took, within)
	}
	// Polled, not spun and not given up early: one look, then one per pause.
	if most := int(within/pollEvery) + 2; calls < 2 || calls > most {
		t.Errorf("cond called %d times in %s; want 2 to %d", calls, within, most)
	}
}
