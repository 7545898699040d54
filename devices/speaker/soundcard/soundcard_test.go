package soundcard

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker"
	"github.com/dalaba/dalaba/devices/speaker/speakertest"
	"github.com/dalaba/dalaba/internal/testenv"
)

// childEnv names the scenario a child process of this test binary runs.
const childEnv = "SOUNDCARD_TEST_CHILD"

const libasoundHint = "apt-get install libasound2 (libasound2t64 on Debian 13)"

// shared is the card on ALSA's null device that the tests of this binary
// share, since oto opens one card per process; TestMain opens it before
// any test runs, as ALSA reads its configuration once.
var shared struct {
	card *Card
	err  error
}

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	if os.Getenv(childEnv) != "" {
		return m.Run() // the child opens a card of its own
	}
	dir, err := os.MkdirTemp("", "soundcard-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := alsaOnly(dir, "pcm.!default { type null }", os.Setenv); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	shared.card, shared.err = NewCard(CardConfig{})
	return m.Run()
}

// alsaOnly makes conf, written to dir/.asoundrc, the whole of ALSA's
// configuration (ALSA_CONFIG_PATH, so the machine's own cards offer no
// fallback either) and keeps oto off a PulseAudio or PipeWire server, so
// a developer's desktop does not sound the tests. HOME is dir too, out
// of reach of the user's own ALSA and PulseAudio files.
func alsaOnly(dir, conf string, setenv func(key, value string) error) error {
	rc := filepath.Join(dir, ".asoundrc")
	if err := os.WriteFile(rc, []byte(conf+"\n"), 0o600); err != nil {
		return err
	}
	for k, v := range map[string]string{
		"HOME":             dir,
		"ALSA_CONFIG_PATH": rc,
		"PULSE_SERVER":     "unix:" + filepath.Join(dir, "no-pulse"),
		"XDG_RUNTIME_DIR":  dir,
	} {
		if err := setenv(k, v); err != nil {
			return err
		}
	}
	return nil
}

// nullCard is the shared card, once it has opened the null device.
func nullCard(t *testing.T) *Card {
	t.Helper()
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := shared.card.Wait(ctx); err != nil {
		if errors.Is(err, ErrNoLibasound) {
			testenv.Missing(t, "libasound.so.2", libasoundHint)
		}
		t.Fatalf("opening ALSA's null device: %v", err)
	}
	return shared.card
}

func newSpeaker(t *testing.T, cfg Config) *Speaker {
	t.Helper()
	sp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// heard is how much audio the card has taken from clips since the call:
// what oto read from the feed, which the null device then swallowed.
func heard(c *Card) func() time.Duration {
	base := c.fed.Load()
	perSecond := int64(c.cfg.Rate * c.cfg.Channels * 2)
	return func() time.Duration {
		return time.Duration((c.fed.Load() - base) * int64(time.Second) / perSecond)
	}
}

func TestConformance(t *testing.T) {
	speakertest.Run(t, func(t *testing.T) speakertest.Subject {
		card := nullCard(t)
		return speakertest.Subject{Speaker: newSpeaker(t, Config{Card: card}), Heard: heard(card)}
	})
}

func TestSpeakersTakeTurnsOnTheCard(t *testing.T) {
	card := nullCard(t)
	a, b := newSpeaker(t, Config{Card: card}), newSpeaker(t, Config{Card: card, Volume: 30})
	clip := audio.Chime(8000)
	clip.Samples = clip.Samples[:1600] // 200 ms
	start := time.Now()
	errs := make(chan error, 2)
	for _, sp := range []*Speaker{a, b} {
		go func() { errs <- sp.Play(t.Context(), clip) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("Play: %v", err)
		}
	}
	if took := time.Since(start); took < 360*time.Millisecond {
		t.Errorf("two 200 ms clips on one card played in %s: they overlapped", took)
	}
}

func TestHaltOtherSpeakerLeavesClipAlone(t *testing.T) {
	card := nullCard(t)
	a, b := newSpeaker(t, Config{Card: card}), newSpeaker(t, Config{Card: card})
	clip := audio.Silence(16000, 1, 300*time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- a.Play(t.Context(), clip) }()
	time.Sleep(50 * time.Millisecond) // let a's clip start; a later Halt is what is tested
	if err := b.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Play on a, after b halted: %v", err)
	}
}

