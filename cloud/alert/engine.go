package alert

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/notify"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Defaults of Config.
const (
	DefaultTick         = 5 * time.Second
	DefaultStartupGrace = 3 * time.Minute
	// maxNoticeAge: a playback that failed longer ago than this, heard of
	// only now (a box's backlog after days offline), is in the event log
	// but not worth a message.
	maxNoticeAge = 24 * time.Hour
	// maxSending bounds the deliveries in flight at once.
	maxSending = 8
)

// Config tunes the engine; the zero value is ready to use.
type Config struct {
	// Tick is how often conditions are judged and due deliveries sent.
	Tick time.Duration
	// StartupGrace is how long after the service starts, or its MQTT
	// connection comes back, a box missing from presence is not yet
	// taken for offline: the time boxes need to reconnect.
	StartupGrace time.Duration
	// Backoff spaces a delivery's attempts; zero: notify.DefaultBackoff.
	Backoff notify.Backoff
	// Link is the console's alerts page, added to every message; "" none.
	Link string
	// Location shows times in messages; nil: Asia/Shanghai.
	Location *time.Location
	// FromStore: the events are judged as read from the store on every
	// tick, not as this process stores them, because other replicas store
	// them too and only the replica holding the lease runs the engine.
	FromStore bool
}

// Store is what the engine keeps and reads.
type Store interface {
	store.Alerts
	ListBoxes(ctx context.Context) ([]store.Box, error)
	GetPlan(ctx context.Context, boxID string) (store.Plan, error)
	ListEvents(ctx context.Context, boxID string, after uint64, limit int) ([]store.Event, error)
}

// Presence says whether a box is connected (fleet.Presence, the fleet).
type Presence interface {
	Link(b store.Box) fleet.Link
}

// Deps are what the engine uses.
type Deps struct {
	Logger   *slog.Logger
	Store    Store
	Presence Presence
	// Connected reports whether the service's MQTT connection is up;
	// presence is not trusted as "offline" while it is down, nor for
	// StartupGrace after it comes back. Nil: always up.
	Connected func() bool
	Sender    *notify.Sender   // nil: notify.NewSender(nil, Now)
	Now       func() time.Time // nil: time.Now
	Sleep     notify.Sleeper   // nil: notify.RealSleep
}

// Engine watches the conditions and sends the alerts. Make it with New;
// Run it once.
type Engine struct {
	cfg Config
	d   Deps
	log *slog.Logger

	mu      sync.Mutex
	conds   map[string]*cond
	health  map[string]reading // each box's latest box.health
	notices []noticeEvent
	lastPos map[string]uint64 // the last event position judged, per box
	wake    chan struct{}
	// lastOnline is, per box, the last tick that found it online: a box
	// is offline since then, or since its last sign of life, whichever
	// is later (a box says little between its minutely reports).
	lastOnline map[string]time.Time

	// Owned by Run.
	trustFrom time.Time
	wasDown   bool

	sendMu  sync.Mutex
	sending map[string]bool // "seq/channel" in flight

	open             atomic.Int64
	sent, failedSend atomic.Uint64
}

// cond is a condition the engine watches, mirrored in the store as an
// incident.
type cond struct {
	store.Incident
	cleared bool // no longer holds: to be resolved (open) or forgotten
	stored  bool // the store holds it as it is
}

func (c *cond) isOpen() bool { return !c.OpenedAt.IsZero() }

type reading struct {
	h  protocol.Health
	at time.Time // when the township heard it
}

// noticeEvent is a one-off to tell: a playback that failed, an update
// rolled back.
type noticeEvent struct {
	rule, box string
	ev        store.Event
}

