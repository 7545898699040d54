package playout

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker/rtpspeaker"
	"github.com/dalaba/dalaba/devices/speaker/speakersim"
	"github.com/dalaba/dalaba/edge/clock/clocktest"
	"github.com/dalaba/dalaba/edge/media"
	"github.com/dalaba/dalaba/edge/store"
	"github.com/dalaba/dalaba/protocol"
	"github.com/dalaba/dalaba/protocol/schedule"
)

// shanghai is the villages' zone; the tests' instants are its wall times.
var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return l
}()

func at(day, hhmm string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", day+" "+hhmm, shanghai)
	if err != nil {
		panic(err)
	}
	return t
}

// tone is a sine at freq Hz, rate Hz mono, half scale.
func tone(rate int, freq float64, d time.Duration) audio.PCM {
	n := int(d.Seconds() * float64(rate))
	p := audio.PCM{Rate: rate, Channels: 1, Samples: make([]int16, n)}
	for i := range n {
		p.Samples[i] = int16(16000 * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return p
}

func wav(t testing.TB, p audio.PCM) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := audio.EncodeWAV(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// rig is a playout over real parts: a bbolt store, the media cache
// downloading from a township stand-in over HTTP, RTP speakers sending to
// simulated speakers on loopback, and a fake wall clock.
type rig struct {
	t       testing.TB
	p       *Playout
	clk     *clocktest.Clock
	cache   *media.Cache
	files   map[string][]byte // what the township serves, by sha256
	sims    map[string]*speakersim.Sim
	trust   atomic.Bool
	contact atomic.Pointer[time.Time]
	hanging sync.Map // sha256 → chan struct{}: GETs of it are told of and never answered

	mu     sync.Mutex
	events []recorded
	taken  map[int]bool
}

type recorded struct {
	typ  string
	data json.RawMessage
}

func newRig(t testing.TB, start time.Time, sims ...string) *rig {
	t.Helper()
	r := &rig{t: t, clk: clocktest.New(start), files: map[string][]byte{}, sims: map[string]*speakersim.Sim{}, taken: map[int]bool{}}
	r.trust.Store(true)
	r.contact.Store(&start)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, id := range sims {
		s, err := speakersim.New(speakersim.Config{Listen: "127.0.0.1:0", Hangover: 60 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		r.sims[id] = s
		wg.Go(func() { _ = s.Run(ctx) })
	}
	var filesMu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		sha := strings.TrimPrefix(req.URL.Path, "/")
		if asked, ok := r.hanging.Load(sha); ok {
			select {
			case asked.(chan struct{}) <- struct{}{}:
			default:
			}
			<-req.Context().Done()
			return
		}
		filesMu.Lock()
		b, ok := r.files[sha]
		filesMu.Unlock()
		if !ok {
			http.NotFound(w, req)
			return
		}
		http.ServeContent(w, req, "", time.Time{}, bytes.NewReader(b))
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "edge.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r.cache, err = media.New(media.Config{Dir: filepath.Join(dir, "media"), BaseURL: srv.URL + "/"}, media.Deps{DB: st.DB(), Now: r.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	r.p, err = New(Config{HealthEvery: time.Second}, Deps{
		Clock: r.clk, State: st, Media: r.cache, Drivers: r.driver, Record: r.record,
		Trusted:     func(time.Time) bool { return r.trust.Load() },
		LastContact: func() time.Time { return *r.contact.Load() },
	})
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		if err := r.p.Run(ctx); err != nil {
			t.Errorf("playout: %v", err)
		}
	})
	return r
}

// driver sends RTP to the simulated speaker of the same id; "dead" to a
// port nobody listens on.
func (r *rig) driver(s protocol.Speaker) (Driver, error) {
	sp, err := rtpspeaker.New(rtpspeaker.Config{Addr: s.Addr})
	if err != nil {
		return Driver{}, err
	}
	return Driver{Speaker: sp, Rate: rtpspeaker.Rate, Close: sp.Close}, nil
}

func (r *rig) record(_ context.Context, typ string, _ protocol.Priority, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.events = append(r.events, recorded{typ, b})
	r.mu.Unlock()
	return nil
}

// serve makes the township offer b; it returns b's sha256 and medium.
func (r *rig) serve(b []byte) protocol.Media {
	s := sha(b)
	r.files[s] = b
	return protocol.Media{SHA256: s, Size: int64(len(b))}
}

func (r *rig) speaker(id string) protocol.Speaker {
	if id == "dead" {
		l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			r.t.Fatal(err)
		}
		addr := l.LocalAddr().String()
		l.Close() // nobody listens: ICMP port unreachable
		return protocol.Speaker{ID: id, Driver: protocol.DriverRTP, Addr: addr}
	}
	return protocol.Speaker{ID: id, Driver: protocol.DriverRTP, Addr: r.sims[id].Addr().String()}
}

