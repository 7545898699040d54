package broadcast

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker/rtpspeaker"
	"github.com/dalaba/dalaba/devices/speaker/speakersim"
	"github.com/dalaba/dalaba/edge/clock"
)

// rig: zones of real RTP speakers feeding simulated speakers on loopback.
type rig struct {
	a    *Arbiter
	sims map[string]*speakersim.Sim
	mu   sync.Mutex
	log  []Playback
	logC chan Playback
}

func newRig(t *testing.T, zones map[string][]string) *rig {
	t.Helper()
	r := &rig{sims: map[string]*speakersim.Sim{}, logC: make(chan Playback, 100)}
	z := map[string][]Named{}
	for zone, ids := range zones {
		for _, id := range ids {
			var addr string
			if id == "dead" {
				l, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
				addr = l.LocalAddr().String()
				l.Close() // nobody listens: ICMP port unreachable
			} else {
				s, err := speakersim.New(speakersim.Config{Listen: "127.0.0.1:0"})
				if err != nil {
					t.Fatal(err)
				}
				go s.Run(t.Context())
				r.sims[id] = s
				addr = s.Addr().String()
			}
			sp, err := rtpspeaker.New(rtpspeaker.Config{Addr: addr, Codec: rtpspeaker.PCMU})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sp.Close() })
			z[zone] = append(z[zone], Named{ID: id, Speaker: sp})
		}
	}
	a, err := New(z, Deps{Clock: clock.Real(), Log: func(p Playback) {
		r.mu.Lock()
		r.log = append(r.log, p)
		r.mu.Unlock()
		r.logC <- p
	}})
	if err != nil {
		t.Fatal(err)
	}
	r.a = a
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

func (r *rig) next(t *testing.T) Playback {
	t.Helper()
	select {
	case p := <-r.logC:
		return p
	case <-time.After(15 * time.Second):
		t.Fatal("no playback logged")
		return Playback{}
	}
}

func clip(d time.Duration) audio.PCM {
	c := audio.Chime(8000)
	for c.Duration() < d {
		c, _ = audio.Concat(c, audio.Chime(8000))
	}
	c.Samples = c.Samples[:int(d*8000/time.Second)]
	return c
}

func TestEmergencyPreemptsAndScheduledResumes(t *testing.T) {
	for _, mode := range []OnPreempt{Resume, Skip} {
		name := map[OnPreempt]string{Resume: "resume", Skip: "skip"}[mode]
		t.Run(name, func(t *testing.T) {
			r := newRig(t, map[string][]string{"east": {"e1"}, "west": {"w1"}})
			ctx := t.Context()
			if err := r.a.Submit(ctx, Item{ID: "news", Priority: Scheduled, Zones: []string{"east", "west"}, Clip: clip(3 * time.Second), OnPreempt: mode}); err != nil {
				t.Fatal(err)
			}
			e1 := r.sims["e1"]
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			e1.Wait(wctx, func(st speakersim.Stats, n int) bool { return n >= 8000 }) // a second into the news
			sent := time.Now()
			if err := r.a.Submit(ctx, Item{ID: "flood", Priority: Emergency, Zones: []string{"east"}, Clip: clip(500 * time.Millisecond)}); err != nil {
				t.Fatal(err)
			}
			if err := e1.Wait(wctx, func(st speakersim.Stats, _ int) bool { return st.Spurts >= 2 }); err != nil {
				t.Fatal("the emergency never reached the speaker")
			}
			took := time.Since(sent)
			t.Logf("emergency on the speaker %s after it was submitted", took.Round(time.Millisecond))
			if took > 200*time.Millisecond {
				t.Errorf("emergency took %s to pre-empt, want under 200 ms", took)
			}
			got := []Playback{r.next(t), r.next(t)}
			if got[0].ItemID != "news" || got[1].ItemID != "flood" || got[1].Result != ResultPlayed {
				t.Fatalf("log %+v", got)
			}
			if mode == Skip {
				if got[0].Result != ResultSkipped {
					t.Errorf("news result %s, want skipped", got[0].Result)
				}
				return
			}
			if got[0].Result != ResultPreempted {
				t.Errorf("news result %s, want preempted", got[0].Result)
			}
			p := r.next(t)
			if p.ItemID != "news" || !p.Resumed || p.Result != ResultPlayed || p.Offset < 900*time.Millisecond {
				t.Errorf("resumed playback %+v", p)
			}
		})
	}
}

func TestEqualPriorityWaitsItsTurn(t *testing.T) {
	r := newRig(t, map[string][]string{"z": {"s1"}})
	ctx := t.Context()
	r.a.Submit(ctx, Item{ID: "first", Priority: Scheduled, Zones: []string{"z"}, Clip: clip(300 * time.Millisecond)})
	r.a.Submit(ctx, Item{ID: "second", Priority: Scheduled, Zones: []string{"z"}, Clip: clip(300 * time.Millisecond)})
	r.a.Submit(ctx, Item{ID: "music", Priority: Background, Zones: []string{"z"}, Clip: clip(300 * time.Millisecond)})
	for _, want := range []string{"first", "second", "music"} {
		if p := r.next(t); p.ItemID != want || p.Result != ResultPlayed || len(p.Speakers) != 1 {
			t.Fatalf("got %+v, want %s played", p, want)
		}
	}
}

func TestDeadSpeakerAndUnknownZoneDoNotStopOthers(t *testing.T) {
	r := newRig(t, map[string][]string{"a": {"ok1", "dead"}, "b": {"ok2"}})
	ctx := t.Context()
	r.a.Submit(ctx, Item{ID: "x", Priority: Scheduled, Zones: []string{"a", "b", "nowhere"}, Clip: clip(time.Second)})
	p := r.next(t)
	if p.Result != ResultPlayed || len(p.Speakers) != 2 || p.Errors["dead"] == "" || p.Errors["zone:nowhere"] == "" {
		t.Fatalf("playback %+v", p)
	}
	r.a.Submit(ctx, Item{ID: "y", Priority: Scheduled, Zones: []string{"nowhere"}, Clip: clip(100 * time.Millisecond)})
	if p := r.next(t); p.Result != ResultFailed {
		t.Fatalf("an item with no speaker: %+v", p)
	}
}

func TestStopHaltsAndDropsQueued(t *testing.T) {
	r := newRig(t, map[string][]string{"z": {"s1"}})
	ctx := t.Context()
	r.a.Submit(ctx, Item{ID: "long", Priority: Scheduled, Zones: []string{"z"}, Clip: clip(5 * time.Second)})
	r.a.Submit(ctx, Item{ID: "queued", Priority: Scheduled, Zones: []string{"z"}, Clip: clip(time.Second)})
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r.sims["s1"].Wait(wctx, func(st speakersim.Stats, _ int) bool { return st.Packets > 5 })
	r.a.Stop(ctx, nil)
	got := map[string]string{}
	for i := 0; i < 2; i++ {
		p := r.next(t)
		got[p.ItemID] = p.Result
	}
	if got["long"] != ResultSkipped || got["queued"] != ResultSkipped {
		t.Fatalf("after stop: %v", got)
	}
}
