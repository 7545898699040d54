package playout

import (
	"context"
	"fmt"

	"github.com/dalaba/dalaba/devices/speaker"
	"github.com/dalaba/dalaba/edge/broadcast"
	"github.com/dalaba/dalaba/protocol"
)

// PagePrefix starts the play log's item id of a live page; the session id
// follows.
const PagePrefix = "page:"

// LivePage is a live page (喊话) to put on the air.
type LivePage struct {
	Session   string   // the paging session; the item is PagePrefix+Session
	Zones     []string // none: every zone
	Pager     string   // who speaks: the play log's name
	CommandID string   // the command that offered it, for the play log
	Law       speaker.Law
	// Frames is the pager's audio; closing it ends the page. The playout
	// reads it only while the page is on the air, so its sender must not
	// block on it.
	Frames <-chan speaker.Frame
	// Ended, if set, is called once with the page's result (played,
	// skipped, failed) when it has left the air and its play log entry
	// is queued; it must not block.
	Ended func(result string)
}

// CheckZones reports whether zones (none: every zone) exist, so a page to
// them can be taken.
func (p *Playout) CheckZones(zones []string) error {
	if err := p.knownZones(zones); err != nil {
		return fmt.Errorf("page: %w", err)
	}
	return nil
}

// Page puts a live page on the air: an item at paging priority that
// pre-empts scheduled and background items in its zones (they resume or
// skip as each says) and is pre-empted, for good, by an emergency. It
// plays on the RTP speakers of the zones, at their volume; the others are
// errors of the playback. Page returns once the arbiter has the item; the
// page is in the play log when it ends.
func (p *Playout) Page(ctx context.Context, l LivePage) error {
	if err := p.knownZones(l.Zones); err != nil {
		return fmt.Errorf("page: %w", err)
	}
	zones := l.Zones
	if len(zones) == 0 {
		zones = p.allZones()
	}
	id := PagePrefix + l.Session
	p.mu.Lock()
	p.items[id] = itemMeta{CommandID: l.CommandID, Name: l.Pager, Priority: protocol.PlayPaging}
	p.mu.Unlock()
	it := broadcast.Item{ID: id, Priority: broadcast.Paging, Zones: zones, OnPreempt: broadcast.Skip,
		Live: &broadcast.Live{Law: l.Law, Frames: l.Frames, Ended: func(pb broadcast.Playback) {
			if l.Ended != nil {
				l.Ended(pb.Result)
			}
		}}}
	if err := p.arb.Submit(ctx, it); err != nil {
		p.mu.Lock()
		delete(p.items, id)
		p.mu.Unlock()
		return fmt.Errorf("page: %w", err)
	}
	p.log.Info("paging", "item", id, "zones", zones, "pager", l.Pager, "law", l.Law, "command_id", l.CommandID)
	return nil
}