// waitEvent returns the first recorded event of typ matching ok that no
// earlier wait returned.
func (r *rig) waitEvent(typ string, ok func(json.RawMessage) bool) json.RawMessage {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		for i, e := range r.events {
			if !r.taken[i] && e.typ == typ && (ok == nil || ok(e.data)) {
				r.taken[i] = true
				r.mu.Unlock()
				return e.data
			}
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			r.t.Fatalf("no %s event within 10s; recorded: %s", typ, r.dump())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *rig) waitPlay(item string) protocol.PlayLog {
	r.t.Helper()
	var l protocol.PlayLog
	raw := r.waitEvent(protocol.EventPlayed, func(b json.RawMessage) bool {
		var x protocol.PlayLog
		return json.Unmarshal(b, &x) == nil && strings.HasPrefix(x.ItemID, item)
	})
	if err := json.Unmarshal(raw, &l); err != nil {
		r.t.Fatal(err)
	}
	return l
}

func (r *rig) dump() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.events {
		fmt.Fprintf(&b, "\n  %s %s", e.typ, e.data)
	}
	return b.String()
}

func (r *rig) count(typ string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.typ == typ {
			n++
		}
	}
	return n
}

// eventually polls cond for up to 10 s of real time.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// loaded waits until the clips the schedules need are decoded.
func (r *rig) loaded(want int) {
	r.t.Helper()
	eventually(r.t, "clips decoded", func() bool { return r.p.clips.decoded() >= want })
}

func (r *rig) heard(id string, spurts int) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.sims[id].Wait(ctx, func(st speakersim.Stats, _ int) bool { return st.Ended >= spurts }); err != nil {
		r.t.Fatalf("speaker %s did not hear %d talk spurts: %v (stats %+v)", id, spurts, err, r.sims[id].Stats())
	}
}

func play(r *rig, id string, a protocol.PlayArgs) (protocol.PlayResult, error) {
	if err := a.Validate(); err != nil { // as the command runner does before Play
		r.t.Fatalf("play %s: %v", id, err)
	}
	res, err := r.p.Play(context.Background(), protocol.Command{ID: id, Type: protocol.CmdPlay}, a)
	if err != nil {
		return protocol.PlayResult{}, err
	}
	return res.(protocol.PlayResult), nil
}

