package pgstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// incarnation is one incarnation of a box's log while a batch is stored.
type incarnation struct {
	n        uint32
	epoch    string // "" if none was ever sent for it
	wm       uint64
	diverged bool
}

// boxLog is the event-log columns of a box's row.
type boxLog struct {
	cur    incarnation
	events int64
	health uint64 // position of the box's latest box.health event
}

// lockLog reads and locks box id's event-log columns: the appends of one
// box are serialised on its row, those of different boxes run side by
// side.
func lockLog(ctx context.Context, tx pgx.Tx, id string) (boxLog, error) {
	var (
		l      boxLog
		inc    int32
		wm, hp int64
	)
	err := tx.QueryRow(ctx, `SELECT epoch, incarnation, watermark, events, health_pos FROM boxes WHERE id = $1 FOR UPDATE`, id).
		Scan(&l.cur.epoch, &inc, &wm, &l.events, &hp)
	if err := noRows(err, fmt.Sprintf("box %q", id)); err != nil {
		return boxLog{}, err
	}
	l.cur.n, l.cur.wm, l.health = uint32(max(inc, 1)), uint64(wm), uint64(hp)
	return l, nil
}

func getEpoch(ctx context.Context, tx pgx.Tx, box, epoch string) (incarnation, bool, error) {
	inc := incarnation{epoch: epoch}
	var (
		n  int32
		wm int64
	)
	err := tx.QueryRow(ctx, `SELECT incarnation, watermark, diverged FROM epochs WHERE box_id = $1 AND epoch = $2`, box, epoch).
		Scan(&n, &wm, &inc.diverged)
	if errors.Is(err, pgx.ErrNoRows) {
		return incarnation{}, false, nil
	}
	if err != nil {
		return incarnation{}, false, fmt.Errorf("epoch %s: %w", epoch, err)
	}
	inc.n, inc.wm = uint32(n), uint64(wm)
	return inc, true, nil
}

func putEpoch(ctx context.Context, tx pgx.Tx, box string, inc incarnation) error {
	_, err := tx.Exec(ctx, `INSERT INTO epochs (box_id, epoch, incarnation, watermark, diverged) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (box_id, epoch) DO UPDATE SET incarnation = excluded.incarnation, watermark = excluded.watermark,
		diverged = excluded.diverged`, box, inc.epoch, int32(inc.n), int64(inc.wm), inc.diverged)
	if err != nil {
		return fmt.Errorf("epoch %s: %w", inc.epoch, err)
	}
	return nil
}

// AppendEvents stores batch b of box boxID in one transaction, as
// store.Events says; it returns after the commit, which the server has
// made durable. The box's row, locked first, serialises the box's appends;
// the events, the watermark and the epoch change in that transaction.
func (s *Store) AppendEvents(ctx context.Context, boxID string, b store.Batch) (store.Appended, error) {
	if err := ctx.Err(); err != nil {
		return store.Appended{}, err
	}
	if err := b.Check(); err != nil {
		return store.Appended{}, fmt.Errorf("pgstore: append events of box %s: %w", boxID, err)
	}
	var out store.Appended
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if out, err = appendBatch(ctx, tx, boxID, b); err != nil {
			return err
		}
		return s.notifyFleet(ctx, tx)
	})
	if err != nil {
		return store.Appended{}, fmt.Errorf("pgstore: append events of box %s: %w", boxID, err)
	}
	return out, nil
}

// AppendMany stores the batches of bs in one transaction, each in a
// savepoint of its own, so a batch refused alone (an unknown box, a seq a
// store cannot keep) is rolled back alone; one commit makes the rest
// durable. The boxes' rows are locked in id order first, so two group
// commits over the same boxes cannot deadlock.
func (s *Store) AppendMany(ctx context.Context, bs []store.BoxBatch) ([]store.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]store.AppendResult, len(bs))
	ids := make([]string, 0, len(bs))
	for _, x := range bs {
		ids = append(ids, x.BoxID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		clear(out)
		stored := false
		found, err := lockBoxes(ctx, tx, ids)
		if err != nil {
			return err
		}
		for i, x := range bs {
			if err := x.Batch.Check(); err != nil {
				out[i].Err = fmt.Errorf("pgstore: append events of box %s: %w", x.BoxID, err)
				continue
			}
			if _, ok := found[x.BoxID]; !ok {
				out[i].Err = fmt.Errorf("pgstore: append events of box %s: box %q: %w", x.BoxID, x.BoxID, store.ErrNotFound)
				continue
			}
			sp, err := tx.Begin(ctx)
			if err != nil {
				return err
			}
			got, err := appendBatch(ctx, sp, x.BoxID, x.Batch)
			if err != nil {
				if rerr := sp.Rollback(ctx); rerr != nil {
					return rerr
				}
				out[i].Err = fmt.Errorf("pgstore: append events of box %s: %w", x.BoxID, err)
				continue
			}
			if err := sp.Commit(ctx); err != nil {
				return err
			}
			out[i].Appended = got
			stored = true
		}
		if !stored {
			return nil
		}
		// Once for the transaction, outside the savepoints: a notification
		// queued in one that is rolled back would be dropped with it.
		return s.notifyFleet(ctx, tx)
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: append %d batches: %w", len(bs), err)
	}
	return out, nil
}

