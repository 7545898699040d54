// Package clocktest is a steppable clock.Clock for tests that run beside real
// components (a broker on loopback) where testing/synctest's bubble cannot
// reach.
package clocktest

import (
	"sync"
	"time"

	"github.com/dalaba/dalaba/edge/clock"
)

// Clock is a fake clock. Timers fire, in deadline order, when Set or Advance
// moves the time to or past their deadline. The zero value is not usable;
// call New.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
}

// New returns a fake clock reading start.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the time forward by d and fires what falls due.
func (c *Clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Set moves the time to t, forward or back (a clock jump), and fires the
// timers whose deadline is at or before t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	var due []*timer
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if !tm.deadline.After(t) {
			due = append(due, tm)
		} else {
			kept = append(kept, tm)
		}
	}
	c.timers = kept
	c.mu.Unlock()
	for _, tm := range due {
		select {
		case tm.ch <- t:
		default: // like time.Timer: a value already waiting is not doubled
		}
	}
}

// Timers returns how many timers are armed: tests wait for a component to
// arm its timer before they advance the clock.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// NewTimer arms a timer d from now.
func (c *Clock) NewTimer(d time.Duration) clock.Timer {
	t := &timer{c: c, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

type timer struct {
	c        *Clock
	ch       chan time.Time
	deadline time.Time
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			return true
		}
	}
	return false
}

func (t *timer) Reset(d time.Duration) bool {
	active := t.Stop()
	t.c.mu.Lock()
	t.deadline = t.c.now.Add(d)
	fire := d <= 0
	if !fire {
		t.c.timers = append(t.c.timers, t)
	}
	now := t.c.now
	t.c.mu.Unlock()
	if fire {
		select {
		case t.ch <- now:
		default:
		}
	}
	return active
}

// AdvanceToNext moves the time to the earliest armed timer's deadline and
// fires it; false when no timer is armed.
func (c *Clock) AdvanceToNext() bool {
	c.mu.Lock()
	if len(c.timers) == 0 {
		c.mu.Unlock()
		return false
	}
	next := c.timers[0].deadline
	for _, t := range c.timers[1:] {
		if t.deadline.Before(next) {
			next = t.deadline
		}
	}
	c.mu.Unlock()
	c.Set(next)
	return true
}
