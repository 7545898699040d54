package broker

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ConnectLimit paces box connections: one token bucket for the whole
// broker, taken by each box's CONNECT once its credentials are checked.
// When a whole county's boxes reconnect at once (the broker restarted, a
// regional link came back) the bucket turns the stampede into a queue: a
// CONNECT that finds the bucket empty waits on its own connection for its
// turn, if that comes within MaxWait, and is answered "server busy"
// otherwise, so the box backs off (jittered) and tries again. What
// follows a connect (retained desired state, the box's status, reported
// state and backlog of events) then reaches the service at a rate it can
// store. The service's own client is never paced.
type ConnectLimit struct {
	PerSecond int           `yaml:"per_second"` // tokens added each second
	Burst     int           `yaml:"burst"`      // tokens the bucket holds
	MaxWait   time.Duration `yaml:"max_wait"`   // the longest a CONNECT waits for its turn
}

// DefaultConnectLimit lets 2,000 boxes in within a few seconds and keeps a
// queue of up to MaxWait behind that; MaxWait stays well within the box's
// own connect timeout (10 s), so a waiting box is answered, not timed out.
func DefaultConnectLimit() ConnectLimit {
	return ConnectLimit{PerSecond: 500, Burst: 500, MaxWait: 5 * time.Second}
}

// Validate reports every problem at once.
func (c ConnectLimit) Validate() error {
	var errs []error
	if c.PerSecond < 1 {
		errs = append(errs, fmt.Errorf("per_second %d: at least 1", c.PerSecond))
	}
	if c.Burst < 1 {
		errs = append(errs, fmt.Errorf("burst %d: at least 1", c.Burst))
	}
	if c.MaxWait < 0 || c.MaxWait >= ConnectTimeout {
		errs = append(errs, fmt.Errorf("max_wait %s: 0 to below %s", c.MaxWait, ConnectTimeout))
	}
	return errors.Join(errs...)
}

// gate is the broker's connect bucket. A CONNECT reserves the next token
// at once (the bucket may go into debt up to MaxWait's worth), so waiting
// connections are served in the order they came.
type gate struct {
	maxWait time.Duration

	mu sync.Mutex
	b  bucket

	paced, refused atomic.Uint64
}

func newGate(c ConnectLimit, now time.Time) *gate {
	return &gate{maxWait: c.MaxWait, b: newBucket(c.PerSecond, c.Burst, now)}
}

// take reserves a token and says how long to wait for it; ok false: the
// wait would pass MaxWait, nothing is reserved and the connect is refused.
func (g *gate) take(now time.Time) (wait time.Duration, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.b.refill(now)
	wait = g.b.short(1)
	if wait > g.maxWait {
		g.refused.Add(1)
		return 0, false
	}
	g.b.tokens--
	if wait > 0 {
		g.paced.Add(1)
	}
	return wait, true
}