func appendBatch(ctx context.Context, tx pgx.Tx, boxID string, b store.Batch) (store.Appended, error) {
	l, err := lockLog(ctx, tx, boxID)
	if err != nil {
		return store.Appended{}, err
	}
	cur := l.cur
	if cur.epoch != "" {
		rec, _, err := getEpoch(ctx, tx, boxID, cur.epoch)
		if err != nil {
			return store.Appended{}, err
		}
		cur.diverged = rec.diverged
	}

	// Which incarnation the batch belongs to.
	inc, adopt, fresh := cur, false, false
	if b.Epoch != "" && b.Epoch != cur.epoch {
		rec, known, err := getEpoch(ctx, tx, boxID, b.Epoch)
		switch {
		case err != nil:
			return store.Appended{}, err
		case known:
			inc = rec
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
	var stored map[uint64]bool
	if !fresh {
		held, err := heldEvents(ctx, tx, boxID, inc.n, b.Events)
		if err != nil {
			return store.Appended{}, err
		}
		conflict, vouched := conflicts(held, inc, b.Events, from)
		switch {
		case conflict && b.Epoch != "" && !adopt:
			if !inc.diverged {
				inc.diverged = true
				if err := putEpoch(ctx, tx, boxID, inc); err != nil {
					return store.Appended{}, err
				}
			}
			return store.Appended{Incarnation: inc.n, Watermark: inc.wm, From: from, Ack: vouched, Diverged: true}, nil
		case conflict:
			fresh, reason = true, protocol.ResetSeqsReused
		}
		stored = make(map[uint64]bool, len(held))
		for seq := range held {
			stored[seq] = true
		}
	}
	if adopt && !fresh {
		inc.epoch = b.Epoch
	}

	out := store.Appended{From: from}
	var rows [][]any
	if fresh {
		if cur.n >= store.MaxIncarnation {
			return store.Appended{}, fmt.Errorf("box %q has had %d incarnations, the most a store keeps", boxID, cur.n)
		}
		inc = incarnation{n: cur.n + 1, epoch: b.Epoch}
		reset := protocol.Reset{Reason: reason, OldEpoch: cur.epoch, NewEpoch: b.Epoch, OldIncarnation: cur.n,
			Incarnation: inc.n, OldWatermark: cur.wm, Floor: b.Floor}
		rows = append(rows, eventRow(boxID, store.ResetEvent(boxID, reset, b.ReceivedAt)))
		out.Reset = &reset
		stored = map[uint64]bool{}
	}
	var health *store.Event
	for _, e := range b.Events {
		if stored[e.Seq] {
			continue // stored before, or earlier in this batch
		}
		stored[e.Seq] = true
		e.Incarnation = inc.n
		rows = append(rows, eventRow(boxID, e))
		if pos := e.Position(); e.Type == protocol.EventHealth && pos > l.health {
			l.health, health = pos, &e
		}
	}
	if len(rows) > 0 {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"events"},
			[]string{"box_id", "incarnation", "seq", "time", "type", "priority", "data", "received_at"}, pgx.CopyFromRows(rows))
		if err != nil {
			return store.Appended{}, fmt.Errorf("store %d events: %w", len(rows), err)
		}
		l.events += int64(len(rows))
	}
	if b.Floor > 0 && b.Floor-1 > inc.wm {
		inc.wm = b.Floor - 1
	}
	if inc.wm, err = advance(ctx, tx, boxID, inc.n, inc.wm); err != nil {
		return store.Appended{}, err
	}
	if inc.epoch != "" {
		if err := putEpoch(ctx, tx, boxID, inc); err != nil {
			return store.Appended{}, err
		}
	}
	if inc.n >= cur.n {
		cur = inc
	}
	_, err = tx.Exec(ctx, `UPDATE boxes SET epoch = $2, incarnation = $3, watermark = $4, events = $5 WHERE id = $1`,
		boxID, cur.epoch, int32(cur.n), int64(cur.wm), l.events)
	if err != nil {
		return store.Appended{}, err
	}
	if health != nil {
		_, err = tx.Exec(ctx, `UPDATE boxes SET health_pos = $2, health_time = $3, health_data = $4 WHERE id = $1`,
			boxID, int64(l.health), health.Time, health.Data)
		if err != nil {
			return store.Appended{}, fmt.Errorf("health: %w", err)
		}
	}
	out.Incarnation, out.Watermark, out.Ack = inc.n, inc.wm, min(inc.wm, top)
	return out, nil
}

