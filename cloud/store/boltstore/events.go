package boltstore

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dalaba/dalaba/cloud/store"
)

// appendFill packs event pages fuller than bbolt's default half: seqs
// arrive mostly in order, so pages are rarely split in the middle again.
const appendFill = 0.9

// eventRecord is the stored form of a store.Event under its seq key.
type eventRecord struct {
	Time       time.Time `json:"time"`
	Type       string    `json:"type"`
	Priority   int       `json:"prio"`
	Data       []byte    `json:"data,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
}

func seqKey(seq uint64) []byte { return u64(seq) }

// eventsOf returns box id's events bucket after checking the box exists.
func eventsOf(tx *bolt.Tx, id string) (*bolt.Bucket, boxRecord, error) {
	r, err := getBox(tx, id)
	if err != nil {
		return nil, boxRecord{}, err
	}
	b := tx.Bucket(bucketEvents).Bucket([]byte(id))
	if b == nil {
		return nil, boxRecord{}, fmt.Errorf("box %q: events bucket missing", id)
	}
	return b, r, nil
}

// AppendEvents stores evs of box boxID in one transaction, skipping seqs
// already stored, and advances the watermark: to floor-1 if that is
// higher, then over every contiguous stored seq. It returns after the
// commit's fsync. Seq 0 is refused: it could never be acknowledged.
func (s *Store) AppendEvents(ctx context.Context, boxID string, floor uint64, evs []store.Event) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	for _, e := range evs {
		if e.Seq == 0 {
			return 0, errors.New("boltstore: append events: seq 0 is not a valid seq")
		}
	}
	var wm uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, r, err := eventsOf(tx, boxID)
		if err != nil {
			return err
		}
		b.FillPercent = appendFill
		for _, e := range evs {
			k := seqKey(e.Seq)
			if b.Get(k) != nil {
				continue
			}
			v, err := json.Marshal(eventRecord{Time: e.Time, Type: e.Type, Priority: e.Priority, Data: e.Data, ReceivedAt: e.ReceivedAt})
			if err != nil {
				return fmt.Errorf("seq %d: encode: %w", e.Seq, err)
			}
			if err := b.Put(k, v); err != nil {
				return fmt.Errorf("seq %d: %w", e.Seq, err)
			}
			r.Events++
		}
		wm = r.Watermark
		if floor > 0 && floor-1 > wm {
			wm = floor - 1
		}
		wm = advance(b.Cursor(), wm)
		r.Watermark = wm
		return putBox(tx, boxID, r)
	})
	if err != nil {
		return 0, fmt.Errorf("boltstore: append events of box %s: %w", boxID, err)
	}
	return wm, nil
}

// advance walks the cursor from wm+1 while the next key is the next seq,
// and returns the last seq of that contiguous run (or wm).
func advance(c *bolt.Cursor, wm uint64) uint64 {
	if wm == math.MaxUint64 {
		return wm
	}
	for k, _ := c.Seek(seqKey(wm + 1)); k != nil && len(k) == 8; k, _ = c.Next() {
		if binary.BigEndian.Uint64(k) != wm+1 {
			break
		}
		wm++
		if wm == math.MaxUint64 {
			break
		}
	}
	return wm
}

// ListEvents returns up to limit events of boxID with seq > after, in seq
// order; limit must be positive.
func (s *Store) ListEvents(ctx context.Context, boxID string, after uint64, limit int) ([]store.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("boltstore: list events: limit %d, must be positive", limit)
	}
	var out []store.Event
	err := s.db.View(func(tx *bolt.Tx) error {
		b, _, err := eventsOf(tx, boxID)
		if err != nil || after == math.MaxUint64 {
			return err
		}
		c := b.Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			var r eventRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("event %x: decode: %w", k, err)
			}
			out = append(out, store.Event{
				BoxID: boxID, Seq: binary.BigEndian.Uint64(k), Time: r.Time, Type: r.Type,
				Priority: r.Priority, Data: r.Data, ReceivedAt: r.ReceivedAt,
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list events: %w", err)
	}
	return out, nil
}

// CountEvents returns how many events of boxID are stored, from the count
// kept in the box record.
func (s *Store) CountEvents(ctx context.Context, boxID string) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		r, err := getBox(tx, boxID)
		n = r.Events
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("boltstore: count events: %w", err)
	}
	return n, nil
}

// searchBudget bounds the events one SearchEvents call reads, so a page
// of a rare type over years of health reports costs tens of milliseconds
// and the search goes on in the next call, not one request of seconds.
const searchBudget = 20_000

// searchHead is one box's place in a search: its events with seq below
// bound are still to be read; ev is the next match when has is set (then
// bound is ev.Seq); done means nothing below bound matches.
type searchHead struct {
	box   string
	b     *bolt.Bucket
	bound uint64
	ev    store.Event
	has   bool
	done  bool
}

// SearchEvents merges each box's matching events, read backwards from the
// newest, by event time; see store.EventSearch. The cursor is base64 JSON
// of box id → the bound of what is left of that box (boxes done are left
// out), so a page resumes exactly where the last one stopped.
func (s *Store) SearchEvents(ctx context.Context, f store.EventFilter) ([]store.Event, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	bounds, err := checkSearch(f)
	if err != nil {
		return nil, "", fmt.Errorf("boltstore: search events: %w", err)
	}
	var out []store.Event
	var next string
	err = s.db.View(func(tx *bolt.Tx) error {
		heads, err := searchHeads(tx, f, bounds)
		if err != nil {
			return err
		}
		budget := searchBudget
		for len(out) < f.Limit {
			if !fillHeads(heads, f, &budget) {
				break // out of budget: the page ends where the merge is still sure
			}
			best := bestHead(heads)
			if best == nil {
				break
			}
			out = append(out, best.ev)
			best.has = false
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		// Look ahead, so a full page that happens to be the last says so
		// rather than linking to an empty one.
		fillHeads(heads, f, &budget)
		next, err = searchCursor(heads)
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("boltstore: search events: %w", err)
	}
	return out, next, nil
}

// checkSearch validates f and decodes its cursor (nil for none).
func checkSearch(f store.EventFilter) (map[string]uint64, error) {
	if f.Limit < 1 {
		return nil, fmt.Errorf("%w: limit %d, want at least 1", store.ErrBadFilter, f.Limit)
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.From.After(f.To) {
		return nil, fmt.Errorf("%w: from %s is after to %s", store.ErrBadFilter, f.From, f.To)
	}
	if f.Cursor == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(f.Cursor)
	var bounds map[string]uint64
	if err == nil {
		err = json.Unmarshal(raw, &bounds)
	}
	if err != nil || len(bounds) == 0 {
		return nil, fmt.Errorf("%w: malformed cursor", store.ErrBadFilter)
	}
	for box, bound := range bounds {
		if bound == 0 || (f.BoxID != "" && box != f.BoxID) {
			return nil, fmt.Errorf("%w: the cursor is not one of this search", store.ErrBadFilter)
		}
	}
	return bounds, nil
}

// searchHeads places each box of the search: at its newest event, or
// where the cursor left it.
func searchHeads(tx *bolt.Tx, f store.EventFilter, bounds map[string]uint64) ([]*searchHead, error) {
	var boxes []string
	switch {
	case f.BoxID != "":
		if _, err := getBox(tx, f.BoxID); err != nil {
			return nil, err
		}
		if bounds != nil && bounds[f.BoxID] == 0 {
			return nil, nil
		}
		boxes = []string{f.BoxID}
	case bounds != nil:
		// Boxes registered since the first page have only newer events.
		for box := range bounds {
			boxes = append(boxes, box)
		}
	default:
		err := tx.Bucket(bucketBoxes).ForEach(func(k, _ []byte) error {
			boxes = append(boxes, string(k))
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	heads := make([]*searchHead, 0, len(boxes))
	for _, box := range boxes {
		b, _, err := eventsOf(tx, box)
		if errors.Is(err, store.ErrNotFound) && bounds != nil {
			return nil, fmt.Errorf("%w: the cursor names an unknown box", store.ErrBadFilter)
		}
		if err != nil {
			return nil, err
		}
		bound := uint64(math.MaxUint64)
		if bounds != nil {
			bound = bounds[box]
		}
		heads = append(heads, &searchHead{box: box, b: b, bound: bound})
	}
	return heads, nil
}

// fillHeads finds the next match of every box lacking one; false if the
// budget ran out first.
func fillHeads(heads []*searchHead, f store.EventFilter, budget *int) bool {
	for _, h := range heads {
		if h.has || h.done {
			continue
		}
		if !h.fill(f, budget) {
			return false
		}
	}
	return true
}

// fill reads h's box backwards from its bound to the next match; false if
// the budget ran out first (bound then marks how far it read). A record
// that does not decode is skipped: one bad record must not hide the log.
func (h *searchHead) fill(f store.EventFilter, budget *int) bool {
	if h.bound == 0 {
		h.done = true
		return true
	}
	c := h.b.Cursor()
	var k, v []byte
	if h.bound == math.MaxUint64 {
		k, v = c.Last()
	} else if k, v = c.Seek(seqKey(h.bound)); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev() // Seek lands at the bound itself or above it
	}
	for ; k != nil; k, v = c.Prev() {
		if *budget <= 0 {
			return false
		}
		*budget--
		seq := binary.BigEndian.Uint64(k)
		h.bound = seq
		var r eventRecord
		if json.Unmarshal(v, &r) != nil || !matches(f, r) {
			continue
		}
		h.ev = store.Event{BoxID: h.box, Seq: seq, Time: r.Time, Type: r.Type, Priority: r.Priority, Data: r.Data, ReceivedAt: r.ReceivedAt}
		h.has = true
		return true
	}
	h.done = true
	return true
}

func matches(f store.EventFilter, r eventRecord) bool {
	return (f.Type == "" || r.Type == f.Type) &&
		(f.From.IsZero() || !r.Time.Before(f.From)) &&
		(f.To.IsZero() || r.Time.Before(f.To))
}

// bestHead is the box whose next match is the latest, equal times going
// to the lower box id; nil when every box is done.
func bestHead(heads []*searchHead) *searchHead {
	var best *searchHead
	for _, h := range heads {
		if !h.has {
			continue
		}
		if best == nil || h.ev.Time.After(best.ev.Time) || (h.ev.Time.Equal(best.ev.Time) && h.box < best.box) {
			best = h
		}
	}
	return best
}

// searchCursor encodes where each unfinished box resumes; "" when every
// box is done. A found but unshown match is read again next time.
func searchCursor(heads []*searchHead) (string, error) {
	bounds := map[string]uint64{}
	for _, h := range heads {
		switch {
		case h.has && h.ev.Seq == math.MaxUint64:
			bounds[h.box] = math.MaxUint64 // the bound that starts at the last event
		case h.has:
			bounds[h.box] = h.ev.Seq + 1
		case !h.done:
			bounds[h.box] = h.bound
		}
	}
	if len(bounds) == 0 {
		return "", nil
	}
	b, err := json.Marshal(bounds)
	if err != nil {
		return "", fmt.Errorf("encode cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
