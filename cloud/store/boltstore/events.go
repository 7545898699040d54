package boltstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// appendFill packs event pages fuller than bbolt's default half: seqs
// arrive mostly in order, so pages are rarely split in the middle again.
const appendFill = 0.9

// eventRecord is the stored form of a store.Event under its position key.
type eventRecord struct {
	Time       time.Time `json:"time"`
	Type       string    `json:"type"`
	Priority   int       `json:"prio"`
	Data       []byte    `json:"data,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
}

func (r eventRecord) event(box string, key []byte) store.Event {
	inc, seq := store.SplitPosition(binary.BigEndian.Uint64(key))
	return store.Event{BoxID: box, Incarnation: inc, Seq: seq, Time: r.Time, Type: r.Type,
		Priority: r.Priority, Data: r.Data, ReceivedAt: r.ReceivedAt}
}

func posKey(inc uint32, seq uint64) []byte { return u64(store.Position(inc, seq)) }

// epochRecord is what the store keeps of each epoch a box has sent, under
// epochs/<box id>/<epoch>. The current incarnation's watermark is in the
// box record too, for GetBox.
type epochRecord struct {
	Incarnation uint32 `json:"incarnation"`
	Watermark   uint64 `json:"watermark"`
	Diverged    bool   `json:"diverged,omitempty"`
}

// incarnation is one incarnation of a box's log while a batch is stored.
type incarnation struct {
	n        uint32
	epoch    string // "" if none was ever sent for it
	wm       uint64
	diverged bool
}

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

func getEpoch(b *bolt.Bucket, epoch string) (epochRecord, bool, error) {
	v := b.Get([]byte(epoch))
	if v == nil {
		return epochRecord{}, false, nil
	}
	var r epochRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return epochRecord{}, false, fmt.Errorf("epoch %s: decode: %w", epoch, err)
	}
	return r, true, nil
}

func putEpoch(b *bolt.Bucket, inc incarnation) error {
	v, err := json.Marshal(epochRecord{Incarnation: inc.n, Watermark: inc.wm, Diverged: inc.diverged})
	if err != nil {
		return fmt.Errorf("epoch %s: encode: %w", inc.epoch, err)
	}
	return b.Put([]byte(inc.epoch), v)
}

// AppendEvents stores batch b of box boxID in one transaction, as
// store.Events says; it returns after the commit's fsync. The box record
// and the epoch's record change in the same transaction as the events, so
// an ack made from the result never covers what a crash could lose.
func (s *Store) AppendEvents(ctx context.Context, boxID string, b store.Batch) (store.Appended, error) {
	if err := ctx.Err(); err != nil {
		return store.Appended{}, err
	}
	if err := b.Check(); err != nil {
		return store.Appended{}, fmt.Errorf("boltstore: append events of box %s: %w", boxID, err)
	}
	var out store.Appended
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		out, err = appendBatch(tx, boxID, b)
		return err
	})
	if err != nil {
		return store.Appended{}, fmt.Errorf("boltstore: append events of box %s: %w", boxID, err)
	}
	return out, nil
}

// AppendMany stores every batch of bs in one transaction, as
// store.Events says: one commit and its fsync for them all. A batch that
// fails inside the transaction for a reason of its own other than an
// unknown box would leave the transaction half written, so then each
// batch is stored in a transaction of its own instead.
func (s *Store) AppendMany(ctx context.Context, bs []store.BoxBatch) ([]store.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]store.AppendResult, len(bs))
	for i, x := range bs {
		if err := x.Batch.Check(); err != nil {
			out[i].Err = fmt.Errorf("boltstore: append events of box %s: %w", x.BoxID, err)
		}
	}
	errAlone := errors.New("a batch failed alone")
	err := s.db.Update(func(tx *bolt.Tx) error {
		for i, x := range bs {
			if out[i].Err != nil && !errors.Is(out[i].Err, store.ErrNotFound) {
				continue // refused before the transaction
			}
			got, err := appendBatch(tx, x.BoxID, x.Batch)
			switch {
			case errors.Is(err, store.ErrNotFound):
				out[i].Err = fmt.Errorf("boltstore: append events of box %s: %w", x.BoxID, err)
			case err != nil:
				return errAlone
			default:
				out[i].Appended = got
			}
		}
		return nil
	})
	if errors.Is(err, errAlone) {
		for i, x := range bs {
			if out[i].Err == nil || errors.Is(out[i].Err, store.ErrNotFound) {
				out[i].Appended, out[i].Err = s.AppendEvents(ctx, x.BoxID, x.Batch)
			}
		}
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: append %d batches: %w", len(bs), err)
	}
	return out, nil
}

func appendBatch(tx *bolt.Tx, boxID string, b store.Batch) (store.Appended, error) {
	evb, r, err := eventsOf(tx, boxID)
	if err != nil {
		return store.Appended{}, err
	}
	epb, err := tx.Bucket(bucketEpochs).CreateBucketIfNotExists([]byte(boxID))
	if err != nil {
		return store.Appended{}, fmt.Errorf("epochs bucket: %w", err)
	}
	cur := incarnation{n: r.incarnation(), epoch: r.Epoch, wm: r.Watermark}
	if cur.epoch != "" {
		rec, _, err := getEpoch(epb, cur.epoch)
		if err != nil {
			return store.Appended{}, err
		}
		cur.diverged = rec.Diverged
	}

	// Which incarnation the batch belongs to.
	inc, adopt, fresh := cur, false, false
	if b.Epoch != "" && b.Epoch != cur.epoch {
		rec, known, err := getEpoch(epb, b.Epoch)
		switch {
		case err != nil:
			return store.Appended{}, err
		case known:
			inc = incarnation{n: rec.Incarnation, epoch: b.Epoch, wm: rec.Watermark, diverged: rec.Diverged}
		case cur.epoch == "":
			adopt = true
		default:
			fresh = true
		}
	}
	from, top := b.Span()
	reason := protocol.ResetNewEpoch
	if cur.diverged {
		reason = protocol.ResetDiverged
	}
	if !fresh {
		conflict, vouched := conflicts(evb, inc, b.Events, from)
		switch {
		case conflict && b.Epoch != "" && !adopt:
			if !inc.diverged {
				inc.diverged = true
				if err := putEpoch(epb, inc); err != nil {
					return store.Appended{}, err
				}
			}
			return store.Appended{Incarnation: inc.n, Watermark: inc.wm, From: from, Ack: vouched, Diverged: true}, nil
		case conflict:
			fresh, reason = true, protocol.ResetSeqsReused
		}
	}
	if adopt && !fresh {
		inc.epoch = b.Epoch
	}

	out := store.Appended{From: from}
	evb.FillPercent = appendFill
	if fresh {
		if cur.n >= store.MaxIncarnation {
			return store.Appended{}, fmt.Errorf("box %q has had %d incarnations, the most a store keeps", boxID, cur.n)
		}
		inc = incarnation{n: cur.n + 1, epoch: b.Epoch}
		reset := protocol.Reset{Reason: reason, OldEpoch: cur.epoch, NewEpoch: b.Epoch, OldIncarnation: cur.n,
			Incarnation: inc.n, OldWatermark: cur.wm, Floor: b.Floor}
		if err := putEvent(evb, store.ResetEvent(boxID, reset, b.ReceivedAt)); err != nil {
			return store.Appended{}, err
		}
		r.Events++
		out.Reset = &reset
	}
	for _, e := range b.Events {
		e.Incarnation = inc.n
		if evb.Get(posKey(inc.n, e.Seq)) != nil {
			continue
		}
		if err := putEvent(evb, e); err != nil {
			return store.Appended{}, err
		}
		r.Events++
		if pos := e.Position(); e.Type == protocol.EventHealth && pos > r.HealthPos {
			r.HealthPos, r.HealthTime, r.HealthData = pos, e.Time, e.Data
		}
	}
	if b.Floor > 0 && b.Floor-1 > inc.wm {
		inc.wm = b.Floor - 1
	}
	inc.wm = advance(evb.Cursor(), inc.n, inc.wm)
	if inc.epoch != "" {
		if err := putEpoch(epb, inc); err != nil {
			return store.Appended{}, err
		}
	}
	if inc.n >= cur.n {
		r.Incarnation, r.Epoch, r.Watermark = inc.n, inc.epoch, inc.wm
	}
	if err := putBox(tx, boxID, r); err != nil {
		return store.Appended{}, err
	}
	out.Incarnation, out.Watermark, out.Ack = inc.n, inc.wm, min(inc.wm, top)
	return out, nil
}

func putEvent(b *bolt.Bucket, e store.Event) error {
	v, err := json.Marshal(eventRecord{Time: e.Time, Type: e.Type, Priority: e.Priority, Data: e.Data, ReceivedAt: e.ReceivedAt})
	if err != nil {
		return fmt.Errorf("seq %d: encode: %w", e.Seq, err)
	}
	if err := b.Put(posKey(e.Incarnation, e.Seq), v); err != nil {
		return fmt.Errorf("seq %d: %w", e.Seq, err)
	}
	return nil
}

// conflicts compares the batch's events with what incarnation inc holds
// (see store.Events). vouched ends the run of the batch's events, from its
// lowest seq from, that inc holds as sent; from-1 if there is none.
func conflicts(evb *bolt.Bucket, inc incarnation, evs []store.Event, from uint64) (conflict bool, vouched uint64) {
	sorted := slices.SortedFunc(slices.Values(evs), func(a, b store.Event) int { return cmp.Compare(a.Seq, b.Seq) })
	vouched = max(from, 1) - 1
	run := true
	for _, e := range sorted {
		v := evb.Get(posKey(inc.n, e.Seq))
		same := false
		if v != nil {
			var r eventRecord
			// A record that does not decode cannot be shown to be this
			// event: a conflict, which keeps the batch apart from it.
			same = json.Unmarshal(v, &r) == nil && store.SameEvent(r.event("", posKey(inc.n, e.Seq)), e)
		}
		switch {
		case same:
			if run {
				vouched = e.Seq
			}
		case v != nil, inc.diverged, e.Seq <= inc.wm:
			conflict, run = true, false
		default:
			run = false // a new event: in a diverged batch it is not stored
		}
	}
	return conflict, vouched
}

// advance walks the cursor from wm+1 while the next key is incarnation
// inc's next seq, and returns the last seq of that contiguous run (or wm).
func advance(c *bolt.Cursor, inc uint32, wm uint64) uint64 {
	for k, _ := c.Seek(posKey(inc, wm+1)); k != nil && wm < protocol.MaxSeq && bytes.Equal(k, posKey(inc, wm+1)); k, _ = c.Next() {
		wm++
	}
	return wm
}

// ListEvents returns up to limit events of boxID with a position above
// after, in position order; limit must be positive.
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
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			var r eventRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("event %x: decode: %w", k, err)
			}
			out = append(out, r.event(boxID, k))
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

// searchHead is one box's place in a search: its events with a position
// below bound are still to be read; ev is the next match when has is set
// (then bound is its position); done means nothing below bound matches.
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
	bounds, err := f.Bounds()
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
	} else if k, _ = c.Seek(u64(h.bound)); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev() // Seek lands at the bound itself or above it
	}
	for ; k != nil; k, v = c.Prev() {
		if *budget <= 0 {
			return false
		}
		*budget--
		h.bound = binary.BigEndian.Uint64(k)
		var r eventRecord
		if json.Unmarshal(v, &r) != nil || !matches(f, r) {
			continue
		}
		h.ev = r.event(h.box, k)
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
		case h.has && h.ev.Position() == math.MaxUint64:
			bounds[h.box] = math.MaxUint64 // the bound that starts at the last event
		case h.has:
			bounds[h.box] = h.ev.Position() + 1
		case !h.done:
			bounds[h.box] = h.bound
		}
	}
	return store.EncodeCursor(bounds)
}
