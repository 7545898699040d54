package paging

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker"
	"github.com/dalaba/dalaba/devices/speaker/rtpspeaker"
	"github.com/dalaba/dalaba/devices/speaker/speakersim"
	"github.com/dalaba/dalaba/edge/broadcast"
	"github.com/dalaba/dalaba/protocol"
)

// village: the square's horn takes A-law, the school's bell μ-law, and
// the clinic has only a play-URL speaker.
var village = []speakerSpec{
	{id: "horn", zone: "square", codec: rtpspeaker.PCMA},
	{id: "bell", zone: "school", codec: rtpspeaker.PCMU},
	{id: "lobby", zone: "clinic", codec: rtpspeaker.PCMU, clipsOnly: true},
}

// heard waits until sim has heard at least d of the page.
func heard(t *testing.T, sim *speakersim.Sim, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if err := sim.Wait(ctx, func(_ speakersim.Stats, n int) bool { return n >= int(d*8000/time.Second) }); err != nil {
		t.Fatalf("the speaker did not hear %v: %v (stats %+v)", d, err, sim.Stats())
	}
}

// contiguous reports whether got is a run of whole frames of sent.
func contiguous(sent, got []int16) bool {
	for at := 0; at+len(got) <= len(sent); at += 160 {
		if slices.Equal(sent[at:at+len(got)], got) {
			return true
		}
	}
	return false
}

// A browser offering Opus, PCMU and PCMA is answered with PCMA alone; what
// it says reaches every RTP speaker of the zones, byte for byte on the
// A-law horn and translated on the μ-law bell, and the play log has the
// page once the pager hangs up.
func TestPageReachesTheSpeakers(t *testing.T) {
	r := startRig(t, Config{}, village...)
	p, res := r.page(t, nil, speaker.ALaw, opus, pcmu, pcma)
	if res.Codec != "PCMA" || len(res.Session) != 32 {
		t.Fatalf("result codec %q session %q", res.Codec, res.Session)
	}
	if !strings.Contains(res.Answer, "a=rtpmap:8 PCMA/8000") || strings.Contains(res.Answer, "opus") ||
		strings.Contains(res.Answer, "PCMU") || !strings.Contains(res.Answer, "a=candidate:") || !strings.Contains(res.Answer, "a=recvonly") {
		t.Fatalf("answer:\n%s", res.Answer)
	}
	ctx, cancel := context.WithCancel(t.Context())
	spoke := make(chan error, 1)
	go func() { spoke <- p.speak(ctx) }()
	horn, bell := r.sims["horn"], r.sims["bell"]
	heard(t, horn, 1500*time.Millisecond)
	heard(t, bell, 1500*time.Millisecond)
	cancel()
	if err := <-spoke; err != nil {
		t.Fatal(err)
	}
	if err := p.pc.GracefulClose(); err != nil { // the official hangs up
		t.Fatal(err)
	}

	pb := r.played(t, "page:"+res.Session)
	if pb.Result != broadcast.ResultPlayed || pb.Priority != broadcast.Paging ||
		!slices.Equal(pb.Zones, []string{"clinic", "school", "square"}) || !slices.Equal(pb.Speakers, []string{"bell", "horn"}) ||
		pb.Errors["lobby"] != "live paging needs an RTP speaker" || len(pb.Errors) != 1 {
		t.Fatalf("play log %+v", pb)
	}
	waitFor(t, "the session gone", func() bool { return r.srv.Sessions() == 0 })

	sent := p.sentSoFar()
	alaw := audio.DecodeALaw(nil, sent)
	got := horn.Audio().Samples
	if !contiguous(alaw, got) {
		t.Error("the A-law horn did not hear the pager's frames as sent")
	}
	var translated []int16 // each A-law byte as the μ-law byte nearest its level
	for _, b := range sent {
		translated = append(translated, audio.ULawToLinear(audio.LinearToULaw(audio.ALawToLinear(b))))
	}
	if !contiguous(translated, bell.Audio().Samples) {
		t.Error("the μ-law bell did not hear the pager's frames, translated byte by byte")
	}
	for id, sim := range map[string]*speakersim.Sim{"horn": horn, "bell": bell} {
		s := sim.Audio().Samples
		at1k, at440 := toneShare(s, 1000), toneShare(s, 440)
		t.Logf("%s: %d ms heard, %.3f of the energy at 1 kHz, %.3f at 440 Hz; %+v", id, len(s)/8, at1k, at440, sim.Stats())
		if at1k < 0.9 || at440 > 0.05 {
			t.Errorf("%s: %.3f of the energy at 1 kHz and %.3f at 440 Hz; want the tone to dominate", id, at1k, at440)
		}
		if st := sim.Stats(); st.Lost != 0 || st.Spurts != 1 || st.Unmarked != 0 {
			t.Errorf("%s: stats %+v", id, st)
		}
	}
	if n := r.sims["lobby"].Stats().Packets; n != 0 {
		t.Errorf("the clinic's play-URL speaker got %d packets", n)
	}
}

