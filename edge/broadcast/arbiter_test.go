package broadcast

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker"
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
			if strings.HasPrefix(id, "clips-only") {
				// The same speaker seen through the Speaker interface alone,
				// as a play-URL speaker or a sound card is: no live audio.
				z[zone] = append(z[zone], Named{ID: id, Speaker: clipsOnly{sp}})
				continue
			}
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

// clipsOnly hides a driver's capabilities beyond speaker.Speaker.
type clipsOnly struct{ speaker.Speaker }

// mic is a pager's microphone: 20 ms frames of a μ-law tone, sent as a
// WebRTC session would (never blocking: a frame nobody takes is lost)
// until hangUp.
type mic struct {
	frames chan speaker.Frame
	stop   chan struct{}
	done   chan struct{}
	ended  chan Playback // what Live.Ended was given
}

func newMic(t *testing.T) *mic {
	m := &mic{frames: make(chan speaker.Frame, 2), stop: make(chan struct{}), done: make(chan struct{}), ended: make(chan Playback, 2)}
	go func() {
		defer close(m.done)
		defer close(m.frames)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		tone := clip(20 * time.Millisecond).Samples
		for ts := uint32(0); ; ts += 160 {
			select {
			case <-m.stop:
				return
			case <-tick.C:
			}
			select {
			case m.frames <- speaker.Frame{Payload: audio.EncodeULaw(nil, tone), Timestamp: ts}:
			default:
			}
		}
	}()
	t.Cleanup(m.hangUp)
	return m
}

func (m *mic) hangUp() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
}

func (m *mic) item(id string, zones ...string) Item {
	return Item{ID: id, Priority: Paging, Zones: zones, OnPreempt: Skip,
		Live: &Live{Law: speaker.ULaw, Frames: m.frames, Ended: func(p Playback) { m.ended <- p }}}
}

func (m *mic) wasEnded(t *testing.T, result string) {
	t.Helper()
	select {
	case p := <-m.ended:
		if p.Result != result {
			t.Errorf("Live.Ended got result %s, want %s", p.Result, result)
		}
	case <-time.After(5 * time.Second):
		t.Error("Live.Ended was not called")
	}
}

func waitSim(t *testing.T, s *speakersim.Sim, what string, cond func(speakersim.Stats, int) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.Wait(ctx, cond); err != nil {
		t.Fatalf("%s: %v (stats %+v)", what, err, s.Stats())
	}
}

// A page pre-empts the scheduled item of its zone, which resumes after it;
// the page's own entry in the play log has its zones and speakers.
func TestPagingPreemptsScheduled(t *testing.T) {
	r := newRig(t, map[string][]string{"east": {"e1"}, "west": {"w1"}})
	ctx := t.Context()
	if err := r.a.Submit(ctx, Item{ID: "news", Priority: Scheduled, Zones: []string{"east", "west"}, Clip: clip(3 * time.Second), OnPreempt: Resume}); err != nil {
		t.Fatal(err)
	}
	e1, w1 := r.sims["e1"], r.sims["w1"]
	waitSim(t, e1, "the news on the air", func(_ speakersim.Stats, n int) bool { return n >= 4000 })
	m := newMic(t)
	if err := r.a.Submit(ctx, m.item("page:s1", "east")); err != nil {
		t.Fatal(err)
	}
	waitSim(t, e1, "the page on the air", func(st speakersim.Stats, _ int) bool { return st.Spurts >= 2 })
	before := e1.Heard()
	waitSim(t, e1, "half a second of the page", func(_ speakersim.Stats, n int) bool { return n >= before+4000 })
	if p := r.next(t); p.ItemID != "news" || p.Result != ResultPreempted {
		t.Fatalf("first log entry %+v, want the news preempted", p)
	}
	m.hangUp()
	p := r.next(t)
	if p.ItemID != "page:s1" || p.Result != ResultPlayed || p.Priority != Paging || len(p.Zones) != 1 || p.Zones[0] != "east" ||
		len(p.Speakers) != 1 || p.Speakers[0] != "e1" || len(p.Errors) != 0 || p.Resumed || !p.EndedAt.After(p.StartedAt) {
		t.Fatalf("the page logged %+v", p)
	}
	m.wasEnded(t, ResultPlayed)
	if p := r.next(t); p.ItemID != "news" || !p.Resumed || p.Result != ResultPlayed {
		t.Fatalf("after the page: %+v, want the news resumed and played", p)
	}
	if st := w1.Stats(); st.Spurts != 2 {
		t.Errorf("west heard %d talk spurts, want 2 (the news, then its rest): a page of east went west", st.Spurts)
	}
}

