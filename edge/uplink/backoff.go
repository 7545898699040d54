package uplink

import (
	"math/rand/v2"
	"time"
)

// backoff returns how long to wait before reconnect attempt n (0-based)
// after failures: a uniformly random duration in [0, min(hi, lo·2ⁿ)] ("full
// jitter"). A township's boxes all lose the broker at the same moment when
// it restarts; spreading each wait over its whole range, rather than around
// a fixed value, keeps them from coming back in step.
func backoff(n int, lo, hi time.Duration, r *rand.Rand) time.Duration {
	ceil := hi
	// lo<<n overflows past ~62 doublings; by then the cap has long applied.
	if n < 62 {
		if d := lo << n; d > 0 && d>>n == lo && d < hi {
			ceil = d
		}
	}
	return time.Duration(r.Int64N(int64(ceil) + 1))
}