func eventRow(box string, e store.Event) []any {
	return []any{box, int32(max(e.Incarnation, 1)), int64(e.Seq), e.Time, e.Type, int32(e.Priority), e.Data, e.ReceivedAt}
}

// heldEvents returns the events incarnation inc holds at the seqs of evs.
func heldEvents(ctx context.Context, tx pgx.Tx, box string, inc uint32, evs []store.Event) (map[uint64]store.Event, error) {
	held := map[uint64]store.Event{}
	if len(evs) == 0 {
		return held, nil
	}
	seqs := make([]int64, 0, len(evs))
	for _, e := range evs {
		seqs = append(seqs, int64(e.Seq))
	}
	// The seq range bounds the index scan whatever plan the server picks
	// (a generic plan for "seq = ANY" alone reads the box's whole log).
	lo, hi := slices.Min(seqs), slices.Max(seqs)
	rows, err := tx.Query(ctx, `SELECT `+eventColumns+` FROM events WHERE box_id = $1 AND incarnation = $2
		AND seq >= $3 AND seq <= $4 AND seq = ANY($5)`, box, int32(inc), lo, hi, seqs)
	if err != nil {
		return nil, fmt.Errorf("read stored events: %w", err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Event, error) { return scanEvent(r) })
	if err != nil {
		return nil, fmt.Errorf("read stored events: %w", err)
	}
	for _, e := range got {
		held[e.Seq] = e
	}
	return held, nil
}

// conflicts compares the batch's events with what incarnation inc holds
// (see store.Events). vouched ends the run of the batch's events, from its
// lowest seq from, that inc holds as sent; from-1 if there is none.
func conflicts(held map[uint64]store.Event, inc incarnation, evs []store.Event, from uint64) (conflict bool, vouched uint64) {
	sorted := slices.SortedFunc(slices.Values(evs), func(a, b store.Event) int { return cmp.Compare(a.Seq, b.Seq) })
	vouched = max(from, 1) - 1
	run := true
	for _, e := range sorted {
		stored, ok := held[e.Seq]
		switch {
		case ok && store.SameEvent(stored, e):
			if run {
				vouched = e.Seq
			}
		case ok, inc.diverged, e.Seq <= inc.wm:
			conflict, run = true, false
		default:
			run = false // a new event: in a diverged batch it is not stored
		}
	}
	return conflict, vouched
}

// advanceChunk is how many seqs above the watermark one read looks at.
const advanceChunk = 1024

// advance returns the last seq of the contiguous run of incarnation inc's
// stored seqs from wm+1 (or wm).
func advance(ctx context.Context, tx pgx.Tx, box string, inc uint32, wm uint64) (uint64, error) {
	for wm < protocol.MaxSeq {
		rows, err := tx.Query(ctx, `SELECT seq FROM events WHERE box_id = $1 AND incarnation = $2 AND seq > $3
			ORDER BY seq LIMIT $4`, box, int32(inc), int64(wm), advanceChunk)
		if err != nil {
			return 0, fmt.Errorf("advance watermark: %w", err)
		}
		seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return 0, fmt.Errorf("advance watermark: %w", err)
		}
		for _, seq := range seqs {
			if uint64(seq) != wm+1 {
				return wm, nil
			}
			wm++
		}
		if len(seqs) < advanceChunk {
			break
		}
	}
	return wm, nil
}

const eventColumns = `box_id, incarnation, seq, time, type, priority, data, received_at`

