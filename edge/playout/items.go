package playout

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/edge/broadcast"
	"github.com/dalaba/dalaba/edge/command"
	"github.com/dalaba/dalaba/protocol"
)

// request is an item before its clip is rendered.
type request struct {
	Media     []string
	Zones     []string
	Priority  protocol.PlayPriority
	OnPreempt string
	NoChime   bool
	Repeat    int
	Kind      string
	Meta      itemMeta
}

// repeatGap separates the repetitions of a repeated item.
const repeatGap = time.Second

// fireWait bounds how long a due occurrence may wait for its clip to load
// before it is logged as failed.
const fireWait = time.Minute

// fire hands a due occurrence to the arbiter: at once if its clip is
// decoded (the usual case), else after loading it, off the scheduler's
// goroutine so other schedules keep their time.
func (p *Playout) fire(ctx context.Context, req request, at time.Time) {
	id := req.Meta.ScheduleID + "@" + at.UTC().Format(time.RFC3339)
	if req.Kind == protocol.ScheduleList && !p.listConfirmed(at) {
		p.log.Warn("list announcement skipped: the box cannot confirm the list is current", "schedule_id", req.Meta.ScheduleID, "at", at)
		p.record(protocol.EventSkipped, protocol.PriorityNotice, protocol.Skip{ScheduleID: req.Meta.ScheduleID, At: at, Count: 1, Reason: protocol.SkipListUnconfirmed})
		return
	}
	if it, err := p.render(req, true); err == nil {
		p.submit(ctx, id, req, it, at)
		return
	}
	p.bg.Add(1)
	go func() {
		defer p.bg.Done()
		lctx, cancel := context.WithTimeout(p.bgCtx, fireWait)
		defer cancel()
		it, err := p.prepare(lctx, req)
		if err != nil {
			p.failed(ctx, id, req, at, err)
			return
		}
		p.submit(ctx, id, req, it, at)
	}()
}

// listConfirmed reports whether the box was in touch with the township
// within the list window before at: otherwise a list entry may have been
// revoked since, and a name must not be announced on stale information.
func (p *Playout) listConfirmed(at time.Time) bool {
	if p.d.LastContact == nil {
		return false
	}
	last := p.d.LastContact()
	p.mu.Lock()
	window := p.spec.ListWindowH
	p.mu.Unlock()
	if window == 0 {
		window = protocol.DefaultListWindowH
	}
	return !last.IsZero() && at.Sub(last) <= time.Duration(window)*time.Hour
}

// prepare loads the clips of req and renders it.
func (p *Playout) prepare(ctx context.Context, req request) (broadcast.Item, error) {
	rate, chime, err := p.plan(req)
	if err != nil {
		return broadcast.Item{}, err
	}
	shas := req.Media
	if chime != "" {
		shas = append([]string{chime}, shas...)
	}
	for _, sha := range shas {
		if _, err := p.clips.load(ctx, clipKey{sha, rate}); err != nil {
			if cause := context.Cause(ctx); errors.Is(cause, command.ErrExpired) || errors.Is(cause, context.Canceled) {
				// Given up (a command's expiry, the box stopping): not
				// the clip's fault.
				return broadcast.Item{}, fmt.Errorf("loading %s: %w", sha, cause)
			}
			p.clipFailed(ctx, sha, req.Meta.ScheduleID, err)
			return broadcast.Item{}, err
		}
	}
	return p.render(req, false)
}

// quick reports whether playing req now needs no I/O: every clip it plays
// (chime included) is decoded at its rate, or it cannot play at all
// (unknown zones, no speakers) and fails at once.
func (p *Playout) quick(req request) bool {
	rate, chime, err := p.plan(req)
	if err != nil {
		return true
	}
	if chime != "" && !p.clips.has(clipKey{chime, rate}) {
		return false
	}
	for _, sha := range req.Media {
		if !p.clips.has(clipKey{sha, rate}) {
			return false
		}
	}
	return true
}

