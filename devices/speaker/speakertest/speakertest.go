package speakertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker"
)

// Subject is one driver under test.
type Subject struct {
	Speaker speaker.Speaker
	// Heard reports how much audio has reached the device so far. Nil
	// when the test cannot observe the device; the suite then checks only
	// what Play and Health say.
	Heard func() time.Duration
}

// Bounds of the suite. Prompt is what "at once" may take on a loaded
// 2-core machine under the race detector: generous, because the suite
// checks behaviour, not speed (benchmarks measure that).
const (
	prompt  = 2 * time.Second
	arrival = 5 * time.Second // for audio in flight to reach the device
)

// Run runs the suite as subtests of t. newSubject is called once per
// subtest and must return a fresh speaker that is reachable, cleaning up
// after itself with t.Cleanup.
func Run(t *testing.T, newSubject func(t *testing.T) Subject) {
	t.Run("HealthIsSane", func(t *testing.T) { healthIsSane(t, newSubject(t)) })
	t.Run("PlaysAtRealTimePace", func(t *testing.T) { playsAtRealTimePace(t, newSubject(t)) })
	t.Run("CancelStopsPromptly", func(t *testing.T) { stopsPromptly(t, newSubject(t), false) })
	t.Run("HaltStopsPromptly", func(t *testing.T) { stopsPromptly(t, newSubject(t), true) })
	t.Run("HaltWhenIdleIsHarmless", func(t *testing.T) { haltWhenIdle(t, newSubject(t)) })
	t.Run("CancelledContextPlaysNothing", func(t *testing.T) { cancelledContext(t, newSubject(t)) })
	t.Run("RefusesInvalidClip", func(t *testing.T) { refusesInvalid(t, newSubject(t)) })
	t.Run("PlaysOneAtATime", func(t *testing.T) { oneAtATime(t, newSubject(t)) })
	t.Run("Volume", func(t *testing.T) { volume(t, newSubject(t)) })
}

// clip is d of the chime at 16 kHz stereo, so a driver has to convert it.
func clip(t *testing.T, d time.Duration) audio.PCM {
	t.Helper()
	c := audio.Chime(16000)
	for c.Duration() < d {
		var err error
		if c, err = audio.Concat(c, audio.Chime(16000)); err != nil {
			t.Fatal(err)
		}
	}
	c.Samples = c.Samples[:int(d*16000/time.Second)]
	return c.Stereo()
}

func checkHealth(t *testing.T, h speaker.Health, wantReachable bool) {
	t.Helper()
	if h.Since.IsZero() || h.Since.After(time.Now()) {
		t.Errorf("health since %s: zero or in the future", h.Since)
	}
	if h.Reachable != (h.LastError == "") {
		t.Errorf("health %+v: an unreachable speaker must say why, a reachable one must not", h)
	}
	if h.Reachable != wantReachable {
		t.Errorf("health %+v, want reachable %v", h, wantReachable)
	}
}

func healthIsSane(t *testing.T, s Subject) {
	checkHealth(t, s.Speaker.Health(), true)
}

func playsAtRealTimePace(t *testing.T, s Subject) {
	c := clip(t, 400*time.Millisecond)
	start := time.Now()
	if err := s.Speaker.Play(t.Context(), c); err != nil {
		t.Fatalf("Play: %v", err)
	}
	// Play returns when the clip has played, not when it was handed over.
	if took := time.Since(start); took < c.Duration()*9/10 {
		t.Errorf("Play of %s returned after %s: not real-time", c.Duration(), took)
	}
	if s.Heard != nil {
		if !eventually(arrival, func() bool { return s.Heard() >= c.Duration()*95/100 }) {
			t.Errorf("the device heard %s of a %s clip", s.Heard(), c.Duration())
		}
		// Padding to whole packets is fine; repeating audio is not.
		if h := s.Heard(); h > c.Duration()+100*time.Millisecond {
			t.Errorf("the device heard %s of a %s clip", h, c.Duration())
		}
	}
	checkHealth(t, s.Speaker.Health(), true)
}