// A browser without A-law is answered with PCMU; the A-law horn hears the
// page translated.
func TestPCMUOnlyBrowser(t *testing.T) {
	r := startRig(t, Config{}, village...)
	p, res := r.page(t, []string{"square"}, speaker.ULaw, opus, pcmu)
	if res.Codec != "PCMU" || !strings.Contains(res.Answer, "a=rtpmap:0 PCMU/8000") || strings.Contains(res.Answer, "opus") {
		t.Fatalf("codec %q, answer:\n%s", res.Codec, res.Answer)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go p.speak(ctx)
	heard(t, r.sims["horn"], time.Second)
	if s := toneShare(r.sims["horn"].Audio().Samples, 1000); s < 0.9 {
		t.Errorf("%.3f of the energy at 1 kHz", s)
	}
	if n := r.sims["bell"].Stats().Packets; n != 0 {
		t.Errorf("a page of the square reached the school's bell: %d packets", n)
	}
	if err := r.srv.Stop(res.Session); err != nil {
		t.Fatal(err)
	}
	if pb := r.played(t, "page:"+res.Session); pb.Result != broadcast.ResultPlayed || !slices.Equal(pb.Zones, []string{"square"}) {
		t.Errorf("play log %+v", pb)
	}
	select {
	case <-p.stateEnd:
	case <-time.After(10 * time.Second):
		t.Error("the pager's connection was not closed by Stop")
	}
	if err := r.srv.Stop(res.Session); !errors.Is(err, ErrUnknownSession) {
		t.Errorf("a second Stop: %v, want ErrUnknownSession", err)
	}
}

// Offers the box cannot take are refused with a clear error, and nothing
// starts: no session, nothing on the air.
func TestRefusals(t *testing.T) {
	r := startRig(t, Config{}, village...)
	_, good := newPager(t, speaker.ALaw, opus, pcmu, pcma)
	_, opusOnly := newPager(t, speaker.ALaw, opus)
	mAudio := strings.Index(good, "m=audio")
	videoOnly := good[:mAudio] + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 VP8/90000\r\na=sendonly\r\n"
	listenOnly := strings.Replace(good, "a=sendrecv", "a=recvonly", 1)
	// One page holds the square; a second one for it, or for everywhere,
	// must wait.
	_, held := r.page(t, []string{"square"}, speaker.ALaw, pcma)
	for _, tc := range []struct {
		name  string
		zones []string
		offer string
		want  error
		says  string
	}{
		{"malformed", nil, "v=0\r\nthis is not sdp\r\n", ErrBadOffer, "malformed"},
		{"not sdp", nil, "hello", ErrBadRequest, "offer"},
		{"bad zone id", []string{"square/1"}, good, ErrBadRequest, "zones[0]"},
		{"no audio m-line", nil, videoOnly, ErrNoAudio, "no audio m-line"},
		{"listen only", []string{"school"}, listenOnly, ErrNoAudio, "recvonly"},
		{"opus only", []string{"school"}, opusOnly, ErrNoG711, "opus"},
		{"unknown zone", []string{"moon"}, good, nil, `unknown zone "moon"`},
		{"zone being paged", []string{"school", "square"}, good, ErrZoneBusy, `zone "square", by "王主任"`},
		{"every zone while one is paged", nil, good, ErrZoneBusy, "already being paged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.srv.Answer(t.Context(), protocol.PageArgs{Zones: tc.zones, Offer: tc.offer, Pager: "李书记"}, "cmd-2")
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err = %v; want %v saying %q", err, tc.want, tc.says)
			}
			t.Log(err)
			if n := r.srv.Sessions(); n != 1 {
				t.Errorf("%d sessions after a refusal; want the one holding the square", n)
			}
		})
	}
	if n := r.startsSoFar(); n != 0 {
		t.Errorf("the Air was asked to start %d pages", n)
	}
	// Another zone is free.
	if _, err := r.srv.Answer(t.Context(), protocol.PageArgs{Zones: []string{"school"}, Offer: good}, "cmd-3"); err != nil {
		t.Errorf("a page of the free school: %v", err)
	}
	if err := r.srv.Stop(held.Session); err != nil {
		t.Fatal(err)
	}
}