// An emergency pre-empts a page, which ends (a live item does not resume).
func TestEmergencyPreemptsPaging(t *testing.T) {
	r := newRig(t, map[string][]string{"east": {"e1"}})
	ctx := t.Context()
	m := newMic(t)
	if err := r.a.Submit(ctx, m.item("page:s2", "east")); err != nil {
		t.Fatal(err)
	}
	e1 := r.sims["e1"]
	waitSim(t, e1, "the page on the air", func(_ speakersim.Stats, n int) bool { return n >= 1600 })
	if err := r.a.Submit(ctx, Item{ID: "flood", Priority: Emergency, Zones: []string{"east"}, Clip: clip(300 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if p := r.next(t); p.ItemID != "page:s2" || p.Result != ResultSkipped || p.Priority != Paging {
		t.Fatalf("the page logged %+v, want skipped", p)
	}
	m.wasEnded(t, ResultSkipped)
	if p := r.next(t); p.ItemID != "flood" || p.Result != ResultPlayed {
		t.Fatalf("the emergency logged %+v", p)
	}
	// A probe sent to the zone now is what plays next: had the page come
	// back, it would be logged first. Order, not a wait, shows it.
	if err := r.a.Submit(ctx, Item{ID: "probe", Priority: Background, Zones: []string{"east"}, Clip: clip(40 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if p := r.next(t); p.ItemID != "probe" {
		t.Fatalf("after the emergency: %+v; a pre-empted page must not come back", p)
	}
}

// Speakers that take no live audio are errors of the page; the others
// play it. A page whose pager hung up while it waited never goes on the
// air; one stopped is skipped.
func TestPagingOddCases(t *testing.T) {
	r := newRig(t, map[string][]string{"east": {"e1", "clips-only-1"}, "west": {"clips-only-2"}})
	ctx := t.Context()

	m := newMic(t)
	if err := r.a.Submit(ctx, m.item("page:mixed", "east")); err != nil {
		t.Fatal(err)
	}
	waitSim(t, r.sims["e1"], "the page on the air", func(_ speakersim.Stats, n int) bool { return n >= 800 })
	m.hangUp()
	p := r.next(t)
	if p.Result != ResultPlayed || len(p.Speakers) != 1 || p.Speakers[0] != "e1" || p.Errors["clips-only-1"] != "live paging needs an RTP speaker" {
		t.Fatalf("a page of a mixed zone logged %+v", p)
	}
	m.wasEnded(t, ResultPlayed)
	if st := r.sims["clips-only-1"].Stats(); st.Packets != 0 {
		t.Errorf("a speaker without live audio got %d packets", st.Packets)
	}

	m = newMic(t)
	if err := r.a.Submit(ctx, m.item("page:west", "west")); err != nil {
		t.Fatal(err)
	}
	if p := r.next(t); p.Result != ResultFailed || p.Errors["clips-only-2"] == "" {
		t.Fatalf("a page with no speaker for it logged %+v", p)
	}
	m.wasEnded(t, ResultFailed)

	// A long emergency holds east; a page waits behind it, and its pager
	// gives up.
	if err := r.a.Submit(ctx, Item{ID: "siren", Priority: Emergency, Zones: []string{"east"}, Clip: clip(time.Second)}); err != nil {
		t.Fatal(err)
	}
	m = newMic(t)
	if err := r.a.Submit(ctx, m.item("page:late", "east")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the page queue up: its hang-up is what is tested
	m.hangUp()
	if p := r.next(t); p.ItemID != "siren" || p.Result != ResultPlayed {
		t.Fatalf("got %+v, want the siren played", p)
	}
	if p := r.next(t); p.ItemID != "page:late" || p.Result != ResultSkipped || p.Errors["item"] == "" {
		t.Fatalf("a page given up in the queue logged %+v", p)
	}
	m.wasEnded(t, ResultSkipped)

	m = newMic(t)
	if err := r.a.Submit(ctx, m.item("page:stopped", "east")); err != nil {
		t.Fatal(err)
	}
	before := r.sims["e1"].Heard()
	waitSim(t, r.sims["e1"], "the page on the air", func(_ speakersim.Stats, n int) bool { return n >= before+800 })
	if err := r.a.Stop(ctx, []string{"east"}); err != nil {
		t.Fatal(err)
	}
	if p := r.next(t); p.ItemID != "page:stopped" || p.Result != ResultSkipped {
		t.Fatalf("a stopped page logged %+v", p)
	}
	m.wasEnded(t, ResultSkipped)

	if err := r.a.Submit(ctx, Item{ID: "bad", Priority: Paging, Zones: []string{"east"}, Live: &Live{Law: "G722", Frames: m.frames}}); err == nil {
		t.Error("a G.722 live item was taken")
	}
}
