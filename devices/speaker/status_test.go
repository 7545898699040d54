package speaker

import (
	"errors"
	"testing"
)

func TestStatus(t *testing.T) {
	s := NewStatus(nil)
	h0 := s.Health()
	if !h0.Reachable || h0.Since.IsZero() || h0.LastError != "" {
		t.Fatalf("a new driver's health: %+v", h0)
	}
	s.Failed(errors.New("refused"))
	s.Failed(errors.New("timeout"))
	h := s.Health()
	if h.Reachable || h.LastError != "timeout" || h.Since.Before(h0.Since) {
		t.Fatalf("after failures: %+v", h)
	}
	since := h.Since
	s.Failed(errors.New("again"))
	if s.Health().Since != since {
		t.Error("a further failure moved Since: it marks the change, not the latest error")
	}
	s.Reached()
	if h := s.Health(); !h.Reachable || h.LastError != "" {
		t.Fatalf("after a success: %+v", h)
	}
}
