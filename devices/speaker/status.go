package speaker

import (
	"log/slog"
	"sync"
	"time"
)

// Status keeps a driver's Health between plays: every driver learns of
// its device the same way, from the outcome of what it sent, and reports
// it without blocking. It is safe for concurrent use and logs each change.
type Status struct {
	mu  sync.Mutex
	h   Health
	log *slog.Logger
}

// NewStatus starts optimistic: reachable since now. A nil log discards.
func NewStatus(log *slog.Logger) *Status {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Status{h: Health{Reachable: true, Since: time.Now()}, log: log}
}

// Health is the latest view.
func (s *Status) Health() Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.h
}

// Failed records that reaching the device failed with err.
func (s *Status) Failed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h.Reachable {
		s.h.Reachable, s.h.Since = false, time.Now()
		s.log.Warn("speaker unreachable", "err", err)
	}
	s.h.LastError = err.Error()
}

// Reached records that the device took what was sent.
func (s *Status) Reached() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.h.Reachable {
		s.h = Health{Reachable: true, Since: time.Now()}
		s.log.Info("speaker reachable again")
	}
}
