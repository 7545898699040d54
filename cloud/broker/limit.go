package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Limit is the publish allowance of each box: two token buckets, one of
// messages and one of bytes (payload and topic), each refilled at its rate
// up to its burst. A publish takes one message and its size in bytes.
//
// Over the allowance, a QoS 1 publish waits on its own connection until
// the buckets can pay for it, if that takes at most MaxPace: the box is
// slowed, nothing is lost, and since only the box's own connection waits,
// no other box notices. A publish that would wait longer, and any QoS 0
// publish (boxes never send QoS 0), is dropped without an acknowledgement
// and counted, and the connection is not read again until the buckets
// could pay (at most MaxPace): a flood then backs up in the flooder's own
// TCP connection instead of costing the broker a parse per message. A box
// whose publishes keep being dropped for AbuseAfter is disconnected.
//
// The allowance belongs to the box, not the connection: reconnecting does
// not refill it.
type Limit struct {
	MessagesPerSecond int `yaml:"messages_per_second"`
	MessageBurst      int `yaml:"message_burst"`
	BytesPerSecond    int `yaml:"bytes_per_second"`
	ByteBurst         int `yaml:"byte_burst"`
}

// DefaultLimit is sized from what a healthy box publishes: its status and
// reported state on connect and once a health interval (a minute), event
// batches of up to a megabyte with at most a window of them (4 by default)
// before the township's ack, and command results. The bursts let a
// reconnecting box send its whole window at once; the rates let a box that
// was offline for days drain a full outbox (64 MiB) in under a minute,
// while one flooding box can put no more than 20 messages a second before
// the township.
func DefaultLimit() Limit {
	return Limit{MessagesPerSecond: 20, MessageBurst: 200, BytesPerSecond: 2 << 20, ByteBurst: 8 << 20}
}

// Pacing and abuse.
const (
	// MaxPace is the longest a publish waits for its box's allowance. It is
	// below takeoverWait, so a box reconnecting never waits on its old
	// connection's pacing.
	MaxPace = time.Second
	// AbuseAfter is how long a box's publishes may keep being dropped
	// before the box is disconnected.
	AbuseAfter = 10 * time.Second
	// dropGap ends a run of drops: a box with none for this long starts
	// afresh.
	dropGap = time.Second
	// limitReportEvery is how often drops are handed to Sessions and the
	// limits of quiet boxes forgotten.
	limitReportEvery = time.Second
	// limitLogEvery folds a box's drops into one Warn line per interval.
	limitLogEvery = time.Minute
)

// Validate reports every problem at once. A box's largest publish must fit
// in the byte burst and be paid for within MaxPace.
func (l Limit) Validate() error {
	var errs []error
	for _, v := range []struct {
		name string
		n    int
	}{{"messages_per_second", l.MessagesPerSecond}, {"message_burst", l.MessageBurst}} {
		if v.n < 1 {
			errs = append(errs, fmt.Errorf("%s %d: at least 1", v.name, v.n))
		}
	}
	largest := MaxPacketSize()
	perPace := int(float64(largest) / MaxPace.Seconds())
	if l.BytesPerSecond < perPace {
		errs = append(errs, fmt.Errorf("bytes_per_second %d: at least %d, so the largest packet passes within %s", l.BytesPerSecond, perPace, MaxPace))
	}
	if l.ByteBurst < largest {
		errs = append(errs, fmt.Errorf("byte_burst %d: at least %d, the largest packet", l.ByteBurst, largest))
	}
	return errors.Join(errs...)
}

// bucket is a token bucket that a paced publish may overdraw; the debt is
// what the next publish waits for.
type bucket struct {
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	at     time.Time // of the last refill
}

func newBucket(rate, burst int, now time.Time) bucket {
	return bucket{rate: float64(rate), burst: float64(burst), tokens: float64(burst), at: now}
}

func (b *bucket) refill(now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.at = now
	}
}

