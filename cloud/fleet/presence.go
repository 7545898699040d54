package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dalaba/dalaba/cloud/broker"
	"github.com/dalaba/dalaba/cloud/store"
)

// Presence is which boxes are connected to the township, judged from
// what no box can forge, and what each box last reported, kept in memory
// and written to the store's Online, LastSeen and reported fields at most
// every FlushEvery, every box that changed in one write.
//
// With the embedded broker it follows the broker's own session events
// (broker.Sessions): a box is online from its connection's CONNACK until
// that connection ends, however it ends. What a box publishes on its
// status topic is then only information: a client with a box's
// credentials that publishes a retained "online" and leaves is offline
// at once.
//
// An external broker tells the service nothing of sessions, so there
// presence follows traffic: a box is online while messages it publishes
// keep arriving live, each within Timeout of the last; a live "offline"
// status (its will, or its goodbye) ends that at once. A retained
// message, delivered because the service subscribed rather than because
// the box spoke, never counts. A box sends its reported state every health
// interval, so Timeout is a small multiple of that. The limit: a client
// with a box's credentials that publishes and leaves cleanly shows online
// until Timeout has passed.
//
// Nothing survives a restart as "online": the store's Online is
// rewritten from what this run has seen (with traffic, a box last heard
// within Timeout before the restart stays online until that runs out).
//
// Replicas (several services on one store and one broker) each hear a
// share of the traffic, so with traffic the store's word is taken where
// it is newer: a box whose stored LastSeen is later than what this
// replica heard was heard by another, which wrote whether it is online.
// A flush then keeps that rather than writing this replica's older view,
// and Link reports it.
type Presence struct {
	timeout time.Duration // 0: sessions
	log     *slog.Logger
	st      store.Boxes
	now     func() time.Time

	mu    sync.Mutex
	boxes map[string]*link
	dirty map[string]struct{}
	wake  chan struct{} // buffered 1: something is dirty
}

type link struct {
	online   bool
	since    time.Time // when the box came online
	lastSeen time.Time // last connect or live message
	limited  uint64    // messages the broker dropped over the box's limit

	// The box's last reported state, not yet written when report is set.
	report     bool
	reportGen  uint64 // counts reports, so a flush clears only what it wrote
	rev        uint64
	backlog    uint64
	reportedAt time.Time // zero: the report was retained, keep the stored time

	// What the store holds, to write only what changed.
	storedOnline bool
	storedSeen   time.Time
}

// Link is a box's connection as the township sees it now.
type Link struct {
	Online bool
	// Since is when the box came online; zero when offline.
	Since time.Time
	// LastSeen is the box's last connect or live message.
	LastSeen time.Time
	// RateLimited counts the box's messages the broker dropped over its
	// publish limit since the service started.
	RateLimited uint64
}

// PresenceConfig says where presence comes from.
type PresenceConfig struct {
	// Timeout zero: from the broker's session events (the embedded
	// broker). Positive: from traffic, a box counting as online for
	// Timeout after each live message (an external broker).
	Timeout time.Duration
}

// PresenceDeps are what presence uses.
type PresenceDeps struct {
	Logger *slog.Logger
	Store  store.Boxes
	Now    func() time.Time // nil = time.Now
}

var _ broker.Sessions = (*Presence)(nil)

