package playout

import (
	"context"
	"fmt"
	"slices"

	"github.com/dalaba/dalaba/edge/command"
	"github.com/dalaba/dalaba/protocol"
)

// Register gives the box's command runner the broadcast commands: stop and
// volume on the control lane, play on the lane its clips allow (playLane),
// a test tone on the slow lane (it waits for its chime to end).
// The runner decodes and validates their arguments.
func (p *Playout) Register(r *command.Runner) {
	command.RegisterRouted(r, protocol.CmdPlay, p.playLane, p.Play)
	command.Register(r, protocol.CmdStop, command.Control, p.Stop)
	command.Register(r, protocol.CmdVolume, command.Control, p.Volume)
	command.Register(r, protocol.CmdTestTone, command.Slow, p.TestTone)
}

// playLane is where a play runs. One whose clips (chime included) are
// decoded already only renders and hands an item to the arbiter: the
// control lane, whatever its priority, so it never waits behind a download
// and a stop sent after it applies after it. One that must load a clip
// waits for the network: the slow lane, except an emergency, which may
// neither wait for a slot nor be refused one (urgent).
func (p *Playout) playLane(a protocol.PlayArgs) command.Lane {
	if p.quick(playRequest(protocol.Command{}, a)) {
		return command.Control
	}
	if a.Priority == protocol.PlayEmergency {
		return command.Urgent
	}
	return command.Slow
}

func playRequest(c protocol.Command, a protocol.PlayArgs) request {
	return request{
		Media: a.Media, Zones: a.Zones, Priority: orDefault(a.Priority), OnPreempt: a.OnPreempt, NoChime: a.NoChime, Repeat: a.Repeat,
		Meta: itemMeta{CommandID: c.ID, Name: a.Name, Media: a.Media},
	}
}

// Play runs a protocol.CmdPlay command: it loads the clips (downloading
// what the box lacks), queues the item and answers with its id. The
// arbiter starts it as soon as its zones allow: at once, for an emergency.
// A command that expires while its clips load is not queued.
func (p *Playout) Play(ctx context.Context, c protocol.Command, a protocol.PlayArgs) (any, error) {
	if err := p.knownZones(a.Zones); err != nil {
		return nil, fmt.Errorf("play: %w", err)
	}
	req := playRequest(c, a)
	id := p.nextID(c.ID)
	// On the control lane the clips were decoded a moment ago; should one
	// have been dropped since, loading it reads the box's own copy.
	it, err := p.render(req, true)
	if err != nil {
		it, err = p.prepare(ctx, req)
	}
	if err == nil {
		err = command.Commit(ctx)
	}
	if err != nil {
		p.failed(ctx, id, req, timeZero, err)
		return nil, fmt.Errorf("play: %w", err)
	}
	p.submit(p.afterCommit(ctx), id, req, it, timeZero)
	p.log.Info("play now", "item", id, "priority", req.Priority, "zones", a.Zones, "command_id", c.ID)
	return protocol.PlayResult{ItemID: id}, nil
}

// Stop runs a protocol.CmdStop command.
func (p *Playout) Stop(ctx context.Context, c protocol.Command, a protocol.StopArgs) (any, error) {
	if err := p.knownZones(a.Zones); err != nil {
		return nil, fmt.Errorf("stop: %w", err)
	}
	if err := command.Commit(ctx); err != nil {
		return nil, fmt.Errorf("stop: %w", err)
	}
	if err := p.arb.Stop(p.afterCommit(ctx), a.Zones); err != nil {
		return nil, fmt.Errorf("stop: %w", err)
	}
	p.log.Info("stopped", "zones", a.Zones, "command_id", c.ID)
	return nil, nil
}

// Volume runs a protocol.CmdVolume command: the zone's level until the
// next desired state.
func (p *Playout) Volume(ctx context.Context, c protocol.Command, a protocol.VolumeArgs) (any, error) {
	if err := p.knownZones([]string{a.Zone}); err != nil {
		return nil, fmt.Errorf("volume: %w", err)
	}
	if err := command.Commit(ctx); err != nil {
		return nil, fmt.Errorf("volume: %w", err)
	}
	p.mu.Lock()
	p.zoneVol[a.Zone] = a.Volume
	p.setVolumesLocked()
	p.mu.Unlock()
	p.log.Info("zone volume set", "zone", a.Zone, "volume", a.Volume, "command_id", c.ID)
	return nil, nil
}

// afterCommit is the context to act in once a command has passed its point
// of no return: the playout's own, which ends when it stops, rather than
// the command's, which its expiry may end a moment later, half done.
func (p *Playout) afterCommit(ctx context.Context) context.Context {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runCtx == nil {
		return ctx
	}
	return p.runCtx
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