// The Air taking a page off the air (an emergency) ends its session and
// the pager's connection; so do silence and the longest page.
func TestPageEnds(t *testing.T) {
	t.Run("emergency", func(t *testing.T) {
		r := startRig(t, Config{}, village...)
		p, res := r.page(t, []string{"square"}, speaker.ALaw, pcma)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go p.speak(ctx)
		heard(t, r.sims["horn"], 500*time.Millisecond)
		siren := audio.Chime(8000)
		if err := r.arb.Submit(t.Context(), broadcast.Item{ID: "flood", Priority: broadcast.Emergency, Zones: []string{"square"}, Clip: siren}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.stateEnd:
		case <-time.After(10 * time.Second):
			t.Fatal("the pager's connection stayed open after an emergency took the square")
		}
		if pb := r.played(t, "page:"+res.Session); pb.Result != broadcast.ResultSkipped {
			t.Errorf("play log %+v, want skipped", pb)
		}
		if pb := r.played(t, "flood"); pb.Result != broadcast.ResultPlayed {
			t.Errorf("the emergency: %+v", pb)
		}
		waitFor(t, "the session gone", func() bool { return r.srv.Sessions() == 0 })
	})
	t.Run("silence", func(t *testing.T) {
		r := startRig(t, Config{IdleTimeout: 300 * time.Millisecond}, village...)
		p, res := r.page(t, []string{"square"}, speaker.ALaw, pcma)
		for n := range 10 {
			if err := p.frame(n); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond) // the microphone's pace, then nothing
		}
		select {
		case <-p.stateEnd:
		case <-time.After(10 * time.Second):
			t.Fatal("a silent page was not ended")
		}
		if pb := r.played(t, "page:"+res.Session); pb.Result != broadcast.ResultPlayed {
			t.Errorf("play log %+v", pb)
		}
	})
	t.Run("longest page", func(t *testing.T) {
		r := startRig(t, Config{MaxDuration: 700 * time.Millisecond}, village...)
		p, res := r.page(t, []string{"square"}, speaker.ALaw, pcma)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go p.speak(ctx)
		start := time.Now()
		select {
		case <-p.stateEnd:
		case <-time.After(10 * time.Second):
			t.Fatal("a page past its longest was not ended")
		}
		if d := time.Since(start); d < 600*time.Millisecond {
			t.Errorf("ended after %v, before its 700 ms", d)
		}
		if pb := r.played(t, "page:"+res.Session); pb.Result != broadcast.ResultPlayed || pb.EndedAt.Sub(pb.StartedAt) > 2*time.Second {
			t.Errorf("play log %+v", pb)
		}
	})
	t.Run("no RTP speaker", func(t *testing.T) {
		r := startRig(t, Config{}, village...)
		p, res := r.page(t, []string{"clinic"}, speaker.ALaw, pcma)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go p.speak(ctx)
		select {
		case <-p.stateEnd:
		case <-time.After(10 * time.Second):
			t.Fatal("a page nobody can hear was not ended")
		}
		if pb := r.played(t, "page:"+res.Session); pb.Result != broadcast.ResultFailed || pb.Errors["lobby"] == "" {
			t.Errorf("play log %+v, want failed", pb)
		}
	})
	t.Run("never connects", func(t *testing.T) {
		r := startRig(t, Config{SessionTimeout: 300 * time.Millisecond}, village...)
		_, offer := newPager(t, speaker.ALaw, pcma)
		if _, err := r.srv.Answer(t.Context(), protocol.PageArgs{Zones: []string{"square"}, Offer: offer}, ""); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the session given up", func() bool { return r.srv.Sessions() == 0 })
		if n := r.startsSoFar(); n != 0 {
			t.Errorf("a page that never connected went on the air (%d starts)", n)
		}
	})
}

// TestNoLeaks: after pages end by Stop, by the pager hanging up and by
// Run's end, goroutines return to the baseline.
func TestNoLeaks(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		r := startRig(t, Config{}, append(slices.Clone(village), speakerSpec{id: "gate", zone: "gate", codec: rtpspeaker.PCMA})...)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var pagers []*pager
		var sessions []string
		for _, z := range []string{"square", "school", "gate"} {
			p, res := r.page(t, []string{z}, speaker.ALaw, opus, pcmu, pcma)
			pagers, sessions = append(pagers, p), append(sessions, res.Session)
			go p.speak(ctx)
		}
		heard(t, r.sims["horn"], 200*time.Millisecond)
		heard(t, r.sims["bell"], 200*time.Millisecond)
		if err := r.srv.Stop(sessions[0]); err != nil {
			t.Fatal(err)
		}
		_ = pagers[1].pc.GracefulClose() // the pager leaves; its close is what is tested
		waitFor(t, "the leaving pager's session ends", func() bool { return r.srv.Sessions() == 1 })
		r.srvRun.Stop()
		if n := r.srv.Sessions(); n != 0 {
			t.Errorf("%d sessions after Run", n)
		}
		if _, err := r.srv.Answer(t.Context(), protocol.PageArgs{Offer: "v=0\r\n"}, ""); err == nil {
			t.Error("Answer after Run: no error")
		}
		cancel()
		for _, p := range pagers {
			_ = p.pc.GracefulClose() // may be closed already
		}
		r.arbRun.Stop()
		for _, b := range r.simRuns {
			b.Stop()
		}
	}()

	const tolerance = 3
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base+tolerance {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, baseline %d:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConfig(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
	err := Config{MaxSessions: -1, IdleTimeout: time.Millisecond, UDPPortMin: 5000, ICE: []protocol.ICEServer{{}}}.Validate()
	for _, want := range []string{"max sessions", "idle timeout", "udp ports", "ice[0]"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
}
