package paging

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"slices"

	"github.com/dalaba/dalaba/edge/command"
	"github.com/dalaba/dalaba/edge/rtcpeer"
	"github.com/dalaba/dalaba/protocol"
)

// Server answers pagers' offers and keeps their sessions.
type Server struct {
	cfg Config
	log *slog.Logger
	air Air

	peers *rtcpeer.Peers
	reg   *rtcpeer.Registry[*session] // answering or running: they hold their zones
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
	cfg = cfg.withDefaults()
	return &Server{
		cfg: cfg, log: log.With("component", "paging"), air: deps.Air,
		peers: rtcpeer.NewPeers(cfg.peer()),
		reg: rtcpeer.NewRegistry[*session](cfg.MaxSessions, rtcpeer.Refusals{
			NotRunning: ErrNotRunning, Full: ErrTooManySessions, Unknown: ErrUnknownSession,
		}),
	}, nil
}

// SetICE replaces the STUN and TURN servers new pages gather with (a new
// desired state); nil goes back to Config.ICE.
func (s *Server) SetICE(ice []protocol.ICEServer) { s.peers.SetICE(ice) }

// Register gives the box's command runner the paging commands: an offer on
// the slow lane (answering waits for ICE gathering), the hang-up on the
// control lane.
func (s *Server) Register(r *command.Runner) {
	command.Register(r, protocol.CmdPage, command.Slow, func(ctx context.Context, c protocol.Command, a protocol.PageArgs) (any, error) {
		return s.Answer(ctx, a, c.ID)
	})
	command.Register(r, protocol.CmdPageStop, command.Control, func(_ context.Context, _ protocol.Command, a protocol.PageStopArgs) (any, error) {
		return nil, s.Stop(a.Session)
	})
}

// Run owns the sessions: Answer works while it runs; when ctx ends it ends
// every page, waits for their goroutines and returns nil. It is called
// once.
func (s *Server) Run(ctx context.Context) error {
	if err := s.reg.Run(ctx, "box stopping"); err != nil {
		return fmt.Errorf("paging: %w", err)
	}
	return nil
}

// Sessions is how many pages are being answered or are on now.
func (s *Server) Sessions() int { return s.reg.Len() }

// Stop ends a page and returns once its session has ended.
func (s *Server) Stop(id string) error {
	if err := s.reg.Stop(id); err != nil {
		return fmt.Errorf("paging: stop %q: %w", id, err)
	}
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
	id, err := rtcpeer.NewID()
	if err != nil {
		return protocol.PageResult{}, fmt.Errorf("paging: answer: %w", err)
	}
	// The zones are held from admission: a second offer for one of them
	// is refused even while this one is still being answered.
	ss, err := s.reg.Admit(func(runCtx context.Context, held iter.Seq[*session]) (*session, error) {
		for o := range held {
			if z, ok := overlap(args.Zones, o.zones); ok {
				if o.pager == "" {
					return nil, fmt.Errorf("%w: %s", ErrZoneBusy, z)
				}
				return nil, fmt.Errorf("%w: %s, by %q", ErrZoneBusy, z, o.pager)
			}
		}
		return newSession(runCtx, s, id, args, commandID, off), nil
	})
	if err != nil {
		return protocol.PageResult{}, fmt.Errorf("paging: answer: %w", err)
	}
	// While answering, the caller may give up; afterwards only the
	// session's own reasons end it.
	unhook := context.AfterFunc(ctx, func() { ss.Stop("answer abandoned") })
	answer, err := ss.open(args.Offer)
	unhook()
	if err != nil {
		ss.Stop("answer failed")
		s.reg.Drop(ss)
		return protocol.PageResult{}, fmt.Errorf("paging: answer: %w", err)
	}
	// The point of no return: past it the page goes on the air. Given up
	// just as it was answered (the command expired), nobody gets the
	// answer and the session ends at once.
	late := command.Commit(ctx)
	if late == nil && ctx.Err() != nil {
		late = context.Cause(ctx)
	}
	if late != nil {
		ss.Stop("answer abandoned")
	}
	s.reg.Go(ss, ss.run)
	if late != nil {
		return protocol.PageResult{}, fmt.Errorf("paging: answer: %w", late)
	}
	ss.log.Info("page answered", "zones", args.Zones, "codec", off.Law)
	return protocol.PageResult{Session: id, Answer: answer, Codec: string(off.Law)}, nil
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
