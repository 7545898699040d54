package edge

import (
	"context"

	"github.com/dalaba/dalaba/edge/paging"
	"github.com/dalaba/dalaba/edge/playout"
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