func TestSecondCardIsRefused(t *testing.T) {
	_, err := NewCard(CardConfig{})
	if err == nil || !strings.Contains(err.Error(), "once per process") {
		t.Errorf("a second NewCard in the process: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []CardConfig{
		{Rate: 1000},
		{Rate: audio.MaxRate + 1},
		{Channels: 3},
		{Channels: -1},
		{BufferSize: -time.Millisecond},
		{BufferSize: MaxBufferSize + 1},
	} {
		// Refused before oto is asked, so the shared card is no obstacle.
		if _, err := NewCard(cfg); err == nil || !strings.Contains(err.Error(), "soundcard: config") {
			t.Errorf("NewCard(%+v): %v", cfg, err)
		}
	}
	card := &Card{}
	for _, cfg := range []Config{{}, {Card: card, Volume: -1}, {Card: card, Volume: 101}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestCardErrorNamesTheMissingLibrary(t *testing.T) {
	// What oto 3.5 says with neither a sound server nor libasound; a box
	// without the library cannot be made in a test.
	oto := errors.New("oto: initialization failed: PulseAudio: oto: PulseAudio client initialization failed: " +
		"dial unix /run/user/0/pulse/native: connect: no such file or directory; ALSA: oto: failed to load libasound: " +
		"libasound.so: cannot open shared object file: No such file or directory")
	err := cardError(oto)
	if !errors.Is(err, ErrNoLibasound) || !errors.Is(err, oto) || !strings.HasPrefix(err.Error(), "sound card: ") ||
		!strings.Contains(err.Error(), "apt-get install libasound2") {
		t.Errorf("cardError: %v", err)
	}
	if err := cardError(errors.New("oto: ALSA error at snd_pcm_open: Invalid argument")); errors.Is(err, ErrNoLibasound) {
		t.Errorf("a missing device taken for a missing library: %v", err)
	}
	if cardError(nil) != nil {
		t.Error("cardError(nil) is not nil")
	}
}

func TestFeedPacesWholeFrames(t *testing.T) {
	clip := audio.PCM{Rate: 8000, Channels: 2, Samples: make([]int16, 2*8000)} // 1 s, at the card's format
	for i := range clip.Samples {
		clip.Samples[i] = int16(i - 8000)
	}
	f, err := newFeed(clip, 8000, 2, 100)
	if err != nil {
		t.Fatal(err)
	}
	var fed atomic.Int64
	f.lead, f.start, f.fed = 100*time.Millisecond, time.Now().Add(-50*time.Millisecond), &fed
	b := make([]byte, 1<<16)
	n, err := f.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	// 150 ms is due, 1200 frames: 50 ms played plus the lead; a slow
	// machine adds a little.
	if n%4 != 0 || n < 1200*4 || n > 2000*4 {
		t.Fatalf("first read took %d bytes, want about 1200 frames of 4", n)
	}
	for i := range n / 2 {
		if got := int16(binary.LittleEndian.Uint16(b[2*i:])); got != clip.Samples[i] {
			t.Fatalf("sample %d: %d, want %d", i, got, clip.Samples[i])
		}
	}
	if got := fed.Load(); got != int64(n) {
		t.Errorf("fed %d bytes, read %d", got, n)
	}
	if m, err := f.Read(b[:3]); m != 0 || err != nil {
		t.Errorf("read into less than a frame: %d, %v", m, err)
	}
	f.start = time.Now().Add(-time.Hour) // everything due
	total := n
	for {
		m, err := f.Read(b[:1000])
		total += m
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if total != 2*len(clip.Samples) || fed.Load() != int64(total) || f.taken() != time.Second {
		t.Errorf("read %d bytes, fed %d, taken %s; want %d bytes, 1s", total, fed.Load(), f.taken(), 2*len(clip.Samples))
	}
}

// TestFeedConvertsLikeTheWholeClip checks that converting chunk by chunk,
// as the feed does, gives the very samples converting the whole clip
// gives: no clicks or drift at chunk boundaries.
func TestFeedConvertsLikeTheWholeClip(t *testing.T) {
	for _, tc := range []struct{ from, fromCh, to, toCh, vol int }{
		{16000, 2, 48000, 2, 100},
		{44100, 2, 48000, 2, 100},
		{22050, 1, 48000, 2, 50},
		{48000, 2, 44100, 1, 100},
		{96000, 1, 4000, 1, 100},
		{8000, 1, 8000, 2, 100},
	} {
		t.Run(fmt.Sprintf("%d_%dch_to_%d_%dch_vol%d", tc.from, tc.fromCh, tc.to, tc.toCh, tc.vol), func(t *testing.T) {
			clip := audio.Chime(tc.from)
			clip.Samples = clip.Samples[:tc.from*3/4] // 750 ms: several chunks and a part one
			if tc.fromCh == 2 {
				clip = clip.Stereo()
			}
			want, err := audio.Convert(clip, tc.to, tc.toCh)
			if err != nil {
				t.Fatal(err)
			}
			want = audio.Volume(want, tc.vol)
			f, err := newFeed(clip, tc.to, tc.toCh, tc.vol)
			if err != nil {
				t.Fatal(err)
			}
			var got []int16
			for {
				got = append(got, f.pending...)
				if f.next >= clip.Frames() {
					break
				}
				if err := f.convert(); err != nil {
					t.Fatal(err)
				}
			}
			if len(got) != len(want.Samples) {
				t.Fatalf("%d samples, want %d", len(got), len(want.Samples))
			}
			for i := range got {
				if got[i] != want.Samples[i] {
					t.Fatalf("sample %d (frame %d of %d): %d, want %d", i, i/tc.toCh, want.Frames(), got[i], want.Samples[i])
				}
			}
		})
	}
}

// TestNoCard checks that a box without a working card gets a clear error
// from Play and an unreachable Health rather than a panic. oto opens one
// card per process, and this one holds the null device, so the scenario
// runs in a child process of this test binary.
func TestNoCard(t *testing.T) {
	if os.Getenv(childEnv) == "nocard" {
		noCard(t)
		return
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestNoCard$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=nocard")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestNoCard") {
		t.Fatalf("the child did not run the scenario:\n%s", out)
	}
	t.Logf("child:\n%s", out)
}

// noCard points ALSA at card 99, which no machine has; without libasound
// the card fails as well, with ErrNoLibasound, and the checks hold all
// the same.
func noCard(t *testing.T) {
	if err := alsaOnly(t.TempDir(), "pcm.!default { type hw card 99 }", func(k, v string) error {
		t.Setenv(k, v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	card, err := NewCard(CardConfig{})
	if err != nil {
		t.Fatalf("NewCard must not fail for want of a card: %v", err)
	}
	sp := newSpeaker(t, Config{Card: card})

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err = sp.Play(ctx, audio.Chime(16000))
	t.Logf("Play: %v", err)
	switch {
	case err == nil:
		t.Fatal("Play on card 99 succeeded")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, speaker.ErrHalted):
		t.Fatalf("Play on card 99 did not fail by itself: %v", err)
	case !strings.Contains(err.Error(), "soundcard: play: sound card: "):
		t.Errorf("Play's error does not say the card failed: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Play took %s to fail", took)
	}
	h := sp.Health()
	if h.Reachable || !strings.HasPrefix(h.LastError, "sound card: ") || h.Since.IsZero() {
		t.Errorf("health %+v: want unreachable, with the card's error", h)
	}
	if err := card.Wait(ctx); err == nil || err.Error() != h.LastError {
		t.Errorf("card.Wait: %v; health says %q", err, h.LastError)
	}

	// A speaker made after the failure knows at once.
	if h := newSpeaker(t, Config{Card: card}).Health(); h.Reachable {
		t.Errorf("a new speaker on a failed card: health %+v", h)
	}
	// A bad clip is still the caller's fault, and says so.
	if err := sp.Play(ctx, audio.PCM{}); err == nil || strings.Contains(err.Error(), "sound card") {
		t.Errorf("Play of an empty clip: %v", err)
	}
	if err := sp.SetVolume(50); err != nil {
		t.Errorf("SetVolume on a failed card: %v", err)
	}
}
