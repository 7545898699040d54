package speaker

import (
	"fmt"
	"sync/atomic"
)

// Level is a driver's volume in percent (0-100, on the square law of
// audio.Volume): set at any time, read by each play as it starts. It is
// safe for concurrent use.
type Level struct {
	percent atomic.Int32
}

// NewLevel starts at percent, clamped to 0-100: a driver checks its
// config first, in its own words.
func NewLevel(percent int) *Level {
	l := &Level{}
	l.percent.Store(int32(min(max(percent, 0), 100)))
	return l
}

// Set changes the level; outside 0-100 it fails and keeps the old one.
func (l *Level) Set(percent int) error {
	if percent < 0 || percent > 100 {
		return fmt.Errorf("volume %d: 0-100", percent)
	}
	l.percent.Store(int32(percent))
	return nil
}

// Get is the level now.
func (l *Level) Get() int { return int(l.percent.Load()) }
