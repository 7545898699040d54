package console

import (
	"context"
	"fmt"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
)

// boxRow is one box as the dashboard shows it, already in the reader's
// language, so the page's JS only copies text and never translates.
type boxRow struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Online     bool   `json:"online"`
	OnlineText string `json:"online_text"`
	LastSeen   string `json:"last_seen"`
	Clock      string `json:"clock"` // clockTrusted, clockUntrusted or clockUnknown
	ClockText  string `json:"clock_text"`
	Backlog    uint64 `json:"backlog"`
	AppliedRev uint64 `json:"applied_rev"`
	DesiredRev uint64 `json:"desired_rev"`
	Rev        string `json:"rev"` // "applied / desired"
	InSync     bool   `json:"in_sync"`
	SyncText   string `json:"sync_text"`
}

// timeLayout shows a last-seen time; the year is left out because a box
// silent for a year is plainly offline anyway.
const timeLayout = "01-02 15:04:05"

// rows reads every box, ordered by id as the store lists them.
func (c *Console) rows(ctx context.Context, l lang) ([]boxRow, error) {
	boxes, err := c.st.ListBoxes(ctx)
	if err != nil {
		return nil, fmt.Errorf("console: list boxes: %w", err)
	}
	t := c.msgs[l]
	out := make([]boxRow, 0, len(boxes))
	for _, b := range boxes {
		ck, err := c.clockOf(ctx, b)
		if err != nil {
			return nil, err
		}
		out = append(out, boxRow{
			ID: b.ID, Name: displayName(b), Online: b.Online, OnlineText: t[onOff(b.Online)],
			LastSeen: c.lastSeen(b.LastSeen, t), Clock: ck, ClockText: t[clockKey(ck)],
			Backlog: b.OutboxBacklog, AppliedRev: b.AppliedRev, DesiredRev: b.DesiredRev,
			Rev:    fmt.Sprintf("%d / %d", b.AppliedRev, b.DesiredRev),
			InSync: b.AppliedRev == b.DesiredRev, SyncText: t[syncKey(b.AppliedRev == b.DesiredRev)],
		})
	}
	return out, nil
}

func displayName(b store.Box) string {
	if b.Name == "" {
		return b.ID
	}
	return b.Name
}

func onOff(online bool) string {
	if online {
		return "Online"
	}
	return "Offline"
}

func syncKey(inSync bool) string {
	if inSync {
		return "InSync"
	}
	return "Pending"
}

func (c *Console) lastSeen(at time.Time, t map[string]string) string {
	if at.IsZero() {
		return t["Never"]
	}
	return at.In(c.cfg.Location).Format(timeLayout)
}