// NewPresence validates; it starts nothing. Until Run runs, what it
// hears is kept in memory only.
func NewPresence(cfg PresenceConfig, deps PresenceDeps) (*Presence, error) {
	var errs []error
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s is negative", cfg.Timeout))
	}
	if deps.Logger == nil {
		errs = append(errs, errors.New("no Deps.Logger"))
	}
	if deps.Store == nil {
		errs = append(errs, errors.New("no Deps.Store"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("fleet: presence: %w", err)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Presence{
		timeout: cfg.Timeout, log: deps.Logger.With("component", "presence"), st: deps.Store, now: deps.Now,
		boxes: map[string]*link{}, dirty: map[string]struct{}{}, wake: make(chan struct{}, 1),
	}, nil
}

// fromTraffic reports whether presence follows traffic, not sessions.
func (p *Presence) fromTraffic() bool { return p.timeout > 0 }

// get returns box's link, made on first use; p.mu is held.
func (p *Presence) get(box string) *link {
	l := p.boxes[box]
	if l == nil {
		l = &link{}
		p.boxes[box] = l
	}
	return l
}

// mark queues box's link for the store, if the store lags; p.mu is held.
func (p *Presence) mark(box string, l *link) {
	if !l.report && l.online == l.storedOnline && l.lastSeen.Sub(l.storedSeen) < seenGranularity {
		return
	}
	p.dirty[box] = struct{}{}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// up and down change a box's presence; p.mu is held.
func (p *Presence) up(box string, l *link, now time.Time) {
	if !l.online {
		l.online, l.since = true, now
		p.log.Info("box online", "box_id", box)
	}
	l.lastSeen = now
	p.mark(box, l)
}

func (p *Presence) down(box string, l *link, why string) {
	if l.online {
		l.online, l.since = false, time.Time{}
		p.log.Info("box offline", "box_id", box, "reason", why)
	}
	p.mark(box, l)
}

// Connected implements broker.Sessions.
func (p *Presence) Connected(box string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up(box, p.get(box), p.now())
}

// Disconnected implements broker.Sessions.
func (p *Presence) Disconnected(box string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down(box, p.get(box), "connection ended")
}

// Limited implements broker.Sessions.
func (p *Presence) Limited(box string, n uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.get(box).limited += n
}

// Reported records box's reported state: the rev it applied and its
// outbox backlog, and when it reported (at; zero for a retained copy,
// which keeps the time stored). Like presence it is kept in memory and
// written with the next flush, many boxes in one write.
func (p *Presence) Reported(box string, rev, backlog uint64, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.get(box)
	l.report, l.rev, l.backlog = true, rev, backlog
	l.reportGen++
	if !at.IsZero() {
		l.reportedAt = at
	}
	p.mark(box, l)
}

// Heard records a message box published. A retained one (sent because the
// service subscribed) tells nothing of now and is ignored. A live one moves
// LastSeen; with traffic it also makes the box online, unless it is the
// box's "offline" status (offline true), which makes it offline.
func (p *Presence) Heard(box string, retained, offline bool) {
	if retained {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	l, now := p.get(box), p.now()
	switch {
	case !p.fromTraffic():
		if !offline {
			l.lastSeen = now
			p.mark(box, l)
		}
	case offline:
		// The goodbye is the box's latest word, which replicas that
		// heard it earlier take from the store.
		l.lastSeen = now
		p.down(box, l, "offline status")
	default:
		p.up(box, l, now)
	}
}

// Link returns box b's presence: what this run has seen, the store's
// LastSeen when that is later.
func (p *Presence) Link(b store.Box) Link {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := Link{LastSeen: b.LastSeen}
	l := p.boxes[b.ID]
	if l != nil {
		out.Online, out.Since, out.RateLimited = l.online, l.since, l.limited
		if l.lastSeen.After(out.LastSeen) {
			out.LastSeen = l.lastSeen
		}
	}
	if p.fromTraffic() && (l == nil || b.LastSeen.After(l.lastSeen)) {
		out.Online, out.Since = p.storedOnline(b, p.now()), time.Time{}
	}
	return out
}

// storedOnline is whether the store says box b is online: as written by
// whichever replica heard it last, and only until Timeout after that.
func (p *Presence) storedOnline(b store.Box, now time.Time) bool {
	return b.Online && now.Sub(b.LastSeen) < p.timeout
}

// Run writes presence to the store as it changes, and with traffic takes
// boxes offline as their Timeout runs out, until ctx ends. It first
// rewrites what the store says of every box, so no box stays online from
// an earlier run.
func (p *Presence) Run(ctx context.Context) error {
	if err := p.load(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it began: nothing to write
		}
		return err
	}
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		next := p.expire()
		p.flush(ctx)
		// What changes within FlushEvery waits for one write: a thousand
		// boxes connecting at once are one transaction, not a thousand.
		select {
		case <-ctx.Done():
			return p.stop(ctx)
		case <-time.After(FlushEvery):
		}
		next -= FlushEvery
		if next <= 0 {
			continue
		}
		t.Reset(next)
		select {
		case <-ctx.Done():
			return p.stop(ctx)
		case <-p.wake:
		case <-t.C:
		}
	}
}

// stop writes what changed since the last flush, with a short grace.
func (p *Presence) stop(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushGrace)
	defer cancel()
	p.flush(fctx)
	return nil
}

// FlushEvery is how often presence and reported state are written, at most.
const FlushEvery = time.Second

// flushGrace bounds the last store writes at shutdown.
const flushGrace = 2 * time.Second

// load learns what the store says and queues every box it holds as
// online for rewriting. With traffic, a box last heard within Timeout is
// online until that runs out.
func (p *Presence) load(ctx context.Context) error {
	boxes, err := p.st.ListBoxes(ctx)
	if err != nil {
		return fmt.Errorf("fleet: presence: %w", err)
	}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range boxes {
		l := p.get(b.ID)
		l.storedOnline, l.storedSeen = b.Online, b.LastSeen
		if l.lastSeen.Before(b.LastSeen) {
			l.lastSeen = b.LastSeen
		}
		if p.fromTraffic() && b.Online && !l.online && now.Sub(b.LastSeen) < p.timeout {
			l.online, l.since = true, b.LastSeen
		}
		p.mark(b.ID, l)
	}
	return nil
}

// expire takes boxes offline whose Timeout ran out and returns how long
// until the next one does (an hour with none, or with sessions).
func (p *Presence) expire() time.Duration {
	next := time.Hour
	if !p.fromTraffic() {
		return next
	}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for box, l := range p.boxes {
		if !l.online {
			continue
		}
		left := l.lastSeen.Add(p.timeout).Sub(now)
		if left <= 0 {
			p.down(box, l, "nothing heard for "+p.timeout.String())
			continue
		}
		next = min(next, left)
	}
	return next
}

// flush writes every dirty box's presence and reported state to the
// store, flushChunk boxes a transaction. A box the store does not hold is
// forgotten (it was removed, or is unknown on a shared broker); a failed
// write is retried at the next flush.
func (p *Presence) flush(ctx context.Context) {
	p.mu.Lock()
	boxes := make([]string, 0, len(p.dirty))
	for box := range p.dirty {
		boxes = append(boxes, box)
	}
	clear(p.dirty)
	p.mu.Unlock()
	for len(boxes) > 0 {
		n := min(len(boxes), flushChunk)
		p.flushSome(ctx, boxes[:n])
		boxes = boxes[n:]
	}
}

// flushChunk bounds one flush transaction.
const flushChunk = 2000

// written is what one flush wrote of a box.
type written struct {
	online    bool
	seen      time.Time
	report    bool
	reportGen uint64
}

func (p *Presence) flushSome(ctx context.Context, boxes []string) {
	fns := make(map[string]func(*store.Box) error, len(boxes))
	var mu sync.Mutex // the store promises nothing of which goroutine runs fns
	wrote := make(map[string]written, len(boxes))
	for _, box := range boxes {
		fns[box] = func(b *store.Box) error {
			p.mu.Lock()
			l := p.get(box)
			if p.fromTraffic() && b.LastSeen.After(l.lastSeen) {
				// Another replica heard the box later: its word stands.
				l.lastSeen = b.LastSeen
				switch on := p.storedOnline(*b, p.now()); {
				case on && !l.online:
					l.online, l.since = true, b.LastSeen
				case !on && l.online:
					l.online, l.since = false, time.Time{}
				}
			}
			w := written{online: l.online, seen: l.lastSeen, report: l.report, reportGen: l.reportGen}
			// Counted as stored from here on, so that a change made while
			// the write commits is measured against what it writes and
			// queued again; a failed write queues the box again anyway.
			l.storedOnline, l.storedSeen = w.online, w.seen
			b.Online = l.online
			if l.lastSeen.After(b.LastSeen) {
				b.LastSeen = l.lastSeen
			}
			if l.report {
				b.AppliedRev, b.OutboxBacklog = l.rev, l.backlog
				if !l.reportedAt.IsZero() {
					b.ReportedAt = l.reportedAt
				}
			}
			p.mu.Unlock()
			mu.Lock()
			wrote[box] = w
			mu.Unlock()
			return nil
		}
	}
	missing, err := p.st.UpdateBoxes(ctx, fns)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		for _, box := range boxes {
			p.dirty[box] = struct{}{}
		}
		if ctx.Err() == nil {
			p.log.Warn("presence not recorded", "boxes", len(boxes), "err", err)
		}
		return
	}
	for _, box := range missing {
		delete(p.boxes, box)
		delete(wrote, box)
	}
	for box, w := range wrote {
		l := p.get(box)
		// A report that came in after the write stays to be written.
		if w.report && l.reportGen == w.reportGen {
			l.report = false
		}
	}
}