func scanEvent(row pgx.Row) (store.Event, error) {
	var (
		e        store.Event
		inc, pri int32
		seq      int64
	)
	if err := row.Scan(&e.BoxID, &inc, &seq, &e.Time, &e.Type, &pri, &e.Data, &e.ReceivedAt); err != nil {
		return store.Event{}, err
	}
	e.Incarnation, e.Seq, e.Priority = uint32(inc), uint64(seq), int(pri)
	e.Time, e.ReceivedAt = utc(e.Time), utc(e.ReceivedAt)
	return e, nil
}

// boxExists returns ErrNotFound for an unknown box.
func boxExists(ctx context.Context, tx pgx.Tx, id string) error {
	var one int
	return noRows(tx.QueryRow(ctx, `SELECT 1 FROM boxes WHERE id = $1`, id).Scan(&one), fmt.Sprintf("box %q", id))
}

// ListEvents returns up to limit events of boxID with a position above
// after, in position order; limit must be positive.
func (s *Store) ListEvents(ctx context.Context, boxID string, after uint64, limit int) ([]store.Event, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("pgstore: list events: limit %d, must be positive", limit)
	}
	var out []store.Event
	err := s.read(ctx, "list events", func(tx pgx.Tx) error {
		if err := boxExists(ctx, tx, boxID); err != nil || after == math.MaxUint64 {
			return err
		}
		inc, seq := store.SplitPosition(after)
		rows, err := tx.Query(ctx, `SELECT `+eventColumns+` FROM events WHERE box_id = $1 AND (incarnation, seq) > ($2, $3)
			ORDER BY incarnation, seq LIMIT $4`, boxID, int32(inc), int64(seq), limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Event, error) { return scanEvent(r) })
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CountEvents returns how many events of boxID are stored, from the count
// kept in the box's row.
func (s *Store) CountEvents(ctx context.Context, boxID string) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT events FROM boxes WHERE id = $1`, boxID).Scan(&n)
	if err := noRows(err, fmt.Sprintf("box %q", boxID)); err != nil {
		return 0, fmt.Errorf("pgstore: count events: %w", err)
	}
	return uint64(n), nil
}

// searchHead is one box's place in a search: its events with a position
// below bound are still to be read (math.MaxUint64: all of them); buf
// holds matches read and not yet shown, newest first; exhausted means
// nothing below bound matches.
type searchHead struct {
	box       string
	bound     uint64
	buf       []store.Event
	exhausted bool
}

func (h *searchHead) done() bool { return len(h.buf) == 0 && h.exhausted }

// SearchEvents merges each box's matching events, read backwards from the
// newest, by event time; see store.EventSearch. The cursor is base64 JSON
// of box id → the bound of what is left of that box (boxes done are left
// out), the form boltstore's cursors take.
func (s *Store) SearchEvents(ctx context.Context, f store.EventFilter) ([]store.Event, string, error) {
	bounds, err := f.Bounds()
	if err != nil {
		return nil, "", fmt.Errorf("pgstore: search events: %w", err)
	}
	var (
		out  []store.Event
		next string
	)
	err = s.read(ctx, "search events", func(tx pgx.Tx) error {
		heads, err := searchHeads(ctx, tx, f, bounds)
		if err != nil {
			return err
		}
		for len(out) < f.Limit {
			if err := fillHeads(ctx, tx, heads, f); err != nil {
				return err
			}
			best := bestHead(heads)
			if best == nil {
				break
			}
			out = append(out, best.buf[0])
			best.buf = best.buf[1:]
		}
		// Look ahead, so a full page that happens to be the last says so
		// rather than linking to an empty one.
		if err := fillHeads(ctx, tx, heads, f); err != nil {
			return err
		}
		next, err = searchCursor(heads)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// searchHeads places each box of the search: at its newest event, or
// where the cursor left it.
func searchHeads(ctx context.Context, tx pgx.Tx, f store.EventFilter, bounds map[string]uint64) ([]*searchHead, error) {
	var boxes []string
	switch {
	case f.BoxID != "":
		if err := boxExists(ctx, tx, f.BoxID); err != nil {
			return nil, err
		}
		boxes = []string{f.BoxID}
	case bounds != nil:
		// Boxes registered since the first page have only newer events.
		for box := range bounds {
			boxes = append(boxes, box)
		}
		var known int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM boxes WHERE id = ANY($1)`, boxes).Scan(&known); err != nil {
			return nil, err
		}
		if known != len(boxes) {
			return nil, fmt.Errorf("%w: the cursor names an unknown box", store.ErrBadFilter)
		}
	default:
		rows, err := tx.Query(ctx, `SELECT id FROM boxes ORDER BY id COLLATE "C"`)
		if err != nil {
			return nil, err
		}
		if boxes, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return nil, err
		}
	}
	heads := make([]*searchHead, 0, len(boxes))
	for _, box := range boxes {
		bound := uint64(math.MaxUint64)
		if bounds != nil {
			bound = bounds[box]
		}
		heads = append(heads, &searchHead{box: box, bound: bound, exhausted: bound == 0})
	}
	return heads, nil
}

