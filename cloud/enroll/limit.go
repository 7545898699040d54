package enroll

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// ErrSlowDown: too many refused enrollments from one address.
var ErrSlowDown = errors.New("enroll: too many refused claim codes from this address")

// SlowDownError says how long an address must wait.
type SlowDownError struct{ RetryAfter time.Duration }

func (e *SlowDownError) Error() string {
	return fmt.Sprintf("%v: wait %s", ErrSlowDown, e.RetryAfter.Round(time.Second))
}

func (e *SlowDownError) Unwrap() error { return ErrSlowDown }

// Enrollment limits per address. A code is 40 random bits and each guess
// costs the guesser an Argon2id, so these only keep one address from
// filling the audit trail; an installer who mistypes a few times is not
// hindered. A success does not clear the count: a township enrolling
// hundreds of boxes behind one NAT is not refused for it, and a guesser
// cannot launder its failures with one good code.
const (
	MaxRefusals   = 10
	RefusalWindow = 15 * time.Minute
	// maxAddresses bounds the memory under a spray from many addresses.
	maxAddresses = 10_000
)

type limiter struct {
	mu sync.Mutex
	by map[string]*window
}

type window struct {
	start time.Time
	fails int
}

func newLimiter() *limiter { return &limiter{by: map[string]*window{}} }

// key is addr with an IPv6 address taken as its /64.
func key(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64) // a v6 address always has a /64
		return p.String()
	}
	return ip.String()
}

// check refuses addr while its window holds MaxRefusals refusals.
func (l *limiter) check(addr string, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.by[key(addr)]
	if !ok || !now.Before(w.start.Add(RefusalWindow)) || w.fails < MaxRefusals {
		return nil
	}
	return &SlowDownError{RetryAfter: w.start.Add(RefusalWindow).Sub(now)}
}

// failed counts a refusal of addr.
func (l *limiter) failed(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := key(addr)
	w, ok := l.by[k]
	if !ok || !now.Before(w.start.Add(RefusalWindow)) {
		if len(l.by) >= maxAddresses {
			for a, x := range l.by {
				if !now.Before(x.start.Add(RefusalWindow)) {
					delete(l.by, a)
				}
			}
			if len(l.by) >= maxAddresses {
				clear(l.by) // a spray from everywhere: start over rather than grow
			}
		}
		w = &window{start: now}
		l.by[k] = w
	}
	w.fails++
}
