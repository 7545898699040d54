// Package outbox is the box's durable event queue. Every event gets the
// next box-unique seq and is on disk (fsynced) before its producer is told
// it is stored; the uplink reads batches in seq order and deletes only what
// the township acknowledged. Past a byte cap, the oldest events of the
// lowest priority go first, and an event records how many went: loss is
// never silent. It knows nothing of MQTT.
//
// The queue's seqs live in an epoch: 128 random bits made with the file
// (or, for a file from before epochs, when it is first opened by a build
// that knows them) and kept in it, so a restart or a software update keeps
// the epoch and a new data directory gets a new one. Every batch names the
// epoch and an ack applies only to its own epoch. When the township says
// the epoch has diverged (the file is an older copy, restored from a
// backup), NewEpoch moves what is queued to a new epoch; seqs go on.
//
// Costs and invariants:
//   - One goroutine (Run) commits. It takes every append queued while the
//     previous commit ran, up to MaxCommit, into one bbolt transaction: two
//     fdatasyncs shared by all of them (group commit). bbolt's own Batch
//     would wait its 10 ms delay; this never waits for company.
//   - Seqs are never reused: the next seq is stored in the same
//     transaction as the events.
//   - Per-priority queues of (seq, size) live in memory, rebuilt on New, so
//     dropping and acking never rescan the bucket.
package outbox

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dalaba/dalaba/edge/clock"
	"github.com/dalaba/dalaba/protocol"
)

var (
	bucketEvents = []byte("outbox")
	bucketMeta   = []byte("outbox_meta")
	keyNext      = []byte("next_seq")
	keyEpoch     = []byte("epoch")
)

// Config bounds the queue.
type Config struct {
	MaxBytes  int64 // cap on queued bytes (keys and values); default 64 MiB
	MaxCommit int   // most appends folded into one commit; default 1000
}

// Deps are what the outbox uses.
type Deps struct {
	Logger *slog.Logger
	Clock  clock.Clock
}

// Entry is an event to append.
type Entry struct {
	Type     string
	Priority protocol.Priority
	Data     []byte // a JSON object, or empty
	Time     time.Time
}

// Stats describe the queue.
type Stats struct {
	Backlog  uint64 // events queued
	Bytes    uint64 // their keys and values
	FirstSeq uint64 // lowest queued seq, 0 when empty
	LastSeq  uint64 // highest queued seq, 0 when empty
}

// Batch is what Read returns: events to send and what the township needs
// with them.
type Batch struct {
	Epoch  string // the queue's epoch when the events were read
	Floor  uint64 // the lowest seq still queued, or the next seq when empty
	Events []protocol.Event
}

// Errors of Append, Ack and NewEpoch.
var (
	// ErrClosed is returned by Append once Run has ended.
	ErrClosed = errors.New("outbox: closed")
	// ErrOtherEpoch: an ack, or a request for a new epoch, names an epoch
	// the queue no longer has (or never had). Nothing was changed.
	ErrOtherEpoch = errors.New("outbox: not the queue's epoch")
	// ErrAckGap: an ack vouches for a range that starts above the lowest
	// seq still queued, so it does not cover every event it would delete.
	// Nothing was deleted.
	ErrAckGap = errors.New("outbox: the ack starts above the lowest queued seq")
)

type item struct {
	seq  uint64
	size uint32
	prio protocol.Priority
}

type request struct {
	e    Entry
	done chan result
}

type result struct {
	seq uint64
	err error
}

// Outbox is the queue.
type Outbox struct {
	db       *bolt.DB
	cfg      Config
	log      *slog.Logger
	clk      clock.Clock
	reqs     chan request
	appended chan struct{}
	stopped  chan struct{}

	wmu    sync.Mutex // held across every write transaction and its memory update
	mu     sync.Mutex // guards the fields below
	epoch  string
	next   uint64
	queues [protocol.PriorityCritical + 1][]item
	bytes  uint64
	count  uint64
}