// stopsPromptly starts a long clip, waits until the device hears it, then
// cancels it (or halts it) and expects Play back at once.
func stopsPromptly(t *testing.T, s Subject, halt bool) {
	long := clip(t, 30*time.Second)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Speaker.Play(ctx, long) }()
	if s.Heard != nil && !eventually(arrival, func() bool { return s.Heard() > 0 }) {
		t.Fatal("the device heard nothing of a playing clip")
	}
	start := time.Now()
	want := context.Canceled
	if halt {
		want = speaker.ErrHalted
		if err := s.Speaker.Halt(); err != nil {
			t.Fatalf("Halt: %v", err)
		}
	} else {
		cancel()
	}
	select {
	case err := <-done:
		if !errors.Is(err, want) {
			t.Errorf("Play returned %v, want %v", err, want)
		}
		if took := time.Since(start); took > prompt {
			t.Errorf("Play took %s to stop", took)
		}
	case <-time.After(arrival):
		t.Fatalf("Play still running %s after being stopped", arrival)
	}
	// A driver that blasted the clip out faster than real time would have
	// delivered most of it by now.
	if s.Heard != nil {
		if h := s.Heard(); h > 10*time.Second {
			t.Errorf("the device heard %s of a clip stopped within seconds", h)
		}
	}
	checkHealth(t, s.Speaker.Health(), true)
}

func haltWhenIdle(t *testing.T, s Subject) {
	if err := s.Speaker.Halt(); err != nil {
		t.Fatalf("Halt with nothing playing: %v", err)
	}
	if err := s.Speaker.Play(t.Context(), clip(t, 100*time.Millisecond)); err != nil {
		t.Fatalf("Play after an idle Halt: %v", err)
	}
}

func cancelledContext(t *testing.T, s Subject) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	start := time.Now()
	if err := s.Speaker.Play(ctx, clip(t, 5*time.Second)); !errors.Is(err, context.Canceled) {
		t.Errorf("Play with a cancelled context: %v", err)
	}
	if took := time.Since(start); took > prompt {
		t.Errorf("Play with a cancelled context took %s", took)
	}
	if s.Heard != nil && s.Heard() > 100*time.Millisecond {
		t.Errorf("the device heard %s after a cancelled Play", s.Heard())
	}
}

func refusesInvalid(t *testing.T, s Subject) {
	for _, bad := range []audio.PCM{
		{},
		{Rate: 8000, Channels: 3, Samples: make([]int16, 300)},
		{Rate: 1, Channels: 1, Samples: make([]int16, 300)},
	} {
		start := time.Now()
		if err := s.Speaker.Play(t.Context(), bad); err == nil {
			t.Errorf("Play of %d Hz %d ch succeeded", bad.Rate, bad.Channels)
		}
		if took := time.Since(start); took > prompt {
			t.Errorf("refusing %d Hz %d ch took %s", bad.Rate, bad.Channels, took)
		}
	}
	checkHealth(t, s.Speaker.Health(), true) // a bad clip is the caller's fault, not the device's
}

func oneAtATime(t *testing.T, s Subject) {
	c := clip(t, 200*time.Millisecond)
	start := time.Now()
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- s.Speaker.Play(t.Context(), c) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("Play: %v", err)
		}
	}
	if took := time.Since(start); took < 2*c.Duration()*9/10 {
		t.Errorf("two %s clips played in %s: they overlapped", c.Duration(), took)
	}
	if s.Heard != nil && !eventually(arrival, func() bool { return s.Heard() >= 2*c.Duration()*95/100 }) {
		t.Errorf("the device heard %s of two %s clips", s.Heard(), c.Duration())
	}
}

func volume(t *testing.T, s Subject) {
	v, ok := s.Speaker.(speaker.Volumer)
	if !ok {
		t.Skip("not a speaker.Volumer")
	}
	for _, p := range []int{0, 50, 100} {
		if err := v.SetVolume(p); err != nil {
			t.Errorf("SetVolume(%d): %v", p, err)
		}
	}
	for _, p := range []int{-1, 101} {
		if err := v.SetVolume(p); err == nil {
			t.Errorf("SetVolume(%d) accepted", p)
		}
	}
}

// eventually polls cond until it holds or d passes.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond) // polling to a deadline, not synchronising
	}
	return true
}
