package playout

import (
	"context"
	"fmt"
	"slices"

	"github.com/dalaba/dalaba/protocol"
)

// Play runs a protocol.CmdPlay command: it loads the clips (downloading
// what the box lacks), queues the item and answers with its id. The
// arbiter starts it as soon as its zones allow: at once, for an emergency.
func (p *Playout) Play(ctx context.Context, c protocol.Command) (any, error) {
	var a protocol.PlayArgs
	if err := protocol.DecodeArgs(c.Args, &a); err != nil {
		return nil, fmt.Errorf("play: arguments: %w", err)
	}
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("play: %w", err)
	}
	if err := p.knownZones(a.Zones); err != nil {
		return nil, fmt.Errorf("play: %w", err)
	}
	req := request{
		Media: a.Media, Zones: a.Zones, Priority: orDefault(a.Priority), OnPreempt: a.OnPreempt, NoChime: a.NoChime, Repeat: a.Repeat,
		Meta: itemMeta{CommandID: c.ID, Name: a.Name, Media: a.Media},
	}
	id := p.nextID(c.ID)
	it, err := p.render(req, true)
	if err != nil {
		it, err = p.prepare(ctx, req)
	}
	if err != nil {
		p.failed(ctx, id, req, timeZero, err)
		return nil, fmt.Errorf("play: %w", err)
	}
	p.submit(ctx, id, req, it, timeZero)
	p.log.Info("play now", "item", id, "priority", req.Priority, "zones", a.Zones, "command", c.ID)
	return protocol.PlayResult{ItemID: id}, nil
}

// Stop runs a protocol.CmdStop command.
func (p *Playout) Stop(ctx context.Context, c protocol.Command) (any, error) {
	var a protocol.StopArgs
	if err := protocol.DecodeArgs(c.Args, &a); err != nil {
		return nil, fmt.Errorf("stop: arguments: %w", err)
	}
	if err := p.knownZones(a.Zones); err != nil {
		return nil, fmt.Errorf("stop: %w", err)
	}
	if err := p.arb.Stop(ctx, a.Zones); err != nil {
		return nil, fmt.Errorf("stop: %w", err)
	}
	p.log.Info("stopped", "zones", a.Zones, "command", c.ID)
	return nil, nil
}

// Volume runs a protocol.CmdVolume command: the zone's level until the
// next desired state.
func (p *Playout) Volume(_ context.Context, c protocol.Command) (any, error) {
	var a protocol.VolumeArgs
	if err := protocol.DecodeArgs(c.Args, &a); err != nil {
		return nil, fmt.Errorf("volume: arguments: %w", err)
	}
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("volume: %w", err)
	}
	if err := p.knownZones([]string{a.Zone}); err != nil {
		return nil, fmt.Errorf("volume: %w", err)
	}
	p.mu.Lock()
	p.zoneVol[a.Zone] = a.Volume
	p.setVolumesLocked()
	p.mu.Unlock()
	p.log.Info("zone volume set", "zone", a.Zone, "volume", a.Volume, "command", c.ID)
	return nil, nil
}

func (p *Playout) knownZones(zones []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, z := range zones {
		if !slices.ContainsFunc(p.spec.Zones, func(x protocol.Zone) bool { return x.ID == z }) {
			return fmt.Errorf("unknown zone %q", z)
		}
	}
	if len(p.spec.Zones) == 0 {
		return fmt.Errorf("the box has no zones yet")
	}
	return nil
}
