package console

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dalaba/dalaba/cloud/board"
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
	Disk       string `json:"disk"` // free of total, or unknown
	DiskLow    bool   `json:"disk_low"`
	Speakers   string `json:"speakers"` // each speaker with its health
	SpeakersOK bool   `json:"speakers_ok"`
	Cameras    string `json:"cameras"`
	CamerasOK  bool   `json:"cameras_ok"`
	// Problems names the box's problems (board's), "—" when none.
	Problems    string `json:"problems"`
	HasProblems bool   `json:"has_problems"`
}

// timeLayout shows a last-seen time; the year is left out because a box
// silent for a year is plainly offline anyway.
const timeLayout = "01-02 15:04:05"

// rows is every box in service, ordered by id, from the board's shared
// view of the fleet (at most Config.Interval old).
func (c *Console) rows(ctx context.Context, l lang) ([]boxRow, error) {
	snap, err := c.board.Snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("console: list boxes: %w", err)
	}
	out := make([]boxRow, 0, len(snap.Entries))
	for _, e := range snap.Entries {
		if !e.Box.Retired() {
			out = append(out, c.rowOf(l, e))
		}
	}
	return out, nil
}

// rowsOf is boxes as the dashboard shows them, each read on its own: for
// a page about one box, which must show it as it is now.
func (c *Console) rowsOf(ctx context.Context, l lang, boxes []store.Box) ([]boxRow, error) {
	out := make([]boxRow, 0, len(boxes))
	for _, b := range boxes {
		st, err := c.stateOf(ctx, b)
		if err != nil {
			return nil, err
		}
		e := board.Entry{Box: b, Online: b.Online, LastSeen: b.LastSeen, State: st}
		e.Problems = board.ProblemsOf(e)
		out = append(out, c.rowOf(l, e))
	}
	return out, nil
}

// rowOf is a board entry as the dashboard shows it, in l.
func (c *Console) rowOf(l lang, e board.Entry) boxRow {
	t := c.msgs[l]
	b, st := e.Box, e.State
	speakers, speakersOK := devicesText(st.Speakers, t)
	cameras, camerasOK := devicesText(st.Cameras, t)
	disk := t["Unknown"]
	if h := st.Health; h != nil && h.DiskTotalBytes > 0 {
		disk = fmt.Sprintf(t["DiskFree"], bytesText(h.DiskFreeBytes), bytesText(h.DiskTotalBytes))
	}
	problems := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		problems = append(problems, t[problemKey(p)])
	}
	text := "—"
	if len(problems) > 0 {
		text = strings.Join(problems, " · ")
	}
	return boxRow{
		ID: b.ID, Name: displayName(b), Online: e.Online, OnlineText: t[onOff(e.Online)],
		LastSeen: c.lastSeen(e.LastSeen, t), Clock: st.Clock, ClockText: t[clockKey(st.Clock)],
		Disk: disk, DiskLow: st.DiskIsLow(), Speakers: speakers, SpeakersOK: speakersOK, Cameras: cameras, CamerasOK: camerasOK,
		Backlog: b.OutboxBacklog, AppliedRev: b.AppliedRev, DesiredRev: b.DesiredRev,
		Rev:    fmt.Sprintf("%d / %d", b.AppliedRev, b.DesiredRev),
		InSync: b.AppliedRev == b.DesiredRev, SyncText: t[syncKey(b.AppliedRev == b.DesiredRev)],
		Problems: text, HasProblems: len(problems) > 0,
	}
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

// devicesText lists devices with their health in one line, and whether
// all of them are known to be fine.
func devicesText(devs []device, t map[string]string) (string, bool) {
	if len(devs) == 0 {
		return "—", true
	}
	parts := make([]string, 0, len(devs))
	allOK := true
	for _, d := range devs {
		name := d.Name
		if name == "" {
			name = d.ID
		}
		state := t["DeviceOK"]
		switch {
		case !d.Known && !d.OK:
			state = t["Unknown"] // not a fault: a camera nobody watches is not pulled
		case !d.OK:
			state, allOK = t["DeviceDown"], false
			if d.Error != "" {
				state += " (" + d.Error + ")"
			}
		}
		parts = append(parts, name+" "+state)
	}
	return strings.Join(parts, " · "), allOK
}

// bytesText shows a size in binary units, one decimal.
func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