// plan is the rate req renders at and its chime clip ("" for the built-in
// chime or none).
func (p *Playout) plan(req request) (rate int, chime string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rate, err = p.rateLocked(req.Zones)
	if err != nil {
		return 0, "", err
	}
	if c := p.spec.Chime; !req.NoChime && c != "" && c != protocol.ChimeOff {
		chime = c
	}
	return rate, chime, nil
}

// render builds req's item from decoded clips; with onlyCached it fails
// rather than load anything.
func (p *Playout) render(req request, onlyCached bool) (broadcast.Item, error) {
	rate, chime, err := p.plan(req)
	if err != nil {
		return broadcast.Item{}, err
	}
	p.mu.Lock()
	chimeOff := p.spec.Chime == protocol.ChimeOff
	p.mu.Unlock()
	var parts []audio.PCM
	switch {
	case req.NoChime || chimeOff:
	case chime == "":
		parts = append(parts, audio.Chime(rate))
	default:
		c, ok := p.clips.get(clipKey{chime, rate})
		if !ok {
			return broadcast.Item{}, fmt.Errorf("chime %s not loaded", chime)
		}
		parts = append(parts, c)
	}
	repeat := max(req.Repeat, 1)
	for r := range repeat {
		if r > 0 {
			parts = append(parts, audio.Silence(rate, 1, repeatGap))
		}
		for _, sha := range req.Media {
			c, ok := p.clips.get(clipKey{sha, rate})
			if !ok {
				if onlyCached {
					return broadcast.Item{}, fmt.Errorf("clip %s not loaded", sha)
				}
				return broadcast.Item{}, fmt.Errorf("clip %s was dropped while loading", sha)
			}
			parts = append(parts, c)
		}
	}
	clip, err := audio.Concat(parts...)
	if err != nil {
		return broadcast.Item{}, fmt.Errorf("joining clips: %w", err)
	}
	onp := broadcast.Resume
	if req.OnPreempt == protocol.PreemptSkip {
		onp = broadcast.Skip
	}
	return broadcast.Item{Priority: toPriority(req.Priority), Zones: req.Zones, Clip: clip, OnPreempt: onp}, nil
}

// submit gives an item to the arbiter, keeping what the play log needs.
func (p *Playout) submit(ctx context.Context, id string, req request, it broadcast.Item, at time.Time) {
	if len(it.Zones) == 0 {
		it.Zones = p.allZones()
	}
	it.ID, it.ScheduledAt = id, at
	meta := req.Meta
	meta.Priority = orDefault(req.Priority)
	p.mu.Lock()
	p.items[id] = meta
	p.mu.Unlock()
	if err := p.arb.Submit(ctx, it); err != nil {
		p.failed(ctx, id, req, at, err)
	}
}

func (p *Playout) allZones() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	z := make([]string, 0, len(p.spec.Zones))
	for _, zone := range p.spec.Zones {
		z = append(z, zone.ID)
	}
	return z
}

// failed logs an item that never reached a speaker.
func (p *Playout) failed(ctx context.Context, id string, req request, at time.Time, err error) {
	p.log.Error("item not played", "item", id, "err", err)
	p.mu.Lock()
	delete(p.items, id)
	p.mu.Unlock()
	p.logPlay(protocol.PlayLog{
		ItemID: id, ScheduleID: req.Meta.ScheduleID, CommandID: req.Meta.CommandID, Name: req.Meta.Name,
		Media: req.Media, Priority: orDefault(req.Priority), ScheduledAt: at, Zones: req.Zones,
		Speakers: []string{}, Errors: map[string]string{"item": err.Error()}, Result: broadcast.ResultFailed,
	})
}

func toPriority(pr protocol.PlayPriority) broadcast.Priority {
	switch pr {
	case protocol.PlayBackground:
		return broadcast.Background
	case protocol.PlayPaging:
		return broadcast.Paging
	case protocol.PlayEmergency:
		return broadcast.Emergency
	}
	return broadcast.Scheduled
}

// nextID names a play-now item.
func (p *Playout) nextID(cmdID string) string {
	return "now-" + strconv.FormatUint(p.seq.Add(1), 10) + "-" + cmdID
}
