// Package broadcast decides what plays where on the village box. Its
// arbiter owns the zones (groups of speakers): it starts an item when all of
// its zones are free, pre-empts lower-priority items for a higher one
// (emergency > live paging > scheduled > background), resumes or skips a
// pre-empted item as the item says, and records every playback for the
// play log. Besides clips it plays live items (paging): a stream of G.711
// frames fanned out to the speakers that take live audio. It knows
// speakers only through the speaker interface and nothing of MQTT.
package broadcast

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker"
	"github.com/dalaba/dalaba/edge/clock"
)

// Priority orders items; a higher one pre-empts a lower one.
type Priority int

// Priorities, lowest first.
const (
	Background Priority = iota
	Scheduled
	Paging
	Emergency
)

func (p Priority) String() string {
	return [...]string{"background", "scheduled", "paging", "emergency"}[min(max(int(p), 0), 3)]
}

// OnPreempt is what happens to an item a higher one interrupts.
type OnPreempt int

// Resume plays the rest after the interruption; Skip drops it.
const (
	Resume OnPreempt = iota
	Skip
)

// Item is one thing to play.
type Item struct {
	ID          string
	Priority    Priority
	Zones       []string
	Clip        audio.PCM
	OnPreempt   OnPreempt
	ScheduledAt time.Time // zero for play-now
	// Live makes this a live item: it plays the stream, not Clip, and is
	// never resumed (a pre-empted live item is skipped, whatever
	// OnPreempt says: what was said meanwhile is gone).
	Live *Live
	// Speakers, when set, are the only speakers of its zones it plays on
	// (a test tone on one horn); it still holds all of its zones while it
	// plays, so nothing else reaches those speakers meanwhile.
	Speakers []string
	// StartBy, when set, is the latest time (the arbiter's clock) it may
	// start: one still waiting for its zones then is dropped as skipped
	// rather than played when nobody waits for it any more.
	StartBy time.Time
}

// Live is the stream of a live item (paging). While the item plays, each
// frame goes at once to every speaker of its zones that takes live audio
// (speaker.Live); a speaker that does not is an error of the playback, and
// one that falls behind by liveQueue frames loses frames rather than delay
// the others. Frames sent while the item waits for its zones are dropped:
// it goes on the air with what comes after. The item has played when
// Frames closes.
type Live struct {
	Law speaker.Law
	// Frames is read only while the item plays: its sender must not
	// block on it.
	Frames <-chan speaker.Frame
	// Ended, if set, is called once, with the playback logged, when the
	// item has left the arbiter: played, stopped, pre-empted, or dropped
	// from the queue because the stream ended before its zones were
	// free. It is called from the arbiter's goroutine and must not block.
	// An item cut short by the end of Run gets no call.
	Ended func(Playback)
}

// liveQueue is how many frames (100 ms of 20 ms frames) a speaker of a
// live item may fall behind before it loses some: a speaker takes a frame
// in a socket write, so only a stalled one ever gets there.
const liveQueue = 5

// Results of a playback.
const (
	ResultPlayed    = "played"
	ResultPreempted = "preempted" // interrupted; a resumed playback follows
	ResultSkipped   = "skipped"   // interrupted and dropped, or stopped
	ResultFailed    = "failed"    // no speaker of its zones played it
)

// Playback is one entry of the play log.
type Playback struct {
	ItemID      string
	Priority    Priority
	ScheduledAt time.Time
	StartedAt   time.Time
	EndedAt     time.Time
	Zones       []string
	Speakers    []string          // the speakers that played it through
	Errors      map[string]string // speaker id → why it did not
	Result      string
	Resumed     bool          // this playback continues an interrupted one
	Offset      time.Duration // where in the clip it started
}

// Named is a speaker with its id.
type Named struct {
	ID      string
	Speaker speaker.Speaker
}

// Deps are what the arbiter uses.
type Deps struct {
	Logger *slog.Logger
	Clock  clock.Clock
	Log    func(Playback) // the play log; called from the arbiter's goroutine
}

// Arbiter schedules items onto zones.
type Arbiter struct {
	d      Deps
	log    *slog.Logger
	submit chan *entry
	stop   chan []string
	zonesC chan map[string][]Named
	done   chan *entry

	// Owned by Run's goroutine.
	zones  map[string][]Named
	queue  []*entry
	owner  map[string]*entry // zone → playing entry
	seq    uint64
	active sync.WaitGroup

	onAir atomic.Int32 // zones playing, as of the latest dispatch; read by OnAir
}

type entry struct {
	Item
	seq       uint64
	offset    time.Duration
	resumed   bool
	cancel    context.CancelFunc
	started   time.Time // box clock, for the log
	began     time.Time // monotonic, for the offset: the wall clock may jump mid-clip
	preempted bool
	stopped   bool
	played    []string
	errs      map[string]string
}

