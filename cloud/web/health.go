package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
)

// healthTimeout bounds the store's write probe: a store that takes longer
// is as good as stuck for the boxes' uploads.
const healthTimeout = 5 * time.Second

// healthz answers 200 {"ok": true} while the store can take a write and
// the MQTT connection is up; otherwise 503 service.unhealthy with each
// problem as a field ("store", "broker"). It needs no token, so it names
// no path or address: the log has the details.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	var fields []Field
	storeErr := s.st.Ping(ctx)
	switch {
	case storeErr == nil:
	case errors.Is(storeErr, store.ErrFull):
		fields = append(fields, Field{Path: "store", Message: "the store's disk is full"})
	default:
		fields = append(fields, Field{Path: "store", Message: "the store cannot write"})
	}
	if !s.dl.Connected() {
		fields = append(fields, Field{Path: "broker", Message: "not connected to the MQTT broker"})
	}
	s.hl.note(s, fields, storeErr)
	if len(fields) == 0 {
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		return
	}
	msgs := make([]string, len(fields))
	for i, f := range fields {
		msgs[i] = f.Message
	}
	writeJSON(w, CodeUnhealthy.Status(), map[string]any{
		"ok": false, "error": "unhealthy: " + strings.Join(msgs, "; "), "code": CodeUnhealthy, "fields": fields,
	})
}

// healthLog logs a change of health, not every probe: monitors ask every
// few seconds.
type healthLog struct {
	mu   sync.Mutex
	last string
}

func (h *healthLog) note(s *Server, fields []Field, storeErr error) {
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(f.Message + "; ")
	}
	now := b.String()
	h.mu.Lock()
	changed := now != h.last
	h.last = now
	h.mu.Unlock()
	switch {
	case !changed:
	case now == "":
		s.log.Info("healthy again")
	default:
		s.log.Error("unhealthy", "problems", strings.TrimSuffix(now, "; "), "err", storeErr)
	}
}