// New opens the queue's buckets in db and rebuilds its state.
func New(db *bolt.DB, cfg Config, deps Deps) (*Outbox, error) {
	if db == nil || deps.Clock == nil {
		return nil, errors.New("outbox: db and clock are required")
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 64 << 20
	}
	if cfg.MaxCommit == 0 {
		cfg.MaxCommit = 1000
	}
	if cfg.MaxBytes < 64<<10 || cfg.MaxCommit < 1 {
		return nil, fmt.Errorf("outbox: max bytes %d (at least 64 KiB) or max commit %d (at least 1)", cfg.MaxBytes, cfg.MaxCommit)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	o := &Outbox{
		db: db, cfg: cfg, log: deps.Logger.With("component", "outbox"), clk: deps.Clock,
		reqs: make(chan request, 4*cfg.MaxCommit), appended: make(chan struct{}, 1), stopped: make(chan struct{}),
		next: 1,
	}
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketEvents)
		if err != nil {
			return err
		}
		m, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := m.Get(keyNext); len(v) == 8 {
			o.next = binary.BigEndian.Uint64(v)
		}
		o.epoch = string(m.Get(keyEpoch))
		if err := protocol.ValidateEpoch(o.epoch); err != nil {
			// A file from before epochs, a new file, or a damaged key: a
			// new epoch is always safe, as the township then keeps what
			// it receives apart from everything it holds.
			if o.epoch != "" {
				o.log.Warn("the stored epoch is damaged; starting a new one", "err", err)
			}
			o.epoch = newEpoch()
			if err := m.Put(keyEpoch, []byte(o.epoch)); err != nil {
				return err
			}
		}
		return b.ForEach(func(k, v []byte) error {
			if len(k) != 8 || len(v) < headerLen {
				return fmt.Errorf("corrupt entry %x", k)
			}
			seq := binary.BigEndian.Uint64(k)
			p := protocol.Priority(v[0])
			if p > protocol.PriorityCritical {
				p = protocol.PriorityCritical
			}
			o.queues[p] = append(o.queues[p], item{seq, uint32(len(k) + len(v)), p})
			o.bytes += uint64(len(k) + len(v))
			o.count++
			if seq >= o.next {
				o.next = seq + 1 // never reuse, even if the meta key lagged
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: open: %w", err)
	}
	return o, nil
}

// Value layout: priority (1 byte), time in Unix nanoseconds (8), type
// length (1), type, data. Compact, since every byte is written to the SD
// card at least once.
const headerLen = 1 + 8 + 1

func encode(e Entry) []byte {
	v := make([]byte, 0, headerLen+len(e.Type)+len(e.Data))
	v = append(v, byte(e.Priority))
	v = binary.BigEndian.AppendUint64(v, uint64(e.Time.UnixNano()))
	v = append(v, byte(len(e.Type)))
	v = append(v, e.Type...)
	return append(v, e.Data...)
}

func decode(seq uint64, v []byte) (protocol.Event, error) {
	if len(v) < headerLen || len(v) < headerLen+int(v[9]) {
		return protocol.Event{}, fmt.Errorf("outbox: corrupt event %d", seq)
	}
	n := int(v[9])
	e := protocol.Event{
		Seq:      seq,
		Priority: protocol.Priority(v[0]),
		Time:     time.Unix(0, int64(binary.BigEndian.Uint64(v[1:9]))).UTC(),
		Type:     string(v[headerLen : headerLen+n]),
	}
	if d := v[headerLen+n:]; len(d) > 0 {
		e.Data = append([]byte(nil), d...)
	}
	return e, nil
}

func key(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// Append queues e and returns its seq once the commit holding it is on
// disk. Bad input is refused before anything is written.
func (o *Outbox) Append(ctx context.Context, e Entry) (uint64, error) {
	if err := protocol.ValidateEvent(protocol.Event{Type: e.Type, Priority: e.Priority, Data: e.Data}); err != nil {
		return 0, fmt.Errorf("outbox: append: %w", err)
	}
	if e.Time.IsZero() {
		e.Time = o.clk.Now()
	}
	r := request{e: e, done: make(chan result, 1)}
	select {
	case o.reqs <- r:
	case <-o.stopped:
		return 0, ErrClosed
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case res := <-r.done:
		return res.seq, res.err
	case <-ctx.Done():
		// The commit may still land; the caller only loses the answer.
		return 0, ctx.Err()
	}
}

// Run commits queued appends until ctx ends; then it fails what is still
// queued and returns.
func (o *Outbox) Run(ctx context.Context) error {
	defer func() {
		close(o.stopped)
		for {
			select {
			case r := <-o.reqs:
				r.done <- result{err: ErrClosed}
			default:
				return
			}
		}
	}()
	batch := make([]request, 0, o.cfg.MaxCommit)
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-o.reqs:
			batch = append(batch[:0], r)
		}
	gather:
		for len(batch) < o.cfg.MaxCommit {
			select {
			case r := <-o.reqs:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		o.commit(batch)
	}
}

// commit writes batch in one transaction, drops past the cap in the same
// one, and answers each request after the fsync.
func (o *Outbox) commit(batch []request) {
	o.wmu.Lock()
	defer o.wmu.Unlock()
	o.mu.Lock()
	first := o.next
	o.mu.Unlock()
	var added []item
	var drop dropPlan
	err := o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		added = added[:0]
		seq := first
		for _, r := range batch {
			k, v := key(seq), encode(r.e)
			if err := b.Put(k, v); err != nil {
				return err
			}
			added = append(added, item{seq, uint32(len(k) + len(v)), r.e.Priority})
			seq++
		}
		drop = o.planDrop(added)
		if drop.count > 0 {
			for _, it := range drop.items {
				if err := b.Delete(key(it.seq)); err != nil {
					return err
				}
			}
			e := Entry{Type: protocol.EventOutboxDropped, Priority: protocol.PriorityCritical, Time: o.clk.Now(), Data: drop.data()}
			k, v := key(seq), encode(e)
			if err := b.Put(k, v); err != nil {
				return err
			}
			drop.record = item{seq, uint32(len(k) + len(v)), protocol.PriorityCritical}
		}
		// The next seq is not written here: on open it is one past the
		// highest key, and Ack records it when it deletes the highest key.
		// That keeps an append's commit to the pages it must touch.
		return nil
	})
	if err != nil {
		err = fmt.Errorf("outbox: commit %d events: %w", len(batch), err)
		o.log.Error("commit failed", "events", len(batch), "err", err)
		for _, r := range batch {
			r.done <- result{err: err}
		}
		return
	}
	o.mu.Lock()
	for _, it := range added {
		o.queues[it.prio] = append(o.queues[it.prio], it)
		o.bytes += uint64(it.size)
		o.count++
	}
	o.next = first + uint64(len(added))
	if drop.count > 0 {
		o.applyDrop(drop)
		o.queues[protocol.PriorityCritical] = append(o.queues[protocol.PriorityCritical], drop.record)
		o.bytes += uint64(drop.record.size)
		o.count++
		o.next++
	}
	o.mu.Unlock()
	if drop.count > 0 {
		o.log.Warn("outbox over its cap: dropped events", "dropped", drop.count, "first_seq", drop.firstSeq, "last_seq", drop.lastSeq, "max_prio", drop.maxPrio)
	}
	for i, r := range batch {
		r.done <- result{seq: first + uint64(i)}
	}
	select {
	case o.appended <- struct{}{}:
	default:
	}
}

type dropPlan struct {
	items             []item
	perPrio           [protocol.PriorityCritical + 1]int
	count             uint64
	firstSeq, lastSeq uint64
	maxPrio           protocol.Priority
	record            item
}

func (d dropPlan) data() []byte {
	return fmt.Appendf(nil, `{"count":%d,"first_seq":%d,"last_seq":%d,"max_prio":%d,"reason":"outbox over its disk cap"}`,
		d.count, d.firstSeq, d.lastSeq, d.maxPrio)
}

// planDrop decides, without changing memory, which events go when the
// queue plus added exceeds the cap: the oldest of the lowest priority first,
// until the queue is at 90% of the cap. The events being added now are
// candidates too, after everything older of their priority.
func (o *Outbox) planDrop(added []item) dropPlan {
	o.mu.Lock()
	defer o.mu.Unlock()
	var d dropPlan
	total := o.bytes
	for _, it := range added {
		total += uint64(it.size)
	}
	if total <= uint64(o.cfg.MaxBytes) {
		return d
	}
	target := uint64(o.cfg.MaxBytes) * 9 / 10
	// Entries added in this commit, by priority, behind the queued ones.
	var fresh [protocol.PriorityCritical + 1][]item
	for _, it := range added {
		fresh[it.prio] = append(fresh[it.prio], it)
	}
	for p := protocol.PriorityDebug; p <= protocol.PriorityCritical && total > target; p++ {
		q := append(append([]item(nil), o.queues[p]...), fresh[p]...)
		for _, it := range q {
			if total <= target {
				break
			}
			d.items = append(d.items, it)
			d.perPrio[p]++
			total -= uint64(it.size)
			d.maxPrio = p
		}
	}
	d.count = uint64(len(d.items))
	for i, it := range d.items {
		if i == 0 || it.seq < d.firstSeq {
			d.firstSeq = it.seq
		}
		d.lastSeq = max(d.lastSeq, it.seq)
	}
	return d
}

// applyDrop removes a committed drop plan from memory. Each priority's
// dropped events are the oldest of its queue, so they are its first
// perPrio[p] entries. Called with o.mu held.
func (o *Outbox) applyDrop(d dropPlan) {
	for p, n := range d.perPrio {
		for _, it := range o.queues[p][:n] {
			o.bytes -= uint64(it.size)
			o.count--
		}
		o.queues[p] = o.queues[p][n:]
	}
}

// Read returns up to maxEvents events (and about maxBytes of them, at
// least one) with seq above after, in seq order, with the epoch and the
// floor of the same moment: the lowest seq still queued, or the next seq
// when empty. Every seq below the floor was acknowledged or dropped.
func (o *Outbox) Read(after uint64, maxEvents, maxBytes int) (Batch, error) {
	var out Batch
	err := o.db.View(func(tx *bolt.Tx) error {
		out.Epoch = string(tx.Bucket(bucketMeta).Get(keyEpoch))
		c := tx.Bucket(bucketEvents).Cursor()
		if k, _ := c.First(); k != nil {
			out.Floor = binary.BigEndian.Uint64(k)
		}
		size := 0
		for k, v := c.Seek(key(after + 1)); k != nil && len(out.Events) < maxEvents; k, v = c.Next() {
			if len(out.Events) > 0 && size+len(v) > maxBytes {
				break
			}
			e, err := decode(binary.BigEndian.Uint64(k), v)
			if err != nil {
				return err
			}
			out.Events = append(out.Events, e)
			size += len(v) + 64 // JSON framing per event, roughly
		}
		return nil
	})
	if err != nil {
		return Batch{}, fmt.Errorf("outbox: read after %d: %w", after, err)
	}
	if out.Floor == 0 {
		o.mu.Lock()
		out.Floor = o.next
		o.mu.Unlock()
	}
	return out, nil
}

// Epoch is the queue's current epoch.
func (o *Outbox) Epoch() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.epoch
}

