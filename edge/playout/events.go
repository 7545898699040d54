package playout

import (
	"context"
	"time"

	"github.com/dalaba/dalaba/edge/broadcast"
	"github.com/dalaba/dalaba/protocol"
)

var timeZero time.Time

// played is the arbiter's play log callback. It runs on the arbiter's
// goroutine, so it only queues: recording waits for an fsync.
func (p *Playout) played(pb broadcast.Playback) {
	p.mu.Lock()
	meta := p.items[pb.ItemID]
	if pb.Result != broadcast.ResultPreempted { // a resumed playback follows a preempted one
		delete(p.items, pb.ItemID)
	}
	p.mu.Unlock()
	p.log.Info("playback", "item", pb.ItemID, "result", pb.Result, "zones", pb.Zones, "speakers", pb.Speakers, "resumed", pb.Resumed)
	speakers := pb.Speakers
	if speakers == nil {
		speakers = []string{}
	}
	p.logPlay(protocol.PlayLog{
		ItemID: pb.ItemID, ScheduleID: meta.ScheduleID, CommandID: meta.CommandID, Name: meta.Name, Media: meta.Media,
		Priority: meta.Priority, ScheduledAt: pb.ScheduledAt, StartedAt: pb.StartedAt, EndedAt: pb.EndedAt,
		Zones: pb.Zones, Speakers: speakers, Errors: pb.Errors, Result: pb.Result, Resumed: pb.Resumed,
		OffsetMS: pb.Offset.Milliseconds(),
	})
}

func (p *Playout) logPlay(l protocol.PlayLog) {
	if l.Media == nil {
		l.Media = []string{}
	}
	p.logC <- l
}

// logLoop records the play log until the arbiter has stopped and the queue
// is empty.
func (p *Playout) logLoop(ctx context.Context, arbDone <-chan struct{}) {
	rec := func(l protocol.PlayLog) {
		if err := p.d.Record(ctx, protocol.EventPlayed, protocol.PriorityNotice, l); err != nil {
			p.log.Error("recording a playback", "item", l.ItemID, "result", l.Result, "err", err)
		}
	}
	for {
		select {
		case l := <-p.logC:
			rec(l)
		case <-arbDone:
			p.bg.Wait() // late fires may still log a failure
			for {
				select {
				case l := <-p.logC:
					rec(l)
				default:
					return
				}
			}
		}
	}
}

func (p *Playout) skipped(m broadcast.Missed) {
	p.record(protocol.EventSkipped, protocol.PriorityNotice, protocol.Skip{ScheduleID: m.ScheduleID, At: m.At, Count: m.Count, Reason: m.Reason})
}

func (p *Playout) untrusted(now time.Time) {
	ev := protocol.ClockUntrusted{Clock: now}
	if p.d.Floor != nil {
		if f, err := p.d.Floor(); err == nil {
			ev.Floor = f
		}
	}
	p.record(protocol.EventClockUntrusted, protocol.PriorityCritical, ev)
}

// record appends an event from the scheduler's or apply goroutine.
func (p *Playout) record(typ string, prio protocol.Priority, data any) {
	p.mu.Lock()
	ctx := p.runCtx
	p.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	if err := p.d.Record(context.WithoutCancel(ctx), typ, prio, data); err != nil {
		p.log.Error("recording an event", "type", typ, "err", err)
	}
}

func (p *Playout) fault(_ context.Context, e protocol.BroadcastError) {
	p.log.Error("broadcast fault", "what", e.What, "id", e.ID, "schedule_id", e.ScheduleID, "err", e.Error)
	p.record(protocol.EventBroadcastError, protocol.PriorityCritical, e)
}

// clipFailed records a clip that would not load, once per distinct error,
// so a retry every half minute during a week offline does not fill the
// outbox.
func (p *Playout) clipFailed(ctx context.Context, sha, scheduleID string, err error) {
	p.mu.Lock()
	same := p.lastWarn[sha] == err.Error()
	p.lastWarn[sha] = err.Error()
	p.mu.Unlock()
	if same {
		p.log.Debug("clip still not loading", "sha256", sha, "err", err)
		return
	}
	p.fault(ctx, protocol.BroadcastError{What: "media", ID: sha, ScheduleID: scheduleID, Error: err.Error()})
}

func (p *Playout) clipLoaded(sha string) {
	p.mu.Lock()
	delete(p.lastWarn, sha)
	p.mu.Unlock()
}

// healthLoop polls the speakers and records each change of reachability.
func (p *Playout) healthLoop(ctx context.Context) {
	for {
		t := p.d.Clock.NewTimer(p.cfg.HealthEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		p.checkHealth()
	}
}

func (p *Playout) checkHealth() {
	var changes []protocol.SpeakerHealth
	p.mu.Lock()
	for id, dr := range p.drivers {
		h := dr.d.Speaker.Health()
		if h.Reachable != dr.health.Reachable || (!h.Reachable && h.LastError != dr.health.LastError) {
			changes = append(changes, protocol.SpeakerHealth{ID: id, Reachable: h.Reachable, Error: h.LastError})
		}
		dr.health = h
	}
	p.mu.Unlock()
	for _, c := range changes {
		prio := protocol.PriorityNotice
		if !c.Reachable {
			prio = protocol.PriorityCritical
		}
		p.record(protocol.EventSpeakerHealth, prio, c)
	}
}

// Speakers reports each speaker's health, for the status API.
func (p *Playout) Speakers() []protocol.SpeakerHealth {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]protocol.SpeakerHealth, 0, len(p.drivers))
	for id, dr := range p.drivers {
		h := dr.d.Speaker.Health()
		out = append(out, protocol.SpeakerHealth{ID: id, Reachable: h.Reachable, Error: h.LastError})
	}
	return out
}

// ClipBytes is the memory held by decoded clips.
func (p *Playout) ClipBytes() int { return p.clips.bytes() }
