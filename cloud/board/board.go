package board

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
)

// Source is where the board reads the fleet (the store).
type Source interface {
	ListOverviews(ctx context.Context, window int, types []string) ([]store.Overview, error)
}

// Link is a box's connection as the township sees it now.
type Link struct {
	Online   bool
	LastSeen time.Time
}

// Deps are what the board uses.
type Deps struct {
	Source Source
	// Link tells a box's connection; nil takes what the store holds.
	Link func(store.Box) Link
	// MaxAge is how old a snapshot may be before a reader reads the
	// fleet again; 0 = DefaultMaxAge.
	MaxAge time.Duration
	// MinGap is how long after a read the fleet is read again when
	// Changed says it changed: a stream of changes costs one read per
	// MinGap at most. 0 = DefaultMinGap; above MaxAge it is MaxAge.
	MinGap time.Duration
	Now    func() time.Time // nil = time.Now
	Logger *slog.Logger     // nil = none
}

// DefaultMaxAge is the default age under which readers share a snapshot.
const DefaultMaxAge = 3 * time.Second

// DefaultMinGap is the default least time between a read and the next
// one that a change brings on.
const DefaultMinGap = time.Second

// Board hands out snapshots of the fleet.
type Board struct {
	d Deps
	// mu is held while a snapshot is read, so that readers arriving
	// together wait for one read rather than each doing it.
	mu   sync.Mutex
	snap *Snapshot
	seq  uint64
	// running is set while Run keeps the snapshot fresh; asked is when a
	// reader last asked for it.
	running bool
	asked   time.Time
	// gen counts Invalidate calls, so a read begun before one is not
	// installed after it.
	gen uint64
	// changes counts Changed calls (atomic, so Changed never waits for a
	// read); covered is the count when the current snapshot's read began:
	// while changes is past it the fleet may have changed since.
	changes atomic.Uint64
	covered uint64
	// nudge wakes Run on a change.
	nudge chan struct{}
}

// Idle is how long after the last reader Run stops reading the fleet.
const Idle = time.Minute

// New checks deps.
func New(deps Deps) (*Board, error) {
	if deps.Source == nil {
		return nil, errors.New("board: new: no Deps.Source")
	}
	if deps.MaxAge < 0 {
		return nil, fmt.Errorf("board: new: negative MaxAge %s", deps.MaxAge)
	}
	if deps.MinGap < 0 {
		return nil, fmt.Errorf("board: new: negative MinGap %s", deps.MinGap)
	}
	if deps.MaxAge == 0 {
		deps.MaxAge = DefaultMaxAge
	}
	if deps.MinGap == 0 {
		deps.MinGap = DefaultMinGap
	}
	deps.MinGap = min(deps.MinGap, deps.MaxAge)
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Link == nil {
		deps.Link = func(b store.Box) Link { return Link{Online: b.Online, LastSeen: b.LastSeen} }
	}
	return &Board{d: deps, nudge: make(chan struct{}, 1)}, nil
}

// Snapshot returns the fleet as read at most MaxAge ago, or MinGap
// after a Changed if Run is not running (while it runs, it reads the
// change in for the readers).
// While Run keeps it fresh, a reader never waits for a read but the
// first after Idle or Invalidate.
func (b *Board) Snapshot(ctx context.Context) (*Snapshot, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.d.Now()
	b.asked = now
	limit := b.d.MaxAge
	if b.running {
		// Run reads every MaxAge; a snapshot older than a few of them
		// means Run is stuck, and the reader reads for itself.
		limit = 3 * b.d.MaxAge
	} else if b.changed() {
		limit = b.d.MinGap
	}
	if b.snap != nil && now.Sub(b.snap.At) < limit {
		return b.snap, nil
	}
	return b.read(ctx)
}

// Changed tells the board that the fleet has changed (another replica
// wrote to the store): Run reads it MinGap after its last read, or at
// once if that is past, rather than MaxAge after, and only while someone
// reads the board. Changes told within a gap cost one read. It never
// waits, so a store's notifications can be handed straight to it.
func (b *Board) Changed() {
	b.changes.Add(1)
	select {
	case b.nudge <- struct{}{}:
	default: // Run is nudged already
	}
}

// changed says whether Changed was called since the current snapshot's
// read began. b.mu is held.
func (b *Board) changed() bool { return b.changes.Load() != b.covered }

// Run reads the fleet every MaxAge while someone has read the board
// within Idle, and MinGap after the last read when Changed says the
// fleet changed, so readers find a fresh snapshot instead of waiting for
// a read, until ctx ends.
func (b *Board) Run(ctx context.Context) error {
	b.mu.Lock()
	b.running = true
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.running = false
		b.mu.Unlock()
	}()
	t := time.NewTimer(b.d.MaxAge)
	defer t.Stop()
	var tried time.Time // when Run last began a read
	for {
		b.mu.Lock()
		now := b.d.Now()
		wait := b.due(now, tried)
		gen, seen := b.gen, b.changes.Load()
		b.mu.Unlock()
		if wait > 0 {
			t.Reset(wait)
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			case <-b.nudge:
			}
			continue
		}
		tried = now
		// Read without the lock: readers keep the current snapshot
		// meanwhile.
		ovs, err := b.d.Source.ListOverviews(ctx, Window, Types)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			b.d.Logger.Warn("reading the fleet for the board", "err", err)
			continue
		}
		b.mu.Lock()
		if b.gen == gen && (b.snap == nil || b.snap.At.Before(now)) {
			b.install(ovs, seen)
		}
		b.mu.Unlock()
	}
}

