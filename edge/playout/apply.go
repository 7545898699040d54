package playout

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/dalaba/dalaba/devices/speaker"
	"github.com/dalaba/dalaba/edge/broadcast"
	"github.com/dalaba/dalaba/protocol"
)

func (p *Playout) applyLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-p.applyC:
			p.apply(ctx, b)
		}
	}
}

// apply makes the box run b: drivers for new or changed speakers (the
// others keep theirs, and what they play), the zones, the clips the
// schedules need, the schedules and quiet hours.
func (p *Playout) apply(ctx context.Context, b *protocol.Broadcast) {
	p.mu.Lock()
	old := p.spec
	p.spec = *b
	p.applied = true
	p.zoneVol = map[string]int{} // overrides last until the next desired state
	keep := map[string]bool{}
	for _, s := range b.Speakers {
		keep[s.ID] = true
		if dr, ok := p.drivers[s.ID]; ok && sameDriver(dr.cfg, s) {
			dr.cfg = s
			continue
		}
		if dr, ok := p.drivers[s.ID]; ok {
			p.closeDriver(s.ID, dr)
			delete(p.drivers, s.ID)
		}
		d, err := p.d.Drivers(s)
		if err != nil {
			p.mu.Unlock()
			p.fault(ctx, protocol.BroadcastError{What: "speaker", ID: s.ID, Error: err.Error()})
			p.mu.Lock()
			continue
		}
		p.drivers[s.ID] = &driver{cfg: s, d: d, health: d.Speaker.Health()}
	}
	for id, dr := range p.drivers {
		if !keep[id] {
			p.closeDriver(id, dr)
			delete(p.drivers, id)
		}
	}
	p.setVolumesLocked()
	p.arb.SetZones(p.zonesLocked())
	p.mu.Unlock()

	if err := p.sch.SetQuiet(b.Quiet, schedTZ(b)); err != nil { // validated on arrival
		p.log.Error("quiet hours refused", "err", err)
	}
	p.sch.Set(p.schedules(b))

	// Media that left the desired state leaves the box now: a revoked
	// announcement must not linger in the cache.
	now := referenced(b)
	for sha := range referenced(&old) {
		if !now[sha] {
			p.clips.forget(sha)
			if err := p.d.Media.Remove(sha); err != nil {
				p.log.Warn("removing a clip no longer scheduled", "sha256", sha, "err", err)
			}
		}
	}
	p.d.Media.Pin(slices.Sorted(maps.Keys(now)))
	p.log.Info("broadcast state applied", "speakers", len(b.Speakers), "zones", len(b.Zones), "schedules", len(b.Schedules), "media", len(b.Media))
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// sameDriver reports whether a speaker's driver can stay as it is: only
// its name or volume changed.
func sameDriver(a, b protocol.Speaker) bool {
	a.Name, b.Name, a.Volume, b.Volume = "", "", 0, 0
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func (p *Playout) closeDriver(id string, dr *driver) {
	if err := dr.d.Speaker.Halt(); err != nil {
		p.log.Warn("halting a speaker being replaced", "speaker_id", id, "err", err)
	}
	if dr.d.Close != nil {
		if err := dr.d.Close(); err != nil {
			p.log.Warn("closing a speaker's driver", "speaker_id", id, "err", err)
		}
	}
}

// zonesLocked is the arbiter's view of the zones; p.mu held.
func (p *Playout) zonesLocked() map[string][]broadcast.Named {
	z := map[string][]broadcast.Named{}
	for _, zone := range p.spec.Zones {
		var named []broadcast.Named
		for _, id := range zone.Speakers {
			if dr, ok := p.drivers[id]; ok {
				named = append(named, broadcast.Named{ID: id, Speaker: dr.d.Speaker})
			}
		}
		z[zone.ID] = named
	}
	return z
}

// setVolumesLocked sets each speaker to its volume times the lowest of its
// zones'; p.mu held.
func (p *Playout) setVolumesLocked() {
	for id, dr := range p.drivers {
		v, ok := dr.d.Speaker.(speaker.Volumer)
		if !ok {
			continue
		}
		level := pct(dr.cfg.Volume)
		zone := 100
		for _, z := range p.spec.Zones {
			if slices.Contains(z.Speakers, id) {
				zv := pct(z.Volume)
				if o, ok := p.zoneVol[z.ID]; ok {
					zv = o
				}
				zone = min(zone, zv)
			}
		}
		if err := v.SetVolume(level * zone / 100); err != nil {
			p.log.Warn("setting a speaker's volume", "speaker_id", id, "err", err)
		}
	}
}

// pct reads a desired-state volume: 0 means 100.
func pct(v int) int {
	if v == 0 {
		return 100
	}
	return v
}

// referenced is every clip b plays: the schedules' and the chime.
func referenced(b *protocol.Broadcast) map[string]bool {
	r := map[string]bool{}
	for _, s := range b.Schedules {
		for _, m := range s.Media {
			r[m] = true
		}
	}
	if b.Chime != "" && b.Chime != protocol.ChimeOff {
		r[b.Chime] = true
	}
	return r
}

// schedules turns b's schedules into the scheduler's.
func (p *Playout) schedules(b *protocol.Broadcast) []broadcast.Schedule {
	var out []broadcast.Schedule
	for _, s := range b.Schedules {
		req := request{
			Media: s.Media, Zones: s.Zones, Priority: s.Priority, OnPreempt: s.OnPreempt, NoChime: s.NoChime, Kind: s.Kind,
			Meta: itemMeta{ScheduleID: s.ID, Name: s.Name, Media: s.Media, Priority: orDefault(s.Priority)},
		}
		out = append(out, broadcast.Schedule{ID: s.ID, Rule: s.Rule, Fire: func(ctx context.Context, at time.Time) {
			p.fire(ctx, req, at)
		}})
	}
	return out
}

func orDefault(pr protocol.PlayPriority) protocol.PlayPriority {
	if pr == "" {
		return protocol.PlayScheduled
	}
	return pr
}

// loadLoop decodes the clips the schedules need, now and after every
// desired state, and retries the ones that failed (no uplink yet, a
// broken file) every RetryEvery.
func (p *Playout) loadLoop(ctx context.Context) {
	for {
		missing := p.clips.wanted(p.wantedClips())
		for _, k := range missing {
			if _, err := p.clips.load(ctx, k); err != nil {
				if ctx.Err() != nil {
					return
				}
				p.clipFailed(ctx, k.sha, "", err)
			} else {
				p.clipLoaded(k.sha)
			}
		}
		if !p.waitKick(ctx, len(missing) > 0) {
			return
		}
	}
}

// wantedClips is every (clip, rate) the schedules will play, chime
// included.
func (p *Playout) wantedClips() map[clipKey]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	want := map[clipKey]bool{}
	for _, s := range p.spec.Schedules {
		rate, err := p.rateLocked(s.Zones)
		if err != nil {
			continue
		}
		for _, m := range s.Media {
			want[clipKey{m, rate}] = true
		}
		if c := p.spec.Chime; c != "" && c != protocol.ChimeOff && !s.NoChime {
			want[clipKey{c, rate}] = true
		}
	}
	return want
}

// rateLocked is the rate an item on zones is rendered at: the lowest
// native rate of their speakers; p.mu held.
func (p *Playout) rateLocked(zones []string) (int, error) {
	if len(zones) == 0 {
		for _, z := range p.spec.Zones {
			zones = append(zones, z.ID)
		}
	}
	rate := 0
	for _, zid := range zones {
		i := slices.IndexFunc(p.spec.Zones, func(z protocol.Zone) bool { return z.ID == zid })
		if i < 0 {
			return 0, fmt.Errorf("unknown zone %q", zid)
		}
		for _, sid := range p.spec.Zones[i].Speakers {
			if dr, ok := p.drivers[sid]; ok && (rate == 0 || dr.d.Rate < rate) {
				rate = dr.d.Rate
			}
		}
	}
	if rate == 0 {
		return 0, fmt.Errorf("no working speaker in zones %v", zones)
	}
	return rate, nil
}

// waitKick waits for a new desired state or, with retry, RetryEvery; false
// when ctx ended.
func (p *Playout) waitKick(ctx context.Context, retry bool) bool {
	var after <-chan time.Time
	if retry {
		t := p.d.Clock.NewTimer(p.cfg.RetryEvery)
		defer t.Stop()
		after = t.C()
	}
	select {
	case <-ctx.Done():
		return false
	case <-p.kick:
	case <-after:
	}
	return true
}
