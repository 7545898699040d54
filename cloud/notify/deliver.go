package notify

import (
	"context"
	"time"
)

// Backoff is how Deliver spaces its attempts: Initial before the second,
// doubling to at most Max, for at most Attempts attempts in all.
type Backoff struct {
	Initial  time.Duration
	Max      time.Duration
	Attempts int
}

// DefaultBackoff tries five times over about a quarter of an hour: long
// enough to ride out a platform's rate limit or a short outage of the
// township's own uplink, short enough that an alert still means now.
func DefaultBackoff() Backoff {
	return Backoff{Initial: 30 * time.Second, Max: 8 * time.Minute, Attempts: 5}
}

// Sleeper waits d or until ctx ends (false); the clock tests step.
type Sleeper func(ctx context.Context, d time.Duration) bool

// RealSleep waits on the wall clock.
func RealSleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Outcome is what Deliver did.
type Outcome struct {
	Attempts int
	Err      error // the last attempt's; nil when delivered
}

// Deliver sends m on c until it is delivered, the failure is not
// retryable, the attempts are used up or ctx ends. attempt, when not nil,
// is told each attempt's error (nil for the one that delivered), so the
// caller can record every try as it happens.
func Deliver(ctx context.Context, s *Sender, c Channel, m Message, b Backoff, sleep Sleeper, attempt func(n int, err error)) Outcome {
	if b.Attempts < 1 {
		b.Attempts = 1
	}
	if sleep == nil {
		sleep = RealSleep
	}
	wait := b.Initial
	var out Outcome
	for out.Attempts < b.Attempts {
		out.Attempts++
		out.Err = s.Send(ctx, c, m)
		if attempt != nil {
			attempt(out.Attempts, out.Err)
		}
		if out.Err == nil || !Retryable(out.Err) || out.Attempts == b.Attempts {
			return out
		}
		if !sleep(ctx, wait) {
			return out
		}
		wait = min(wait*2, b.Max)
	}
	return out
}
