package paging

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/dalaba/dalaba/protocol"
)

// Server answers pagers' offers and keeps their sessions.
type Server struct {
	cfg Config
	log *slog.Logger
	air Air

	mu       sync.Mutex
	ice      []protocol.ICEServer // the desired state's, over cfg.ICE
	runCtx   context.Context      // set while Run runs
	closing  bool
	sessions map[string]*session // answering or running: they hold their zones
	wg       sync.WaitGroup      // sessions, from admission to their end
}

// New validates cfg; Run serves.
func New(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("paging: config: %w", err)
	}
	if deps.Air == nil {
		return nil, errors.New("paging: no air")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg.withDefaults(), log: log.With("component", "paging"), air: deps.Air, sessions: map[string]*session{}}, nil
}

// SetICE replaces the STUN and TURN servers new pages gather with (a new
// desired state); nil goes back to Config.ICE.
func (s *Server) SetICE(ice []protocol.ICEServer) {
	s.mu.Lock()
	s.ice = ice
	s.mu.Unlock()
}

func (s *Server) iceServers() []protocol.ICEServer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ice != nil {
		return s.ice
	}
	return s.cfg.ICE
}

// Run owns the sessions: Answer works while it runs; when ctx ends it ends
// every page, waits for their goroutines and returns nil. It is called
// once.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.runCtx != nil || s.closing {
		s.mu.Unlock()
		return errors.New("paging: Run called twice")
	}
	s.runCtx = ctx
	s.mu.Unlock()

	<-ctx.Done()

	s.mu.Lock()
	s.closing = true
	all := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.stop("box stopping")
	}
	s.wg.Wait()
	return nil
}

// Sessions is how many pages are being answered or are on now.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Stop ends a page and returns once its session has ended.
func (s *Server) Stop(id string) error {
	s.mu.Lock()
	ss := s.sessions[id]
	s.mu.Unlock()
	if ss == nil {
		return fmt.Errorf("paging: stop %q: %w", id, ErrUnknownSession)
	}
	ss.stop("stopped")
	<-ss.done
	return nil
}

// Answer answers a pager's offer: it checks the offer and the zones, holds
// the zones, negotiates G.711 (PCMA preferred), gathers the box's ICE
// candidates (the answer carries them all: no trickle) and returns the
// answer with the session's id and codec. commandID is for the play log.
// Nothing is left behind when it fails. ctx bounds the answering only; the
// page then lives until one of the ends the package doc lists.
func (s *Server) Answer(ctx context.Context, args protocol.PageArgs, commandID string) (protocol.PageResult, error) {
	if err := args.Validate(); err != nil {
		return protocol.PageResult{}, fmt.Errorf("paging: answer: %w: %w", ErrBadRequest, err)
	}
	off, err := parseOffer(args.Offer)
	if err != nil {
		return protocol.PageResult{}, fmt.Errorf("paging: answer: %w", err)
	}
	if err := s.air.Check(args.Zones); err != nil {
		return protocol.PageResult{}, fmt.Errorf("paging: answer: %w", err)
	}
	id, err := newID()
	if err != nil {
		return protocol.PageResult{}, fmt.Errorf("paging: answer: %w", err)
	}
	ss, err := s.admit(id, args, commandID, off)
	if err != nil {
		return protocol.PageResult{}, fmt.Errorf("paging: answer: %w", err)
	}
	// While answering, the caller may give up; afterwards only the
	// session's own reasons end it.
	unhook := context.AfterFunc(ctx, func() { ss.stop("answer abandoned") })
	answer, err := ss.open(args.Offer)
	unhook()
	if err != nil {
		ss.stop("answer failed")
		s.drop(ss)
		return protocol.PageResult{}, fmt.Errorf("paging: answer: %w", err)
	}
	if ctx.Err() != nil {
		ss.stop("answer abandoned") // nobody gets the answer: run ends at once
	}
	go ss.run()
	ss.log.Info("page answered", "zones", args.Zones, "codec", off.Law)
	return protocol.PageResult{Session: id, Answer: answer, Codec: string(off.Law)}, nil
}

// admit holds args' zones for a new session, counted until drop or the
// end of its run.
func (s *Server) admit(id string, args protocol.PageArgs, commandID string, off offered) (*session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runCtx == nil || s.closing {
		return nil, ErrNotRunning
	}
	if len(s.sessions) >= s.cfg.MaxSessions {
		return nil, fmt.Errorf("%w (%d)", ErrTooManySessions, s.cfg.MaxSessions)
	}
	for _, o := range s.sessions {
		if z, ok := overlap(args.Zones, o.zones); ok {
			if o.pager == "" {
				return nil, fmt.Errorf("%w: %s", ErrZoneBusy, z)
			}
			return nil, fmt.Errorf("%w: %s, by %q", ErrZoneBusy, z, o.pager)
		}
	}
	ctx, cancel := context.WithCancel(s.runCtx)
	ss := newSession(ctx, cancel, s, id, args, commandID, off)
	s.sessions[id] = ss
	s.wg.Add(1)
	return ss, nil
}

// drop forgets a session that never ran.
func (s *Server) drop(ss *session) {
	s.mu.Lock()
	delete(s.sessions, ss.id)
	s.mu.Unlock()
	close(ss.done)
	s.wg.Done()
}

// overlap names a zone two pages share; no zones is every zone.
func overlap(a, b []string) (string, bool) {
	switch {
	case len(a) == 0 && len(b) == 0:
		return "every zone", true
	case len(a) == 0:
		return fmt.Sprintf("zone %q", b[0]), true
	case len(b) == 0:
		return fmt.Sprintf("zone %q", a[0]), true
	}
	for _, z := range a {
		if slices.Contains(b, z) {
			return fmt.Sprintf("zone %q", z), true
		}
	}
	return "", false
}

// newID is a session id no pager can guess.
func newID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("session id: %w", err)
	}
	return hex.EncodeToString(b), nil
}