// upper is the (incarnation, seq) every position below bound is below.
func upper(bound uint64) (int32, int64) {
	if bound == math.MaxUint64 {
		return store.MaxIncarnation + 1, 0 // above every position, MaxUint64's too
	}
	inc, seq := store.SplitPosition(bound)
	return int32(inc), int64(seq)
}

// fillHeads reads, in one query, the next matches of every box that has
// none buffered and may have more: up to f.Limit+1 each, newest first.
func fillHeads(ctx context.Context, tx pgx.Tx, heads []*searchHead, f store.EventFilter) error {
	var (
		boxes []string
		incs  []int32
		seqs  []int64
		need  = map[string]*searchHead{}
	)
	for _, h := range heads {
		if len(h.buf) > 0 || h.exhausted {
			continue
		}
		inc, seq := upper(h.bound)
		boxes, incs, seqs = append(boxes, h.box), append(incs, inc), append(seqs, seq)
		need[h.box] = h
	}
	if len(boxes) == 0 {
		return nil
	}
	var from, to *time.Time
	if !f.From.IsZero() {
		from = &f.From
	}
	if !f.To.IsZero() {
		to = &f.To
	}
	n := f.Limit + 1
	rows, err := tx.Query(ctx, `SELECT e.box_id, e.incarnation, e.seq, e.time, e.type, e.priority, e.data, e.received_at
		FROM unnest($1::text[], $2::int[], $3::bigint[]) AS h(box, inc, seq)
		CROSS JOIN LATERAL (
			SELECT * FROM events e WHERE e.box_id = h.box AND (e.incarnation, e.seq) < (h.inc, h.seq)
				AND ($4 = '' OR e.type = $4) AND ($5::timestamptz IS NULL OR e.time >= $5)
				AND ($6::timestamptz IS NULL OR e.time < $6)
			ORDER BY e.incarnation DESC, e.seq DESC LIMIT $7) e`,
		boxes, incs, seqs, f.Type, from, to, n)
	if err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Event, error) { return scanEvent(r) })
	if err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	got := map[string]int{}
	for _, e := range evs {
		h := need[e.BoxID]
		h.buf = append(h.buf, e)
		got[e.BoxID]++
	}
	for box, h := range need {
		slices.SortFunc(h.buf, func(a, b store.Event) int { return cmp.Compare(b.Position(), a.Position()) })
		if len(h.buf) > 0 {
			h.bound = h.buf[len(h.buf)-1].Position()
		}
		h.exhausted = got[box] < n
	}
	return nil
}

// bestHead is the box whose next match is the latest, equal times going
// to the lower box id; nil when every box is done.
func bestHead(heads []*searchHead) *searchHead {
	var best *searchHead
	for _, h := range heads {
		if len(h.buf) == 0 {
			continue
		}
		if best == nil || h.buf[0].Time.After(best.buf[0].Time) || (h.buf[0].Time.Equal(best.buf[0].Time) && h.box < best.box) {
			best = h
		}
	}
	return best
}

// searchCursor encodes where each unfinished box resumes; "" when every
// box is done. Matches read but not shown are read again next time.
func searchCursor(heads []*searchHead) (string, error) {
	bounds := map[string]uint64{}
	for _, h := range heads {
		switch {
		case len(h.buf) > 0 && h.buf[0].Position() == math.MaxUint64:
			bounds[h.box] = math.MaxUint64 // the bound that starts at the last event
		case len(h.buf) > 0:
			bounds[h.box] = h.buf[0].Position() + 1
		case !h.done():
			bounds[h.box] = h.bound
		}
	}
	return store.EncodeCursor(bounds)
}
