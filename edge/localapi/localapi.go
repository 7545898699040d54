package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/dalaba/dalaba/protocol"
)

// Event is one event as a local client posts it.
type Event struct {
	Type     string            `json:"type"`
	Priority protocol.Priority `json:"priority"` // 0 debug … 3 critical
	Data     json.RawMessage   `json:"data,omitempty"`
}

// Status is the answer to GET /v1/status.
type Status struct {
	BoxID      string       `json:"box_id"`
	Version    string       `json:"version"`
	Connected  bool         `json:"connected"`
	AppliedRev uint64       `json:"applied_rev"`
	Outbox     OutboxStatus `json:"outbox"`
}

// OutboxStatus is the outbox part of Status.
type OutboxStatus struct {
	Backlog  uint64 `json:"backlog"`
	Bytes    uint64 `json:"bytes"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
}

// Deps are what the API uses.
type Deps struct {
	Logger *slog.Logger
	// Append stores the events of one request in their order (their seqs
	// rise with it) and returns their seqs once all are durable; on an
	// error, the seqs of those stored and 0 for the rest. It is called once
	// per request, so that the request's events share the outbox's commits.
	Append func(ctx context.Context, evs []Event) ([]uint64, error)
	// Status returns the box's state now.
	Status func() Status
}

// MaxEvents is the most events one request may carry.
const MaxEvents = 1000

// maxBody bounds a request: MaxEvents events of the largest data, with room
// for their framing.
const maxBody = MaxEvents * (protocol.MaxEventDataLen + protocol.MaxEventTypeLen + 64)

// Server serves the local API. Make it with New and Run it once.
type Server struct {
	path  string
	d     Deps
	log   *slog.Logger
	ready chan struct{}
}

// New checks its arguments; nothing listens before Run.
func New(socketPath string, deps Deps) (*Server, error) {
	var errs []error
	if socketPath == "" {
		errs = append(errs, errors.New("no socket path"))
	}
	if deps.Append == nil {
		errs = append(errs, errors.New("no append function"))
	}
	if deps.Status == nil {
		errs = append(errs, errors.New("no status function"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("localapi: %w", err)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{path: socketPath, d: deps, log: deps.Logger.With("component", "localapi"), ready: make(chan struct{})}, nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Ready is closed once the socket accepts connections.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Run listens on the socket, replacing a stale one a crash left, and serves
// until ctx ends; then it stops accepting, lets requests in progress finish
// (their appends complete: the outbox outlives the API), and removes the
// socket.
func (s *Server) Run(ctx context.Context) error {
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("localapi: remove stale socket %s: %w", s.path, err)
	}
	ln, err := net.Listen("unix", s.path)
	if err != nil {
		return fmt.Errorf("localapi: listen: %w", err)
	}
	if err := os.Chmod(s.path, 0o660); err != nil {
		_ = ln.Close() // the chmod error is the one to report
		return fmt.Errorf("localapi: chmod socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/events", s.events)
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.d.Status()) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	close(s.ready)
	s.log.Info("listening", "socket", s.path)

	select {
	case err = <-served: // Serve failed on its own
	case <-ctx.Done():
		// An append in progress is committed within one group commit;
		// the bound only guards against a wedged client connection.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err = srv.Shutdown(sctx)
		cancel()
		if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
	}
	// Serve closed the listener, which unlinks the socket; this covers the
	// error paths.
	if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		s.log.Warn("removing the socket", "socket", s.path, "err", rerr)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("localapi: serve: %w", err)
	}
	return nil
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", maxBody), nil)
			return
		}
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error(), nil)
		return
	}
	evs, err := parse(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), nil)
		return
	}
	seqs, err := s.d.Append(r.Context(), evs)
	if err != nil {
		s.log.Error("appending local events", "events", len(evs), "err", err)
		// The seqs of those that were stored (0 for the rest), so that a
		// client retrying knows what it would duplicate.
		if len(seqs) != len(evs) {
			seqs = nil
		}
		writeError(w, http.StatusServiceUnavailable, "not every event was stored: "+err.Error(), seqs)
		return
	}
	if len(seqs) != len(evs) {
		s.log.Error("appending local events: wrong number of seqs", "events", len(evs), "seqs", len(seqs))
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("%d events stored as %d seqs", len(evs), len(seqs)), nil)
		return
	}
	s.log.Debug("local events appended", "events", len(evs), "seq", seqs[len(seqs)-1])
	writeJSON(w, http.StatusOK, map[string][]uint64{"seqs": seqs})
}

// wireEvent is Event as decoded, telling a missing priority from 0.
type wireEvent struct {
	Type     string             `json:"type"`
	Priority *protocol.Priority `json:"priority"`
	Data     json.RawMessage    `json:"data"`
}

// parse accepts one event object or an array of them and validates all of
// them before any is appended, so that a bad request appends nothing.
// Unknown fields are refused: a misspelt "prioriy" must not quietly become
// a debug event, the first to be dropped.
func parse(body []byte) ([]Event, error) {
	body = bytes.TrimSpace(body)
	var wire []wireEvent
	var target any = &wire
	single := len(body) > 0 && body[0] == '{'
	var one wireEvent
	switch {
	case single:
		target = &one
	case len(body) > 0 && body[0] == '[':
	default:
		return nil, errors.New(`want a JSON event object {"type","priority","data"} or an array of them`)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(target); err != nil {
		return nil, fmt.Errorf("bad JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("bad JSON: trailing data after the value")
	}
	if single {
		wire = []wireEvent{one}
	}
	if len(wire) == 0 || len(wire) > MaxEvents {
		return nil, fmt.Errorf("want 1-%d events, got %d", MaxEvents, len(wire))
	}
	evs := make([]Event, len(wire))
	for i, w := range wire {
		if w.Priority == nil {
			return nil, fmt.Errorf("event %d: no priority (0 debug, 1 info, 2 notice, 3 critical)", i)
		}
		if bytes.Equal(w.Data, []byte("null")) {
			w.Data = nil
		}
		e := Event{Type: w.Type, Priority: *w.Priority, Data: w.Data}
		if err := protocol.ValidateEvent(protocol.Event{Type: e.Type, Priority: e.Priority, Data: e.Data}); err != nil {
			return nil, fmt.Errorf("event %d: %v", i, err)
		}
		if len(e.Data) > 0 && e.Data[0] != '{' {
			return nil, fmt.Errorf("event %d: data must be a JSON object", i)
		}
		evs[i] = e
	}
	return evs, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may have gone; nothing to do about it
}

func writeError(w http.ResponseWriter, status int, msg string, seqs []uint64) {
	writeJSON(w, status, struct {
		Error string   `json:"error"`
		Seqs  []uint64 `json:"seqs,omitempty"`
	}{msg, seqs})
}
