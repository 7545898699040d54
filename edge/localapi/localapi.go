// Package localapi is the box's local HTTP API on a unix socket, for
// integrations on the box itself (a sensor script reporting a fault) and
// for tests: POST /v1/events appends events and answers only once they are
// durable; GET /v1/status shows the box's state. Being a unix socket, it is
// reachable only by local users with permission on the socket file.
package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/dalaba/dalaba/protocol"
)

// Event is one event as a local client posts it.
type Event struct {
	Type     string            `json:"type"`
	Priority protocol.Priority `json:"priority"`
	Data     json.RawMessage   `json:"data,omitempty"`
}

// Deps are what the API uses.
type Deps struct {
	Logger *slog.Logger
	// Append stores one event durably and returns its seq.
	Append func(ctx context.Context, e Event) (uint64, error)
	// Status returns the box's state as a JSON-encodable value.
	Status func() any
}

// MaxEvents is the most events one request may carry.
const MaxEvents = 1000

// Server serves the local API.
type Server struct {
	path string
	d    Deps
	log  *slog.Logger
}

// New checks deps; nothing listens before Run.
func New(socketPath string, deps Deps) (*Server, error) {
	if socketPath == "" || deps.Append == nil || deps.Status == nil {
		return nil, errors.New("localapi: socket path, appender and status are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{path: socketPath, d: deps, log: deps.Logger.With("component", "localapi")}, nil
}

// Run listens on the socket (replacing a stale one) and serves until ctx
// ends.
func (s *Server) Run(ctx context.Context) error {
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("localapi: remove stale socket: %w", err)
	}
	ln, err := net.Listen("unix", s.path)
	if err != nil {
		return fmt.Errorf("localapi: listen: %w", err)
	}
	if err := os.Chmod(s.path, 0o660); err != nil {
		ln.Close()
		return fmt.Errorf("localapi: chmod socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/events", s.events)
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.d.Status()) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx) // in-flight appends finish or time out
	}()
	err = srv.Serve(ln)
	<-done
	os.Remove(s.path)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("localapi: %w", err)
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, (MaxEvents+1)*int64(protocol.MaxEventDataLen)))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	evs, err := parse(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// Appended concurrently so that they share the outbox's group commits.
	seqs := make([]uint64, len(evs))
	errs := make([]error, len(evs))
	var wg sync.WaitGroup
	for i, e := range evs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seqs[i], errs[i] = s.d.Append(r.Context(), e)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.log.Error("appending local events", "err", err)
		writeError(w, http.StatusServiceUnavailable, "not all events were stored: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string][]uint64{"seqs": seqs})
}

// parse accepts one event object or an array of them, and validates all
// before any is appended, so a bad request appends nothing.
func parse(body []byte) ([]Event, error) {
	var evs []Event
	trimmed := firstNonSpace(body)
	switch trimmed {
	case '[':
		if err := json.Unmarshal(body, &evs); err != nil {
			return nil, fmt.Errorf("bad JSON: %v", err)
		}
	case '{':
		var e Event
		if err := json.Unmarshal(body, &e); err != nil {
			return nil, fmt.Errorf("bad JSON: %v", err)
		}
		evs = []Event{e}
	default:
		return nil, errors.New("want a JSON event object or an array of them")
	}
	if len(evs) == 0 || len(evs) > MaxEvents {
		return nil, fmt.Errorf("want 1-%d events, got %d", MaxEvents, len(evs))
	}
	for i, e := range evs {
		if err := protocol.ValidateEvent(protocol.Event{Type: e.Type, Priority: e.Priority, Data: e.Data}); err != nil {
			return nil, fmt.Errorf("event %d: %v", i, err)
		}
	}
	return evs, nil
}

func firstNonSpace(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may have gone
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