// New checks deps; it starts nothing.
func New(cfg Config, deps Deps) (*Engine, error) {
	var errs []error
	if cfg.Tick < 0 || cfg.StartupGrace < 0 {
		errs = append(errs, fmt.Errorf("negative tick %s or startup grace %s", cfg.Tick, cfg.StartupGrace))
	}
	if deps.Logger == nil || deps.Store == nil || deps.Presence == nil {
		errs = append(errs, errors.New("Deps.Logger, Store and Presence are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("alert: new: %w", err)
	}
	cfg.Tick = cmp.Or(cfg.Tick, DefaultTick)
	if cfg.StartupGrace == 0 {
		cfg.StartupGrace = DefaultStartupGrace
	}
	if cfg.Backoff == (notify.Backoff{}) {
		cfg.Backoff = notify.DefaultBackoff()
	}
	if cfg.Location == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			loc = time.FixedZone("CST", 8*3600)
		}
		cfg.Location = loc
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Sender == nil {
		deps.Sender = notify.NewSender(nil, deps.Now)
	}
	if deps.Sleep == nil {
		deps.Sleep = notify.RealSleep
	}
	return &Engine{
		cfg: cfg, d: deps, log: deps.Logger.With("component", "alert"),
		conds: map[string]*cond{}, health: map[string]reading{}, lastPos: map[string]uint64{}, lastOnline: map[string]time.Time{},
		wake: make(chan struct{}, 1), sending: map[string]bool{},
	}, nil
}

// key names a condition: its rule, box and subject.
func key(rule, box, subject string) string {
	if subject == "" {
		return rule + "/" + box
	}
	return rule + "/" + box + "/" + subject
}

// Observe takes a batch of a box's events once stored (ingest's Stored):
// it notes what they say of the box's devices and one-offs to tell, and
// returns at once; Run acts on it. Events at or before a position already
// judged (a batch sent again) are passed over.
func (e *Engine) Observe(box string, _ store.Appended, evs []store.Event) {
	if !e.cfg.FromStore {
		e.judgeAll(box, evs)
	}
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// judgeAll judges box's events above the last position judged.
func (e *Engine) judgeAll(box string, evs []store.Event) {
	now := e.d.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	last := e.lastPos[box]
	for _, ev := range evs {
		pos := ev.Position()
		if pos <= last {
			continue
		}
		last = pos
		e.judge(box, ev, now)
	}
	e.lastPos[box] = last
}

// catchUpPage is how many events one store read of catchUp takes.
const catchUpPage = 1000

// catchUp judges, with FromStore, the events the store holds above what
// was judged of each box whose log has moved past it.
func (e *Engine) catchUp(ctx context.Context, boxes []store.Box) {
	for _, b := range boxes {
		top := store.Position(b.Incarnation, b.Watermark)
		for {
			e.mu.Lock()
			last := e.lastPos[b.ID]
			e.mu.Unlock()
			if top <= last {
				break
			}
			evs, err := e.d.Store.ListEvents(ctx, b.ID, last, catchUpPage)
			if err != nil {
				if ctx.Err() == nil {
					e.log.Error("reading the events to judge", "box_id", b.ID, "err", err)
				}
				return
			}
			if len(evs) == 0 {
				break
			}
			e.judgeAll(b.ID, evs)
			if len(evs) < catchUpPage {
				break
			}
		}
	}
}

// judge notes one event; e.mu is held.
func (e *Engine) judge(box string, ev store.Event, now time.Time) {
	switch ev.Type {
	case protocol.EventSpeakerHealth:
		var h protocol.SpeakerHealth
		if json.Unmarshal(ev.Data, &h) != nil || h.ID == "" {
			return
		}
		e.set(key(RuleSpeakerFailed, box, h.ID), RuleSpeakerFailed, box, h.ID, !h.Reachable, h.Error, now)
	case protocol.EventCameraOffline, protocol.EventCameraOnline:
		var c protocol.CameraState
		if json.Unmarshal(ev.Data, &c) != nil || c.Camera == "" {
			return
		}
		e.set(key(RuleCameraOffline, box, c.Camera), RuleCameraOffline, box, c.Camera, ev.Type == protocol.EventCameraOffline, c.Error, now)
	case protocol.EventHealth:
		var h protocol.Health
		if json.Unmarshal(ev.Data, &h) == nil {
			e.health[box] = reading{h: h, at: now}
		}
	case protocol.EventPlayed:
		var pl protocol.PlayLog
		if json.Unmarshal(ev.Data, &pl) == nil && pl.Result == "failed" {
			e.notices = append(e.notices, noticeEvent{rule: RulePlaybackFailed, box: box, ev: ev})
		}
	case protocol.EventSkipped:
		var s protocol.Skip
		if json.Unmarshal(ev.Data, &s) == nil && s.Reason != "quiet_hours" {
			e.notices = append(e.notices, noticeEvent{rule: RulePlaybackFailed, box: box, ev: ev})
		}
	case protocol.EventUpdateRolledBack:
		e.notices = append(e.notices, noticeEvent{rule: RuleUpdateRolledBack, box: box, ev: ev})
	}
}

// set makes the condition k hold (since now, unless it held already) or
// clear; e.mu is held.
func (e *Engine) set(k, rule, box, subject string, holds bool, detail string, since time.Time) {
	c := e.conds[k]
	switch {
	case holds && c == nil:
		e.conds[k] = &cond{Incident: store.Incident{Key: k, Rule: rule, BoxID: box, Subject: subject, Since: since, Detail: detail}}
	case holds:
		c.cleared = false
		if detail != "" {
			c.Detail = detail
		}
	case c != nil:
		c.cleared = true
	}
}

// Open is how many incidents are open now.
func (e *Engine) Open() int { return int(e.open.Load()) }

// Deliveries counts the messages delivered and given up since the start.
func (e *Engine) Deliveries() (sent, failed uint64) { return e.sent.Load(), e.failedSend.Load() }

// Run loads the incidents, then judges the conditions and sends what is
// due every Tick (and as soon as events come) until ctx ends; it returns
// once its deliveries have stopped. A delivery cut short stays pending,
// for the next start.
func (e *Engine) Run(ctx context.Context) error {
	if err := e.load(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while loading: a clean stop, not a failure
		}
		return err
	}
	e.trustFrom = e.d.Now().Add(e.cfg.StartupGrace)
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, maxSending)
	t := time.NewTicker(e.cfg.Tick)
	defer t.Stop()
	for {
		e.tick(ctx)
		e.sendDue(ctx, &wg, sem)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-e.wake:
		}
	}
}

