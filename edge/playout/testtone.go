package playout

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/edge/broadcast"
	"github.com/dalaba/dalaba/edge/command"
	"github.com/dalaba/dalaba/protocol"
)

// A test tone is the built-in chime on one speaker, played so that the
// official setting a horn up hears it and learns whether it worked. It
// goes through the arbiter like anything else: at paging priority on
// every zone that has the speaker, and on the speaker's own zone (below),
// but on that speaker alone (broadcast.Item.Speakers). So it cuts into a
// scheduled announcement on those zones for the second it lasts (which
// then resumes) and waits for an emergency or a live page; one still
// waiting when the command is about to expire is dropped, never played
// late (broadcast.Item.StartBy), and reported busy.
//
// The handler waits for the chime's playback to end, a second or so: it
// runs on the slow lane, although the chime is rendered here with no
// I/O, so that a stop or an emergency sent meanwhile never waits for it.

// toneZone is the arbiter's zone of one speaker alone, which every speaker
// has besides the zones of the desired state, so a speaker no zone lists
// yet can be tested. '/' is never in a zone id of the desired state.
func toneZone(speaker string) string { return "speaker/" + speaker }

// toneMargin is the time a test tone's answer needs to reach the township
// before the command expires; the tone must start before it.
const toneMargin = 3 * time.Second

// tones are the test tones waiting for their playback, by item id.
type tones struct {
	mu      sync.Mutex
	waiting map[string]chan broadcast.Playback
}

func (t *tones) wait(id string) chan broadcast.Playback {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.waiting == nil {
		t.waiting = map[string]chan broadcast.Playback{}
	}
	c := make(chan broadcast.Playback, 1)
	t.waiting[id] = c
	return c
}

func (t *tones) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.waiting, id)
}

// done hands a playback to the test tone waiting for it, if any; it runs
// on the arbiter's goroutine and never blocks.
func (t *tones) done(pb broadcast.Playback) {
	t.mu.Lock()
	c := t.waiting[pb.ItemID]
	t.mu.Unlock()
	if c != nil {
		select {
		case c <- pb:
		default: // one playback per tone: it is never resumed
		}
	}
}

// TestTone runs a protocol.CmdTestTone command: the chime on one speaker,
// answered once it has played (or could not) with the speaker's health.
func (p *Playout) TestTone(ctx context.Context, c protocol.Command, a protocol.TestToneArgs) (any, error) {
	res := protocol.TestToneResult{Speaker: a.Speaker}
	p.mu.Lock()
	dr, ok := p.drivers[a.Speaker]
	var zones []string
	rate := 8000
	if ok {
		for _, z := range p.spec.Zones {
			if slices.Contains(z.Speakers, a.Speaker) {
				zones = append(zones, z.ID)
			}
		}
		if dr.d.Rate > 0 {
			rate = dr.d.Rate
		}
	}
	p.mu.Unlock()
	if !ok {
		res.Reason, res.Error = protocol.ToneUnknownSpeaker, fmt.Sprintf("the box has no speaker %q (its settings may not have arrived yet)", a.Speaker)
		return res, nil
	}
	chime := audio.Chime(rate)
	id := "test-" + strconv.FormatUint(p.seq.Add(1), 10) + "-" + c.ID
	it := broadcast.Item{
		ID: id, Priority: broadcast.Paging, Zones: append(zones, toneZone(a.Speaker)), Speakers: []string{a.Speaker},
		Clip: chime, OnPreempt: broadcast.Skip, StartBy: c.ExpiresAt.Add(-toneMargin),
	}
	played := p.tones.wait(id)
	defer p.tones.forget(id)
	if err := command.Commit(ctx); err != nil {
		return nil, fmt.Errorf("test tone: %w", err)
	}
	p.mu.Lock()
	p.items[id] = itemMeta{CommandID: c.ID, Name: "test tone", Media: []string{}, Priority: protocol.PlayPaging}
	p.mu.Unlock()
	if err := p.arb.Submit(p.afterCommit(ctx), it); err != nil {
		return nil, fmt.Errorf("test tone: %w", err)
	}
	p.log.Info("test tone", "speaker_id", a.Speaker, "item", id, "command_id", c.ID)
	// The playback ends within the lifetime: it starts by StartBy and
	// lasts a chime; should ctx end first anyway, say what is known.
	var pb broadcast.Playback
	select {
	case pb = <-played:
	case <-ctx.Done():
		pb = broadcast.Playback{Result: broadcast.ResultSkipped, Errors: map[string]string{"item": "no playback before the command expired"}}
	}
	switch {
	case pb.Result == broadcast.ResultPlayed && slices.Contains(pb.Speakers, a.Speaker):
		res.Played, res.DurationMS = true, chime.Duration().Milliseconds()
	case pb.Result == broadcast.ResultSkipped:
		res.Reason, res.Error = protocol.ToneBusy, "the speaker's zones were busy with something that may not be interrupted: "+pb.Errors["item"]
	default:
		res.Reason, res.Error = protocol.ToneFailed, pb.Errors[a.Speaker]
		if res.Error == "" {
			res.Error = "the speaker did not play it"
		}
	}
	p.mu.Lock()
	if dr, ok := p.drivers[a.Speaker]; ok {
		h := dr.d.Speaker.Health()
		res.Reachable, res.HealthError = h.Reachable, h.LastError
	}
	p.mu.Unlock()
	return res, nil
}