// Ack deletes every event with seq at or below through, on the word of an
// ack of epoch that vouches for [from, through]; it returns after fsync.
// Acking what is already gone is a no-op. ErrOtherEpoch if epoch is not
// the queue's, ErrAckGap if from is above the lowest queued seq at or
// below through: then nothing is deleted.
func (o *Outbox) Ack(epoch string, from, through uint64) (int, error) {
	return o.settle(epoch, from, through, false)
}

// NewEpoch does what Ack does, then moves every event still queued to a
// new epoch, in the same commit, and returns it. It is for an ack saying
// that epoch has diverged: the ack's range is deleted only if it covers
// the lowest queued seq (else only the epoch changes). ErrOtherEpoch if
// epoch is no longer the queue's: nothing is changed.
func (o *Outbox) NewEpoch(epoch string, from, through uint64) (string, int, error) {
	n, err := o.settle(epoch, from, through, true)
	if err != nil {
		return "", n, err
	}
	return o.Epoch(), n, nil
}

// settle is Ack and, with renew, NewEpoch.
func (o *Outbox) settle(epoch string, from, through uint64, renew bool) (int, error) {
	o.wmu.Lock()
	defer o.wmu.Unlock()
	deleted := 0
	next := ""
	err := o.db.Update(func(tx *bolt.Tx) error {
		deleted = 0
		m := tx.Bucket(bucketMeta)
		if string(m.Get(keyEpoch)) != epoch {
			return ErrOtherEpoch
		}
		if renew {
			next = newEpoch()
			if err := m.Put(keyEpoch, []byte(next)); err != nil {
				return err
			}
		}
		// Re-seek after each delete: bbolt's Next after Delete can skip a
		// key.
		c := tx.Bucket(bucketEvents).Cursor()
		k, _ := c.First()
		if k == nil || binary.BigEndian.Uint64(k) > through {
			return nil // nothing to delete
		}
		if from > binary.BigEndian.Uint64(k) {
			if renew {
				return nil // the new epoch still goes in
			}
			return ErrAckGap
		}
		var last uint64
		for ; k != nil && binary.BigEndian.Uint64(k) <= through; k, _ = c.First() {
			last = binary.BigEndian.Uint64(k)
			if err := c.Delete(); err != nil {
				return err
			}
			deleted++
		}
		// Seqs are never reused, even once every event is gone.
		return m.Put(keyNext, key(last+1))
	})
	if errors.Is(err, ErrOtherEpoch) || errors.Is(err, ErrAckGap) {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("outbox: ack through %d: %w", through, err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if renew {
		o.epoch = next
	}
	if deleted == 0 {
		return 0, nil
	}
	for p := range o.queues {
		q := o.queues[p]
		n := 0
		for n < len(q) && q[n].seq <= through {
			o.bytes -= uint64(q[n].size)
			o.count--
			n++
		}
		o.queues[p] = q[n:]
	}
	return deleted, nil
}

// newEpoch makes 128 random bits in the protocol's form. crypto/rand does
// not fail on the systems Go supports (it would end the process instead).
func newEpoch() string {
	b := make([]byte, protocol.EpochLen/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Stats reads the counters.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := Stats{Backlog: o.count, Bytes: o.bytes}
	for _, q := range o.queues {
		if len(q) == 0 {
			continue
		}
		if s.FirstSeq == 0 || q[0].seq < s.FirstSeq {
			s.FirstSeq = q[0].seq
		}
		s.LastSeq = max(s.LastSeq, q[len(q)-1].seq)
	}
	return s
}

// Appended is signalled after each commit that added events.
func (o *Outbox) Appended() <-chan struct{} { return o.appended }
