package edge

import (
	"context"
	"fmt"

	"github.com/dalaba/dalaba/edge/paging"
	"github.com/dalaba/dalaba/edge/playout"
	"github.com/dalaba/dalaba/protocol"
)

// pagingAir puts live pages on the air through the playout.
type pagingAir struct{ po *playout.Playout }

func (a pagingAir) Check(zones []string) error { return a.po.CheckZones(zones) }

func (a pagingAir) Start(ctx context.Context, p paging.Page) error {
	return a.po.Page(ctx, playout.LivePage{
		Session: p.Session, Zones: p.Zones, Pager: p.Pager, CommandID: p.CommandID,
		Law: p.Law, Frames: p.Frames, Ended: p.Ended,
	})
}

// answerPage runs the paging.offer command: an official's browser offers
// its microphone; the result carries the box's answer.
func (e *Edge) answerPage(ctx context.Context, c protocol.Command) (any, error) {
	var a protocol.PageArgs
	if err := protocol.DecodeArgs(c.Args, &a); err != nil {
		return nil, fmt.Errorf("paging: arguments: %w", err)
	}
	return e.pg.Answer(ctx, a, c.ID)
}

// stopPage runs the paging.stop command.
func (e *Edge) stopPage(_ context.Context, c protocol.Command) (any, error) {
	var a protocol.PageStopArgs
	if err := protocol.DecodeArgs(c.Args, &a); err != nil {
		return nil, fmt.Errorf("paging stop: arguments: %w", err)
	}
	return nil, e.pg.Stop(a.Session)
}

// applyPagingICE gives new pages the STUN and TURN servers of a desired
// state: those of its camera section, the box's one list of them.
func (e *Edge) applyPagingICE(d protocol.Desired) {
	s, err := protocol.DecodeSpec(d.Spec)
	if err != nil {
		e.log.Error("desired state's spec does not decode; paging ICE servers unchanged", "rev", d.Rev, "err", err)
		return
	}
	var ice []protocol.ICEServer
	if s.Cameras != nil {
		ice = s.Cameras.ICE
	}
	e.pg.SetICE(ice)
}