func TestScheduledItemPlaysAtItsInstantWithChime(t *testing.T) {
	r := newRig(t, at("2027-03-01", "07:29:00"), "horn")
	src := tone(16000, 440, 300*time.Millisecond)
	m := r.serve(wav(t, src))
	r.p.Apply(&protocol.Broadcast{
		Speakers:  []protocol.Speaker{r.speaker("horn")},
		Zones:     []protocol.Zone{{ID: "square", Speakers: []string{"horn"}}},
		Media:     []protocol.Media{m},
		Schedules: []protocol.Schedule{{ID: "morning", Name: "早间广播", Media: []string{m.SHA256}, Rule: schedule.Rule{At: []string{"07:30"}}}},
	})
	r.loaded(1)
	if r.sims["horn"].Stats().Packets != 0 {
		t.Fatal("played before its time")
	}
	r.clk.Set(at("2027-03-01", "07:30:00"))
	l := r.waitPlay("morning@")
	if l.Result != "played" || l.ScheduleID != "morning" || l.Name != "早间广播" || !l.ScheduledAt.Equal(at("2027-03-01", "07:30:00")) ||
		!slices.Equal(l.Speakers, []string{"horn"}) || !slices.Equal(l.Zones, []string{"square"}) || !slices.Equal(l.Media, []string{m.SHA256}) ||
		l.Priority != protocol.PlayScheduled {
		t.Fatalf("play log %+v", l)
	}
	r.heard("horn", 1)
	// The built-in chime (1.4 s) comes first, then the announcement.
	got := r.sims["horn"].Audio()
	want := audio.Chime(8000).Duration() + src.Duration()
	if d := got.Duration(); d < want-60*time.Millisecond || d > want+60*time.Millisecond {
		t.Fatalf("heard %v, want about %v (chime + clip)", d, want)
	}
	ref, err := audio.Convert(src, 8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	tail := got.Samples[len(got.Samples)-len(ref.Samples):]
	if c := correlation(tail, ref.Samples); c < 0.95 {
		t.Fatalf("announcement after the chime correlates %.3f with its source, want ≥ 0.95", c)
	}
}

func correlation(a, b []int16) float64 {
	var ab, aa, bb float64
	for i := range min(len(a), len(b)) {
		x, y := float64(a[i]), float64(b[i])
		ab += x * y
		aa += x * x
		bb += y * y
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

func TestEmergencyPreemptsScheduled(t *testing.T) {
	for _, onPreempt := range []string{protocol.PreemptResume, protocol.PreemptSkip} {
		t.Run(onPreempt, func(t *testing.T) {
			r := newRig(t, at("2027-03-01", "07:29:00"), "horn")
			long := r.serve(wav(t, tone(8000, 440, 3*time.Second)))
			alarm := r.serve(wav(t, tone(8000, 880, 300*time.Millisecond)))
			r.p.Apply(&protocol.Broadcast{
				Chime:    protocol.ChimeOff,
				Speakers: []protocol.Speaker{r.speaker("horn")},
				Zones:    []protocol.Zone{{ID: "square", Speakers: []string{"horn"}}},
				Media:    []protocol.Media{long, alarm},
				Schedules: []protocol.Schedule{{ID: "policy", Media: []string{long.SHA256}, OnPreempt: onPreempt,
					Rule: schedule.Rule{At: []string{"07:30"}}}},
			})
			r.loaded(1)
			r.clk.Set(at("2027-03-01", "07:30:00"))
			sim := r.sims["horn"]
			eventually(t, "the scheduled item on the air", func() bool { return sim.Stats().Packets > 10 })

			before := sim.Stats().Spurts
			sent := time.Now()
			res, err := play(r, "cmd-1", protocol.PlayArgs{Media: []string{alarm.SHA256}, Priority: protocol.PlayEmergency})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			// The emergency starts a new talk spurt (marker bit) at the speaker.
			if err := sim.Wait(ctx, func(st speakersim.Stats, _ int) bool { return st.Spurts > before }); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(sent); d > 200*time.Millisecond {
				t.Errorf("emergency reached the speaker %v after its command, want within 200ms", d)
			}
			first := r.waitPlay("policy@")
			if first.Result != "preempted" && onPreempt == protocol.PreemptResume || first.Result != "skipped" && onPreempt == protocol.PreemptSkip {
				t.Fatalf("interrupted item logged %q with on_preempt %s", first.Result, onPreempt)
			}
			em := r.waitPlay(res.ItemID)
			if em.Result != "played" || em.Priority != protocol.PlayEmergency || em.CommandID != "cmd-1" {
				t.Fatalf("emergency logged %+v", em)
			}
			if onPreempt == protocol.PreemptResume {
				rest := r.waitPlay("policy@")
				if !rest.Resumed || rest.Result != "played" || rest.OffsetMS <= 0 || rest.OffsetMS >= 3000 {
					t.Fatalf("resumed item logged %+v", rest)
				}
			} else {
				time.Sleep(300 * time.Millisecond)
				if n := r.count(protocol.EventPlayed); n != 2 {
					t.Fatalf("%d play log entries after a skip, want 2: %s", n, r.dump())
				}
			}
		})
	}
}

func TestBrokenAudioAndDeadSpeakerLeaveTheRestPlaying(t *testing.T) {
	r := newRig(t, at("2027-03-01", "07:29:00"), "horn")
	good := r.serve(wav(t, tone(8000, 440, 200*time.Millisecond)))
	full := wav(t, tone(8000, 440, time.Second))
	truncated := r.serve(full[:60]) // the header promises more than there is
	unknown := r.serve([]byte("OggS\x00\x02 not a format the box decodes"))
	r.p.Apply(&protocol.Broadcast{
		Chime:    protocol.ChimeOff,
		Speakers: []protocol.Speaker{r.speaker("horn"), r.speaker("dead")},
		Zones: []protocol.Zone{
			{ID: "square", Speakers: []string{"horn"}},
			{ID: "school", Speakers: []string{"dead"}},
		},
		Media: []protocol.Media{good, truncated, unknown},
		Schedules: []protocol.Schedule{
			{ID: "truncated", Media: []string{truncated.SHA256}, Zones: []string{"square"}, Rule: schedule.Rule{At: []string{"07:30"}}},
			{ID: "unknown", Media: []string{unknown.SHA256}, Zones: []string{"square"}, Rule: schedule.Rule{At: []string{"07:31"}}},
			{ID: "good", Media: []string{good.SHA256}, Zones: []string{"square"}, Rule: schedule.Rule{At: []string{"07:32"}}},
			{ID: "school", Media: []string{good.SHA256}, Zones: []string{"school"}, Rule: schedule.Rule{At: []string{"07:32"}}},
		},
	})
	for _, bad := range []string{truncated.SHA256, unknown.SHA256} {
		raw := r.waitEvent(protocol.EventBroadcastError, func(b json.RawMessage) bool { return strings.Contains(string(b), bad) })
		var e protocol.BroadcastError
		if err := json.Unmarshal(raw, &e); err != nil || e.What != "media" || !strings.Contains(e.Error, "decoding") {
			t.Fatalf("error event %s", raw)
		}
	}
	r.clk.Set(at("2027-03-01", "07:30:00"))
	if l := r.waitPlay("truncated@"); l.Result != "failed" || l.Errors["item"] == "" {
		t.Fatalf("truncated clip logged %+v", l)
	}
	r.clk.Set(at("2027-03-01", "07:31:00"))
	if l := r.waitPlay("unknown@"); l.Result != "failed" || !strings.Contains(l.Errors["item"], "unknown format") {
		t.Fatalf("unknown codec logged %+v", l)
	}
	r.clk.Set(at("2027-03-01", "07:32:00"))
	if l := r.waitPlay("good@"); l.Result != "played" || !slices.Equal(l.Speakers, []string{"horn"}) {
		t.Fatalf("good clip logged %+v", l)
	}
	r.heard("horn", 1)
	if l := r.waitPlay("school@"); l.Result != "failed" || l.Errors["dead"] == "" {
		t.Fatalf("dead speaker's zone logged %+v", l)
	}
	r.clk.Advance(2 * time.Second) // the next health poll
	raw := r.waitEvent(protocol.EventSpeakerHealth, nil)
	var h protocol.SpeakerHealth
	if err := json.Unmarshal(raw, &h); err != nil || h.ID != "dead" || h.Reachable || h.Error == "" {
		t.Fatalf("speaker health event %s", raw)
	}
}

func TestCommands(t *testing.T) {
	r := newRig(t, at("2027-03-01", "07:29:00"), "horn")
	long := r.serve(wav(t, tone(8000, 440, 5*time.Second)))
	r.p.Apply(&protocol.Broadcast{
		Chime:    protocol.ChimeOff,
		Speakers: []protocol.Speaker{r.speaker("horn")},
		Zones:    []protocol.Zone{{ID: "square", Speakers: []string{"horn"}}},
	})
	eventually(t, "zones applied", func() bool { return r.p.knownZones([]string{"square"}) == nil })
	// The arguments' own checks are the command runner's (and protocol's);
	// what only the box knows is checked here.
	bad := []struct {
		args protocol.PlayArgs
		want string
	}{
		{protocol.PlayArgs{Media: []string{long.SHA256}, Zones: []string{"moon"}}, `unknown zone "moon"`},
		{protocol.PlayArgs{Media: []string{strings.Repeat("0", 64)}}, "fetching"},
	}
	for _, c := range bad {
		if _, err := play(r, "bad", c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("play %+v: %v, want %q", c.args, err, c.want)
		}
	}
	cmd := protocol.Command{ID: "c"}
	if _, err := r.p.Volume(context.Background(), cmd, protocol.VolumeArgs{Zone: "moon", Volume: 50}); err == nil {
		t.Error("volume of an unknown zone accepted")
	}
	if _, err := r.p.Stop(context.Background(), cmd, protocol.StopArgs{Zones: []string{"moon"}}); err == nil {
		t.Error("stop of an unknown zone accepted")
	}

	// Half volume is a quarter of the power (audio.Volume's square law).
	if _, err := r.p.Volume(context.Background(), cmd, protocol.VolumeArgs{Zone: "square", Volume: 50}); err != nil {
		t.Fatal(err)
	}
	res, err := play(r, "c-1", protocol.PlayArgs{Media: []string{long.SHA256}, Name: "测试"})
	if err != nil {
		t.Fatal(err)
	}
	sim := r.sims["horn"]
	eventually(t, "half a second on the air", func() bool { return sim.Heard() > 4000 })
	got := sim.Audio().Samples[800:3200]
	if rms, full := rmsOf(got), rmsOf(tone(8000, 440, 300*time.Millisecond).Samples); rms > full*0.3 || rms < full*0.2 {
		t.Errorf("at volume 50 the level is %.0f of %.0f, want about a quarter", rms, full)
	}
	if _, err := r.p.Stop(context.Background(), cmd, protocol.StopArgs{}); err != nil {
		t.Fatal(err)
	}
	if l := r.waitPlay(res.ItemID); l.Result != "skipped" || l.Name != "测试" || l.CommandID != "c-1" {
		t.Fatalf("stopped item logged %+v", l)
	}
	r.heard("horn", 1)
	if d := sim.Audio().Duration(); d > 3*time.Second {
		t.Fatalf("stop left %v of a 5 s clip playing", d)
	}
}

func rmsOf(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(s)))
}

func TestRemovedClipLeavesTheBox(t *testing.T) {
	r := newRig(t, at("2027-03-01", "07:29:00"), "horn")
	old := r.serve(wav(t, tone(8000, 440, 200*time.Millisecond)))
	next := r.serve(wav(t, tone(8000, 660, 200*time.Millisecond)))
	spec := func(m protocol.Media) *protocol.Broadcast {
		return &protocol.Broadcast{
			Speakers:  []protocol.Speaker{r.speaker("horn")},
			Zones:     []protocol.Zone{{ID: "square", Speakers: []string{"horn"}}},
			Media:     []protocol.Media{m},
			Schedules: []protocol.Schedule{{ID: "list", Media: []string{m.SHA256}, Rule: schedule.Rule{At: []string{"08:00"}}}},
		}
	}
	r.p.Apply(spec(old))
	eventually(t, "the old clip cached", func() bool { return r.cache.Has(old.SHA256) })
	r.p.Apply(spec(next))
	eventually(t, "the new clip cached and the old one gone", func() bool {
		return r.cache.Has(next.SHA256) && !r.cache.Has(old.SHA256)
	})
	if _, ok := r.p.clips.get(clipKey{old.SHA256, 8000}); ok {
		t.Fatal("the old clip is still decoded in memory")
	}
}

func TestUntrustedClockHoldsAndSaysSo(t *testing.T) {
	r := newRig(t, at("2027-03-01", "07:29:00"), "horn")
	r.trust.Store(false)
	m := r.serve(wav(t, tone(8000, 440, 200*time.Millisecond)))
	r.p.Apply(&protocol.Broadcast{
		Speakers:  []protocol.Speaker{r.speaker("horn")},
		Zones:     []protocol.Zone{{ID: "square", Speakers: []string{"horn"}}},
		Media:     []protocol.Media{m},
		Schedules: []protocol.Schedule{{ID: "morning", Media: []string{m.SHA256}, Rule: schedule.Rule{At: []string{"07:30"}}}},
	})
	r.waitEvent(protocol.EventClockUntrusted, nil)
	r.loaded(1)
	r.clk.Set(at("2027-03-01", "07:30:00"))
	time.Sleep(200 * time.Millisecond)
	if n := r.sims["horn"].Stats().Packets; n != 0 || r.count(protocol.EventPlayed) != 0 {
		t.Fatalf("played %d packets on an untrusted clock", n)
	}
	// Trusted again within the grace: the occurrence plays, once.
	r.trust.Store(true)
	r.clk.Set(at("2027-03-01", "07:31:00"))
	if l := r.waitPlay("morning@"); l.Result != "played" {
		t.Fatalf("logged %+v", l)
	}
}

func TestListAnnouncementNeedsRecentContact(t *testing.T) {
	r := newRig(t, at("2027-03-04", "07:29:00"), "horn")
	lastSeen := at("2027-03-01", "07:00:00") // three days and a half ago
	r.contact.Store(&lastSeen)
	list := r.serve(wav(t, tone(8000, 440, 200*time.Millisecond)))
	policy := r.serve(wav(t, tone(8000, 660, 200*time.Millisecond)))
	spec := &protocol.Broadcast{
		Chime:    protocol.ChimeOff,
		Speakers: []protocol.Speaker{r.speaker("horn")},
		Zones:    []protocol.Zone{{ID: "square", Speakers: []string{"horn"}}},
		Media:    []protocol.Media{list, policy},
		Schedules: []protocol.Schedule{
			{ID: "list", Kind: protocol.ScheduleList, Media: []string{list.SHA256}, Rule: schedule.Rule{At: []string{"07:30", "08:00"}}},
			{ID: "policy", Media: []string{policy.SHA256}, Rule: schedule.Rule{At: []string{"07:31"}}},
		},
	}
	r.p.Apply(spec)
	r.loaded(2)
	r.clk.Set(at("2027-03-04", "07:30:00"))
	raw := r.waitEvent(protocol.EventSkipped, nil)
	var sk protocol.Skip
	if err := json.Unmarshal(raw, &sk); err != nil || sk.ScheduleID != "list" || sk.Reason != protocol.SkipListUnconfirmed {
		t.Fatalf("skip event %s", raw)
	}
	r.clk.Set(at("2027-03-04", "07:31:00"))
	if l := r.waitPlay("policy@"); l.Result != "played" {
		t.Fatalf("policy announcement logged %+v", l)
	}
	if n := r.count(protocol.EventPlayed); n != 1 {
		t.Fatalf("%d playbacks, want only the policy one: %s", n, r.dump())
	}
	// Back in touch: the next list occurrence plays.
	now := at("2027-03-04", "07:45:00")
	r.contact.Store(&now)
	r.clk.Set(at("2027-03-04", "08:00:00"))
	if l := r.waitPlay("list@"); l.Result != "played" {
		t.Fatalf("list announcement logged %+v", l)
	}
}
