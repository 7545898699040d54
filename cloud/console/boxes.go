package console

import (
	"context"
	"fmt"
	"strings"
	"sync"
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
	Disk       string `json:"disk"` // free of total, or unknown
	DiskLow    bool   `json:"disk_low"`
	Speakers   string `json:"speakers"` // each speaker with its health
	SpeakersOK bool   `json:"speakers_ok"`
	Cameras    string `json:"cameras"`
	CamerasOK  bool   `json:"cameras_ok"`
}

// diskLow is the free share under which the disk shows as a warning: the
// outbox and the media cache need room while the uplink is down.
const diskLow = 0.10

// timeLayout shows a last-seen time; the year is left out because a box
// silent for a year is plainly offline anyway.
const timeLayout = "01-02 15:04:05"

// rowsCache holds the rows last read in one language, so that every open
// dashboard's stream shares one read per interval instead of each
// scanning every box's latest events (about 33 ms for 100 villages).
type rowsCache struct {
	mu   sync.Mutex
	at   map[lang]time.Time
	rows map[lang][]boxRow
}

// sharedRows is rows, read at most once per Config.Interval per language.
// Holding the lock while reading makes streams that tick together wait
// for the one read rather than all doing it.
func (c *Console) sharedRows(ctx context.Context, l lang) ([]boxRow, error) {
	c.cache.mu.Lock()
	defer c.cache.mu.Unlock()
	if at, ok := c.cache.at[l]; ok && time.Since(at) < c.cfg.Interval {
		return c.cache.rows[l], nil
	}
	rows, err := c.rows(ctx, l)
	if err != nil {
		return nil, err
	}
	if c.cache.at == nil {
		c.cache.at, c.cache.rows = map[lang]time.Time{}, map[lang][]boxRow{}
	}
	c.cache.at[l], c.cache.rows[l] = time.Now(), rows
	return rows, nil
}

// rows reads every box in service, ordered by id as the store lists
// them.
func (c *Console) rows(ctx context.Context, l lang) ([]boxRow, error) {
	boxes, err := c.inService(ctx)
	if err != nil {
		return nil, fmt.Errorf("console: list boxes: %w", err)
	}
	return c.rowsOf(ctx, l, boxes)
}

// rowsOf is boxes as the dashboard shows them.
func (c *Console) rowsOf(ctx context.Context, l lang, boxes []store.Box) ([]boxRow, error) {
	t := c.msgs[l]
	out := make([]boxRow, 0, len(boxes))
	for _, b := range boxes {
		st, err := c.stateOf(ctx, b)
		if err != nil {
			return nil, err
		}
		speakers, speakersOK := devicesText(st.Speakers, t)
		cameras, camerasOK := devicesText(st.Cameras, t)
		disk, low := t["Unknown"], false
		if h := st.Health; h != nil && h.DiskTotalBytes > 0 {
			disk = fmt.Sprintf(t["DiskFree"], bytesText(h.DiskFreeBytes), bytesText(h.DiskTotalBytes))
			low = float64(h.DiskFreeBytes) < diskLow*float64(h.DiskTotalBytes)
		}
		out = append(out, boxRow{
			ID: b.ID, Name: displayName(b), Online: b.Online, OnlineText: t[onOff(b.Online)],
			LastSeen: c.lastSeen(b.LastSeen, t), Clock: st.Clock, ClockText: t[clockKey(st.Clock)],
			Disk: disk, DiskLow: low, Speakers: speakers, SpeakersOK: speakersOK, Cameras: cameras, CamerasOK: camerasOK,
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