// short is how long until the bucket holds n tokens.
func (b *bucket) short(n float64) time.Duration {
	if b.tokens >= n {
		return 0
	}
	return time.Duration((n - b.tokens) / b.rate * float64(time.Second))
}

func (b *bucket) full() bool { return b.tokens >= b.burst }

// verdict is what becomes of one publish.
type verdict struct {
	wait    time.Duration // hold the connection this long first
	drop    bool          // then drop it, or else take it
	abusive bool          // dropped, and the box has kept being dropped for AbuseAfter
}

// allowance is one box's buckets and counters.
type allowance struct {
	mu       sync.Mutex
	msgs     bucket
	bytes    bucket
	dropped  uint64    // not yet reported to Sessions
	unlogged uint64    // dropped since the last log line
	paced    uint64    // paced since the last log line
	loggedAt time.Time // of the last log line; zero: none yet
	runStart time.Time // of the current run of drops
	lastDrop time.Time
}

func (a *allowance) judge(size int, qos byte, now time.Time) verdict {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.msgs.refill(now)
	a.bytes.refill(now)
	wait := max(a.msgs.short(1), a.bytes.short(float64(size)))
	if wait == 0 || qos > 0 && wait <= MaxPace {
		a.msgs.tokens--
		a.bytes.tokens -= float64(size)
		if wait > 0 {
			a.paced++
		}
		return verdict{wait: wait}
	}
	a.dropped++
	a.unlogged++
	if a.lastDrop.IsZero() || now.Sub(a.lastDrop) > dropGap {
		a.runStart = now
	}
	a.lastDrop = now
	v := verdict{drop: true, wait: min(wait, MaxPace)}
	if now.Sub(a.runStart) >= AbuseAfter {
		v.abusive = true
		a.runStart, a.lastDrop = time.Time{}, time.Time{}
	}
	return v
}

// limits holds every box's allowance, made at its first publish and
// forgotten once its buckets are full again, nothing is left to report and
// no run of drops is going on, when a fresh one would be the same.
type limits struct {
	cfg Limit
	log *slog.Logger

	mu    sync.Mutex
	boxes map[string]*allowance
}

func newLimits(cfg Limit, log *slog.Logger) *limits {
	return &limits{cfg: cfg, log: log, boxes: map[string]*allowance{}}
}

func (l *limits) of(box string, now time.Time) *allowance {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.boxes[box]
	if a == nil {
		a = &allowance{
			msgs:  newBucket(l.cfg.MessagesPerSecond, l.cfg.MessageBurst, now),
			bytes: newBucket(l.cfg.BytesPerSecond, l.cfg.ByteBurst, now),
		}
		l.boxes[box] = a
	}
	return a
}

// sweep hands new drops to report, logs each box's drops at most once per
// limitLogEvery (all that are left when final), and forgets the
// allowances of quiet boxes.
func (l *limits) sweep(now time.Time, report func(box string, n uint64), final bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for box, a := range l.boxes {
		a.mu.Lock()
		n := a.dropped
		a.dropped = 0
		var dropped, paced uint64
		if (a.unlogged > 0 || a.paced > 0) && (final || a.loggedAt.IsZero() || now.Sub(a.loggedAt) >= limitLogEvery) {
			dropped, paced = a.unlogged, a.paced
			a.unlogged, a.paced, a.loggedAt = 0, 0, now
		}
		a.msgs.refill(now)
		a.bytes.refill(now)
		running := !a.lastDrop.IsZero() && now.Sub(a.lastDrop) <= dropGap // a run of drops towards AbuseAfter
		forget := a.msgs.full() && a.bytes.full() && a.unlogged == 0 && a.paced == 0 && !running
		a.mu.Unlock()
		if n > 0 {
			report(box, n)
		}
		if dropped > 0 {
			l.log.Warn("box over its publish limit: messages dropped", "box_id", box, "dropped", dropped, "paced", paced)
		} else if paced > 0 {
			l.log.Info("box over its publish limit: publishes slowed", "box_id", box, "paced", paced)
		}
		if forget {
			delete(l.boxes, box)
		}
	}
}
