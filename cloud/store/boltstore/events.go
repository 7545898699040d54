package boltstore

import (
	"context"
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