// New makes an arbiter over zones.
func New(zones map[string][]Named, deps Deps) (*Arbiter, error) {
	if deps.Clock == nil || deps.Log == nil {
		return nil, errors.New("broadcast: clock and play log are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return &Arbiter{
		d: deps, log: deps.Logger.With("component", "broadcast"),
		submit: make(chan *entry, 64), stop: make(chan []string, 8), zonesC: make(chan map[string][]Named, 1),
		done: make(chan *entry, 64), zones: zones, owner: map[string]*entry{},
	}, nil
}

// Submit queues an item; it starts as soon as its zones allow.
func (a *Arbiter) Submit(ctx context.Context, it Item) error {
	if it.Live != nil {
		if len(it.Zones) == 0 || it.Live.Frames == nil || (it.Live.Law != speaker.ULaw && it.Live.Law != speaker.ALaw) {
			return fmt.Errorf("broadcast: live item %s: needs zones and a stream of PCMU or PCMA", it.ID)
		}
	} else if len(it.Zones) == 0 || it.Clip.Validate() != nil {
		return fmt.Errorf("broadcast: item %s: needs zones and a valid clip", it.ID)
	}
	select {
	case a.submit <- &entry{Item: it}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop halts what plays on zones (every zone when none are named) and
// drops what is queued for them.
func (a *Arbiter) Stop(ctx context.Context, zones []string) error {
	select {
	case a.stop <- zones:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetZones replaces the zones (a new desired state). Items already playing
// finish on the speakers they started on.
func (a *Arbiter) SetZones(z map[string][]Named) {
	select {
	case <-a.zonesC: // an unapplied older set is replaced
	default:
	}
	a.zonesC <- z
}

// Run arbitrates until ctx ends; it then halts everything and waits.
func (a *Arbiter) Run(ctx context.Context) error {
	defer a.active.Wait()
	for {
		a.dispatch(ctx)
		a.onAir.Store(int32(len(a.owner)))
		select {
		case <-ctx.Done():
			for _, e := range a.owner {
				e.cancel()
			}
			return nil
		case e := <-a.submit:
			a.seq++
			e.seq = a.seq
			a.queue = append(a.queue, e)
		case z := <-a.zonesC:
			a.zones = z
		case zs := <-a.stop:
			a.halt(zs)
		case e := <-a.done:
			a.finish(e)
		}
	}
}

func covers(zs []string, z string) bool { return len(zs) == 0 || slices.Contains(zs, z) }

func (a *Arbiter) halt(zs []string) {
	kept := a.queue[:0]
	for _, e := range a.queue {
		if slices.ContainsFunc(e.Zones, func(z string) bool { return covers(zs, z) }) {
			a.record(e, ResultSkipped, a.d.Clock.Now())
			continue
		}
		kept = append(kept, e)
	}
	a.queue = kept
	for z, e := range a.owner {
		if covers(zs, z) && !e.stopped {
			e.stopped = true
			e.cancel()
		}
	}
}

// dispatch starts what can start and pre-empts what must make way, in
// priority order (then arrival). A waiting item reserves its zones, so a
// lower one cannot slip in ahead of it.
func (a *Arbiter) dispatch(ctx context.Context) {
	slices.SortStableFunc(a.queue, func(x, y *entry) int {
		if c := cmp.Compare(y.Priority, x.Priority); c != 0 {
			return c
		}
		return cmp.Compare(x.seq, y.seq)
	})
	reserved := map[string]bool{}
	kept := a.queue[:0]
	now := a.d.Clock.Now()
	for _, e := range a.queue {
		if !e.StartBy.IsZero() && now.After(e.StartBy) {
			e.started, e.errs = now, map[string]string{"item": "its zones were not free in time"}
			a.record(e, ResultSkipped, now)
			continue
		}
		free := true
		for _, z := range e.Zones {
			if reserved[z] {
				free = false
				continue
			}
			if o := a.owner[z]; o != nil {
				free = false
				if o.Priority < e.Priority && !o.preempted && !o.stopped {
					o.preempted = true
					o.cancel()
					a.log.Info("pre-empting", "item", o.ID, "by", e.ID, "zone", z)
				}
			}
		}
		if !free {
			for _, z := range e.Zones {
				reserved[z] = true
			}
			kept = append(kept, e)
			continue
		}
		a.start(ctx, e)
	}
	a.queue = kept
}

func (a *Arbiter) start(ctx context.Context, e *entry) {
	if e.Live != nil && !drained(e.Live.Frames) {
		// Its pager hung up while it waited: nothing goes on the air.
		e.started, e.errs = a.d.Clock.Now(), map[string]string{"item": "the live stream ended before its zones were free"}
		a.record(e, ResultSkipped, e.started)
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	e.cancel, e.started, e.began, e.played, e.errs = cancel, a.d.Clock.Now(), time.Now(), nil, map[string]string{}
	seen := map[string]bool{}
	var speakers []Named
	for _, z := range e.Zones {
		a.owner[z] = e
		for _, s := range a.zones[z] {
			if len(e.Speakers) > 0 && !slices.Contains(e.Speakers, s.ID) {
				continue
			}
			if !seen[s.ID] {
				seen[s.ID] = true
				speakers = append(speakers, s)
			}
		}
		if _, ok := a.zones[z]; !ok {
			e.errs["zone:"+z] = "unknown zone"
		}
	}
	if e.Live != nil {
		a.active.Add(1)
		go func() {
			defer a.active.Done()
			a.live(pctx, e, speakers)
			a.done <- e
		}()
		return
	}
	clip := e.Clip
	if e.offset > 0 {
		skip := int(e.offset*time.Duration(clip.Rate)/time.Second) * clip.Channels
		clip.Samples = clip.Samples[min(skip, len(clip.Samples)):]
	}
	a.active.Add(1)
	go func() {
		defer a.active.Done()
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, s := range speakers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.Speaker.Play(pctx, clip)
				mu.Lock()
				defer mu.Unlock()
				if err != nil && pctx.Err() == nil {
					e.errs[s.ID] = err.Error()
				} else if pctx.Err() == nil {
					e.played = append(e.played, s.ID)
				}
			}()
		}
		wg.Wait()
		a.done <- e
	}()
}

func (a *Arbiter) finish(e *entry) {
	now := a.d.Clock.Now()
	for _, z := range e.Zones {
		if a.owner[z] == e {
			delete(a.owner, z)
		}
	}
	e.cancel()
	switch {
	case e.stopped:
		a.record(e, ResultSkipped, now)
	case e.preempted && e.OnPreempt == Resume && e.Live == nil:
		a.record(e, ResultPreempted, now)
		e.offset += time.Since(e.began)
		e.resumed, e.preempted = true, false
		a.queue = append(a.queue, e) // keeps its seq: first in line at its priority
	case e.preempted:
		a.record(e, ResultSkipped, now)
	case len(e.played) == 0:
		a.record(e, ResultFailed, now)
	default:
		a.record(e, ResultPlayed, now)
	}
}

func (a *Arbiter) record(e *entry, result string, end time.Time) {
	p := Playback{
		ItemID: e.ID, Priority: e.Priority, ScheduledAt: e.ScheduledAt, StartedAt: e.started, EndedAt: end,
		Zones: e.Zones, Speakers: slices.Sorted(slices.Values(e.played)), Errors: e.errs, Result: result,
		Resumed: e.resumed, Offset: e.offset,
	}
	if result == ResultFailed {
		a.log.Warn("playback failed", "item", e.ID, "errors", e.errs)
	}
	a.d.Log(p)
	if e.Live != nil && e.Live.Ended != nil {
		e.Live.Ended(p) // a live item is never resumed: this is its last record
	}
}

// drained empties a live item's stream of what was sent before it started;
// false if the stream has ended.
func drained(frames <-chan speaker.Frame) bool {
	for {
		select {
		case _, ok := <-frames:
			if !ok {
				return false
			}
		default:
			return true
		}
	}
}

// live plays a live item on speakers until its stream ends or pctx does:
// it fans each frame out to a queue per speaker, which the speaker's
// PlayLive empties.
func (a *Arbiter) live(pctx context.Context, e *entry, speakers []Named) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var queues []chan speaker.Frame
	for _, s := range speakers {
		l, ok := s.Speaker.(speaker.Live)
		if !ok {
			mu.Lock()
			e.errs[s.ID] = "live paging needs an RTP speaker"
			mu.Unlock()
			continue
		}
		q := make(chan speaker.Frame, liveQueue)
		queues = append(queues, q)
		wg.Go(func() {
			err := l.PlayLive(pctx, e.Live.Law, q)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && pctx.Err() == nil {
				e.errs[s.ID] = err.Error()
			} else if pctx.Err() == nil {
				e.played = append(e.played, s.ID)
			}
		})
	}
	if len(queues) == 0 {
		return // nothing to play it on: failed, and off the air at once
	}
	lost := 0
	func() {
		for {
			select {
			case <-pctx.Done():
				return
			case f, ok := <-e.Live.Frames:
				if !ok {
					return
				}
				for _, q := range queues {
					select {
					case q <- f:
					default:
						lost++
					}
				}
			}
		}
	}()
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	if lost > 0 {
		a.log.Warn("live item: speakers fell behind and lost frames", "item", e.ID, "frames", lost)
	}
}

// OnAir reports whether anything plays on any zone now (as of the
// arbiter's latest turn): a software update waits for the air to be clear.
func (a *Arbiter) OnAir() bool { return a.onAir.Load() > 0 }
