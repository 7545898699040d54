package playout

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker"
	"github.com/dalaba/dalaba/protocol"
)

// pager sends 20 ms A-law frames of a 1 kHz tone the way a WebRTC session
// does (a frame nobody takes is lost) until hangUp.
type pager struct {
	frames chan speaker.Frame
	stop   chan struct{}
	done   chan struct{}
	ended  chan string
}

func newPager(t *testing.T) *pager {
	pg := &pager{frames: make(chan speaker.Frame, 2), stop: make(chan struct{}), done: make(chan struct{}), ended: make(chan string, 1)}
	tone := tone(8000, 1000, 20*time.Millisecond).Samples
	go func() {
		defer close(pg.done)
		defer close(pg.frames)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for ts := uint32(0); ; ts += 160 {
			select {
			case <-pg.stop:
				return
			case <-tick.C:
			}
			select {
			case pg.frames <- speaker.Frame{Payload: audio.EncodeALaw(nil, tone), Timestamp: ts}:
			default:
			}
		}
	}()
	t.Cleanup(pg.hangUp)
	return pg
}

func (pg *pager) hangUp() {
	select {
	case <-pg.stop:
	default:
		close(pg.stop)
	}
	<-pg.done
}

func (pg *pager) page(session string, zones ...string) LivePage {
	return LivePage{Session: session, Zones: zones, Pager: "王主任", CommandID: "cmd-" + session, Law: speaker.ALaw,
		Frames: pg.frames, Ended: func(r string) { pg.ended <- r }}
}

func TestPage(t *testing.T) {
	r := newRig(t, at("2027-03-01", "07:29:00"), "horn", "school")
	r.p.Apply(&protocol.Broadcast{
		Speakers: []protocol.Speaker{r.speaker("horn"), r.speaker("school")},
		Zones: []protocol.Zone{
			{ID: "square", Speakers: []string{"horn"}},
			{ID: "school", Speakers: []string{"school"}, Volume: 50},
		},
	})
	eventually(t, "zones applied", func() bool { return r.p.CheckZones([]string{"square"}) == nil })
	if err := r.p.CheckZones([]string{"moon"}); err == nil || !strings.Contains(err.Error(), `unknown zone "moon"`) {
		t.Errorf("CheckZones of an unknown zone: %v", err)
	}
	pg := newPager(t)
	if err := r.p.Page(context.Background(), pg.page("x", "moon")); err == nil {
		t.Fatal("a page to an unknown zone was taken")
	}

	// No zones: every zone, each speaker at its zone's volume.
	if err := r.p.Page(context.Background(), pg.page("s1")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a second of the page on both", func() bool {
		return r.sims["horn"].Heard() >= 8000 && r.sims["school"].Heard() >= 8000
	})
	pg.hangUp()
	l := r.waitPlay(PagePrefix + "s1")
	if l.Result != "played" || l.Priority != protocol.PlayPaging || l.Name != "王主任" || l.CommandID != "cmd-s1" ||
		!slices.Equal(l.Zones, []string{"square", "school"}) || !slices.Equal(l.Speakers, []string{"horn", "school"}) ||
		len(l.Errors) != 0 || l.StartedAt.IsZero() || l.EndedAt.Before(l.StartedAt) {
		t.Fatalf("the page logged %+v", l)
	}
	select {
	case res := <-pg.ended:
		if res != "played" {
			t.Errorf("Ended got %q", res)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Ended was not called")
	}
	full := rmsOf(tone(8000, 1000, 300*time.Millisecond).Samples)
	horn, school := rmsOf(r.sims["horn"].Audio().Samples[800:7200]), rmsOf(r.sims["school"].Audio().Samples[800:7200])
	if horn < 0.95*full || horn > 1.05*full {
		t.Errorf("the horn at volume 100 plays the page at %.0f of %.0f", horn, full)
	}
	if school < 0.2*full || school > 0.3*full {
		t.Errorf("the school at zone volume 50 plays the page at %.0f of %.0f, want about a quarter", school, full)
	}
}