// load takes the stored incidents and each box's judged position.
func (e *Engine) load(ctx context.Context) error {
	incs, err := e.d.Store.ListIncidents(ctx)
	if err != nil {
		return fmt.Errorf("alert: %w", err)
	}
	boxes, err := e.d.Store.ListBoxes(ctx)
	if err != nil {
		return fmt.Errorf("alert: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, inc := range incs {
		if _, ok := e.conds[inc.Key]; !ok {
			e.conds[inc.Key] = &cond{Incident: inc, stored: true}
		}
	}
	// What the store held before this start was judged by the run that
	// stored it.
	for _, b := range boxes {
		e.lastPos[b.ID] = max(e.lastPos[b.ID], store.Position(b.Incarnation, b.Watermark))
	}
	return nil
}

// presenceTrusted reports whether a box missing from presence may be
// taken for offline now.
func (e *Engine) presenceTrusted(now time.Time) bool {
	if e.d.Connected != nil && !e.d.Connected() {
		e.wasDown = true
		return false
	}
	if e.wasDown {
		e.wasDown = false
		e.trustFrom = maxTime(e.trustFrom, now.Add(e.cfg.StartupGrace))
	}
	return !now.Before(e.trustFrom)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// step is what a tick does with one condition.
type step struct {
	c    cond // a copy, as it was judged
	kind int
}

const (
	stepPersist = iota + 1 // store it, held
	stepOpen               // open it: its alert and the incident
	stepResolve            // it cleared after opening: its alert, the incident gone
	stepForget             // it cleared while held: the incident gone, no alert
)

// tick judges every condition against its rule and acts.
func (e *Engine) tick(ctx context.Context) {
	settings, err := e.d.Store.GetAlertSettings(ctx)
	if err != nil {
		e.log.Error("reading the alert settings", "err", err)
		return
	}
	boxes, err := e.d.Store.ListBoxes(ctx)
	if err != nil {
		e.log.Error("reading the boxes", "err", err)
		return
	}
	if e.cfg.FromStore {
		e.catchUp(ctx, boxes)
	}
	rules := map[string]store.AlertRule{}
	for _, r := range Rules(settings) {
		rules[r.Kind] = r
	}
	byID := map[string]store.Box{}
	now := e.d.Now()
	trusted := e.presenceTrusted(now)

	e.mu.Lock()
	for _, b := range boxes {
		byID[b.ID] = b
		l := e.d.Presence.Link(b)
		switch seen := maxTime(l.LastSeen, e.lastOnline[b.ID]); {
		case l.Online:
			e.lastOnline[b.ID] = now
			e.set(key(RuleBoxOffline, b.ID, ""), RuleBoxOffline, b.ID, "", false, "", now)
		case trusted && !seen.IsZero():
			e.set(key(RuleBoxOffline, b.ID, ""), RuleBoxOffline, b.ID, "", true, "", seen)
		}
	}
	disk := rules[RuleDiskLow].Threshold
	for box, r := range e.health {
		h := r.h
		low := h.DiskTotalBytes > 0 && h.DiskFreeBytes*100 < uint64(disk)*h.DiskTotalBytes
		detail := ""
		if h.DiskTotalBytes > 0 {
			detail = fmt.Sprintf("剩余 %d%%，%.1f GB", h.DiskFreeBytes*100/h.DiskTotalBytes, float64(h.DiskFreeBytes)/(1<<30))
		}
		e.set(key(RuleDiskLow, box, ""), RuleDiskLow, box, "", low, detail, r.at)
		e.set(key(RuleClockUntrusted, box, ""), RuleClockUntrusted, box, "", !h.ClockTrusted, "", r.at)
	}
	var steps []step
	open := 0
	for _, c := range e.conds {
		if _, ok := byID[c.BoxID]; !ok {
			// The box is no longer registered: nothing left to tell.
			steps = append(steps, step{c: *c, kind: stepForget})
			continue
		}
		r := rules[c.Rule]
		switch {
		case c.cleared && c.isOpen():
			steps = append(steps, step{c: *c, kind: stepResolve})
		case c.cleared:
			steps = append(steps, step{c: *c, kind: stepForget})
		case !c.isOpen() && r.Enabled && now.Sub(c.Since) >= r.HoldDown && (c.Rule != RuleBoxOffline || trusted):
			steps = append(steps, step{c: *c, kind: stepOpen})
		case !c.stored:
			steps = append(steps, step{c: *c, kind: stepPersist})
		}
		if c.isOpen() {
			open++
		}
	}
	notices := e.notices
	e.notices = nil
	e.mu.Unlock()

	for _, s := range steps {
		if ctx.Err() != nil {
			return
		}
		e.act(ctx, s, rules[s.c.Rule], settings, byID[s.c.BoxID], now)
	}
	for _, n := range notices {
		e.tellNotice(ctx, n, rules[n.rule], settings, byID[n.box], now)
	}
	e.mu.Lock()
	open = 0
	for _, c := range e.conds {
		if c.isOpen() {
			open++
		}
	}
	e.mu.Unlock()
	e.open.Store(int64(open))
}

// act carries out one step, then brings the condition up to date: unless
// it changed meanwhile (Observe runs beside the tick), it is as the step
// left it.
func (e *Engine) act(ctx context.Context, s step, r store.AlertRule, settings store.AlertSettings, b store.Box, now time.Time) {
	c := s.c.Incident
	switch s.kind {
	case stepPersist:
		if err := e.d.Store.PutIncident(ctx, c); err != nil {
			e.log.Error("storing an incident", "incident", c.Key, "err", err)
			return
		}
		e.update(c.Key, func(x *cond) { x.stored = true })
	case stepForget:
		if s.c.stored {
			if err := e.d.Store.DeleteIncident(ctx, c.Key); err != nil {
				e.log.Error("deleting an incident", "incident", c.Key, "err", err)
				return
			}
		}
		e.forget(c.Key, !s.c.cleared)
	case stepOpen:
		title, text := opened(c.Rule, e.about(ctx, b, c), c.Since, now, c.Detail, e.cfg.Location)
		c.OpenedAt = now
		a := e.newAlert(store.AlertOpened, c, r, settings, title, text, now)
		rec, err := e.d.Store.RecordAlert(ctx, a, &c, "")
		if err != nil {
			e.log.Error("recording an alert", "incident", c.Key, "err", err)
			return
		}
		e.log.Warn("incident opened", "incident", c.Key, "box_id", c.BoxID, "seq", rec.Seq, "since", c.Since)
		e.update(c.Key, func(x *cond) { x.OpenedAt, x.OpenSeq, x.stored = now, rec.Seq, true })
	case stepResolve:
		title, text := resolved(c.Rule, e.about(ctx, b, c), c.Since, now)
		a := e.newAlert(store.AlertResolved, c, r, settings, title, text, now)
		if e.quietBoth(ctx, c.OpenSeq, &a) {
			e.log.Info("incident opened and cleared within quiet hours; neither message sent", "incident", c.Key)
		}
		rec, err := e.d.Store.RecordAlert(ctx, a, nil, c.Key)
		if err != nil {
			e.log.Error("recording a recovery", "incident", c.Key, "err", err)
			return
		}
		e.log.Info("incident resolved", "incident", c.Key, "box_id", c.BoxID, "seq", rec.Seq)
		e.mu.Lock()
		if x := e.conds[c.Key]; x != nil {
			if x.cleared {
				delete(e.conds, c.Key)
			} else {
				// It came back while the recovery was recorded: a new
				// condition, from now.
				x.Incident = store.Incident{Key: c.Key, Rule: c.Rule, BoxID: c.BoxID, Subject: c.Subject, Since: now, Detail: x.Detail}
				x.stored = false
			}
		}
		e.mu.Unlock()
	}
}

func (e *Engine) update(k string, fn func(*cond)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.conds[k]; x != nil {
		fn(x)
	}
}

// forget drops condition k once its incident is gone: if it cleared (or
// always, for a box no longer registered); one that came back meanwhile
// is stored again at the next tick.
func (e *Engine) forget(k string, always bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.conds[k]
	switch {
	case x == nil:
	case x.cleared || always:
		delete(e.conds, k)
	default:
		x.stored = false
	}
}

// about names the village and the device of an incident.
func (e *Engine) about(ctx context.Context, b store.Box, inc store.Incident) about {
	a := about{village: cmp.Or(b.Name, inc.BoxID), device: inc.Subject}
	if inc.Subject == "" {
		return a
	}
	p, err := e.d.Store.GetPlan(ctx, inc.BoxID)
	if err != nil {
		return a
	}
	switch inc.Rule {
	case RuleSpeakerFailed:
		for _, s := range p.Broadcast.Speakers {
			if s.ID == inc.Subject && s.Name != "" {
				a.device = s.Name
			}
		}
	case RuleCameraOffline:
		for _, c := range p.Cameras.Cameras {
			if c.ID == inc.Subject && c.Name != "" {
				a.device = c.Name
			}
		}
	}
	return a
}

// tellNotice records and sends a one-off, when its rule is on and it is
// recent enough to matter.
func (e *Engine) tellNotice(ctx context.Context, n noticeEvent, r store.AlertRule, settings store.AlertSettings, b store.Box, now time.Time) {
	if !r.Enabled || b.ID == "" || now.Sub(n.ev.Time) > maxNoticeAge {
		return
	}
	v := about{village: cmp.Or(b.Name, b.ID)}
	var title, text, subject string
	switch n.ev.Type {
	case protocol.EventPlayed:
		var pl protocol.PlayLog
		_ = json.Unmarshal(n.ev.Data, &pl) // judge decoded it already
		reason := "喇叭没有响"
		if ids := slices.Sorted(maps.Keys(pl.Errors)); len(ids) > 0 {
			reason = ids[0] + "：" + pl.Errors[ids[0]]
		}
		subject = pl.ScheduleID
		title, text = playFailed(v, cmp.Or(pl.Name, e.scheduleName(ctx, b.ID, pl.ScheduleID), pl.ItemID), cmp.Or(pl.ScheduledAt, pl.StartedAt), reason, now, e.cfg.Location)
	case protocol.EventSkipped:
		var s protocol.Skip
		_ = json.Unmarshal(n.ev.Data, &s) // judge decoded it already
		subject = s.ScheduleID
		title, text = playFailed(v, cmp.Or(e.scheduleName(ctx, b.ID, s.ScheduleID), s.ScheduleID), s.At, skipReason(s.Reason), now, e.cfg.Location)
	case protocol.EventUpdateRolledBack:
		var rb protocol.RolledBack
		_ = json.Unmarshal(n.ev.Data, &rb) // read leniently: what does not decode is left out
		title, text = rolledBack(v, rb)
	}
	inc := store.Incident{Rule: n.rule, BoxID: b.ID, Subject: subject}
	a := e.newAlert(store.AlertNotice, inc, r, settings, title, text, now)
	rec, err := e.d.Store.RecordAlert(ctx, a, nil, "")
	if err != nil {
		e.log.Error("recording a notice", "rule", n.rule, "box_id", b.ID, "err", err)
		return
	}
	e.log.Info("notice recorded", "rule", n.rule, "box_id", b.ID, "seq", rec.Seq)
}

// scheduleName is a schedule's name in the box's plan; "" when unknown.
func (e *Engine) scheduleName(ctx context.Context, box, id string) string {
	if id == "" {
		return ""
	}
	p, err := e.d.Store.GetPlan(ctx, box)
	if err != nil {
		return ""
	}
	for _, s := range p.Broadcast.Schedules {
		if s.ID == id {
			return s.Name
		}
	}
	return ""
}