// due returns how long Run waits before its next read, 0 if it reads
// now; tried is when it last began one. b.mu is held.
func (b *Board) due(now, tried time.Time) time.Duration {
	if b.snap == nil || now.Sub(b.asked) >= Idle {
		// Nobody reads the board (the first reader after Idle or
		// Invalidate reads for itself): look again in a while.
		return b.d.MaxAge
	}
	gap := b.d.MaxAge
	if b.changed() {
		gap = b.d.MinGap
	}
	// From the last read, or the last attempt if it failed since: a
	// failing store is not asked more often than a working one.
	last := b.snap.At
	if tried.After(last) {
		last = tried
	}
	return max(last.Add(gap).Sub(now), 0)
}

// Fresh returns a snapshot read now: for a reader that has just changed
// a box and must see the change.
func (b *Board) Fresh(ctx context.Context) (*Snapshot, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.read(ctx)
}

// Invalidate makes the next Snapshot read the fleet again.
func (b *Board) Invalidate() {
	b.mu.Lock()
	b.snap = nil
	b.gen++
	b.mu.Unlock()
}

// read reads the fleet and installs it. b.mu is held.
func (b *Board) read(ctx context.Context) (*Snapshot, error) {
	seen := b.changes.Load()
	ovs, err := b.d.Source.ListOverviews(ctx, Window, Types)
	if err != nil {
		return nil, fmt.Errorf("board: read the fleet: %w", err)
	}
	return b.install(ovs, seen), nil
}

// install makes ovs the snapshot; seen is the count of Changed calls
// when their read began. b.mu is held.
func (b *Board) install(ovs []store.Overview, seen uint64) *Snapshot {
	b.covered = max(b.covered, seen)
	b.seq++
	s := &Snapshot{At: b.d.Now(), Seq: b.seq, Entries: make([]Entry, len(ovs))}
	for i, o := range ovs {
		l := b.d.Link(o.Box)
		e := Entry{Box: o.Box, Online: l.Online, LastSeen: l.LastSeen, State: Derive(o)}
		e.Problems = ProblemsOf(e)
		s.Entries[i] = e
	}
	b.snap = s
	return s
}

// Entry is one box on the board.
type Entry struct {
	Box      store.Box
	Online   bool
	LastSeen time.Time
	State    State
	// Problems are the Problem codes that apply, in their listed order;
	// none for a retired box, which nobody expects to work.
	Problems []string
}

// ProblemsOf lists e's problems from its box, link and state.
func ProblemsOf(e Entry) []string {
	if e.Box.Retired() {
		return nil
	}
	var ps []string
	if !e.Online {
		ps = append(ps, ProblemOffline)
	}
	if e.Box.AppliedRev != e.Box.DesiredRev {
		ps = append(ps, ProblemPending)
	}
	if e.State.Clock == ClockUntrusted {
		ps = append(ps, ProblemClock)
	}
	if e.State.DiskIsLow() {
		ps = append(ps, ProblemDisk)
	}
	if !AllOK(e.State.Speakers) {
		ps = append(ps, ProblemSpeakers)
	}
	if !AllOK(e.State.Cameras) {
		ps = append(ps, ProblemCameras)
	}
	return ps
}

// Snapshot is the fleet as read at one moment; readers share it and must
// not change it.
type Snapshot struct {
	At      time.Time
	Seq     uint64  // grows with every read: equal Seqs are one snapshot
	Entries []Entry // by box id

	// memo keeps what readers made of this snapshot (Memo).
	mu   sync.Mutex
	memo map[string]*memo
}

// Memo returns what build made of the snapshot under key, making it the
// first time: readers of one snapshot asking the same thing (the same
// page of the dashboard in the same language) share one answer. Readers
// of one key wait for its one build; build may call Memo for other keys.
func (s *Snapshot) Memo(key string, build func() (any, error)) (any, error) {
	s.mu.Lock()
	m, ok := s.memo[key]
	if !ok {
		if s.memo == nil {
			s.memo = map[string]*memo{}
		}
		m = &memo{}
		s.memo[key] = m
	}
	s.mu.Unlock()
	m.once.Do(func() { m.v, m.err = build() })
	return m.v, m.err
}

// memo is one key's answer, built once.
type memo struct {
	once sync.Once
	v    any
	err  error
}

func storeBox(id string) store.Box { return store.Box{ID: id} }

func unixNano(n int64) time.Time { return time.Unix(0, n) }
