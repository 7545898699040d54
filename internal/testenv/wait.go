package testenv

import (
	"testing"
	"time"
)

// pollEvery is how often WaitFor tries its condition: short beside any
// bound a test gives, long enough that polling costs nothing under -race.
const pollEvery = 10 * time.Millisecond

// WaitFor calls cond every 10 ms until it returns true, and fails the test
// with t.Fatalf, naming what, if it has not within that long. It is how a
// test waits for something it has no signal for, instead of sleeping.
// cond runs on the caller's goroutine, so it may itself call t.Fatal.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(pollEvery)
	}
}
