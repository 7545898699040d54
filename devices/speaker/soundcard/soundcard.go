package soundcard

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ebitengine/oto/v3"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker"
)

// Defaults and limits of CardConfig.
const (
	// DefaultRate is what USB and HDMI audio and the Raspberry Pi's own
	// output all take and what PulseAudio and PipeWire run at; oto asks
	// ALSA to resample for a card that does not.
	DefaultRate     = 48000
	DefaultChannels = 2
	// MaxBufferSize bounds CardConfig.BufferSize: what is in the device's
	// buffer still plays after a clip is cut short.
	MaxBufferSize = time.Second
)

const (
	// ahead is how far beyond the device's buffer a clip is handed to oto
	// ahead of real time, so the device never runs dry between two reads
	// of the mixer (every millisecond or so) on a busy box.
	ahead = 250 * time.Millisecond
	// poll is how often Play looks at the player: oto says when a player
	// has finished only when asked.
	poll = 10 * time.Millisecond
	// stallAfter is how long past its end a clip may still be playing
	// before the device counts as stuck.
	stallAfter = 2 * time.Second
)

// ErrNoLibasound is wrapped by the card's error when there is no sound
// server and libasound.so.2, which oto loads at run time, is not
// installed.
var ErrNoLibasound = errors.New("libasound.so.2 cannot be loaded (apt-get install libasound2)")

// CardConfig is how the sound card is opened.
type CardConfig struct {
	// Rate is the sample rate the card runs at and every clip is
	// converted to, audio.MinRate to audio.MaxRate; 0 means DefaultRate.
	Rate int
	// Channels is 1 or 2; 0 means DefaultChannels. A mono clip plays on
	// both channels of a stereo card.
	Channels int
	// BufferSize is the device's buffer (oto's BufferSize): larger rides
	// out a busy CPU without crackles, smaller cuts a halted clip off
	// sooner. 0 means oto's default, about 40 ms with ALSA and 100 ms
	// with PulseAudio; at most MaxBufferSize.
	BufferSize time.Duration
	// Logger gets whether the card opened; nil discards.
	Logger *slog.Logger
}

// validate fills in the defaults and reports every problem at once.
func (c *CardConfig) validate() error {
	var errs []error
	if c.Rate == 0 {
		c.Rate = DefaultRate
	} else if c.Rate < audio.MinRate || c.Rate > audio.MaxRate {
		errs = append(errs, fmt.Errorf("rate %d: %d-%d Hz", c.Rate, audio.MinRate, audio.MaxRate))
	}
	if c.Channels == 0 {
		c.Channels = DefaultChannels
	} else if c.Channels != 1 && c.Channels != 2 {
		errs = append(errs, fmt.Errorf("channels %d: 1 or 2", c.Channels))
	}
	if c.BufferSize < 0 || c.BufferSize > MaxBufferSize {
		errs = append(errs, fmt.Errorf("buffer size %s: 0-%s", c.BufferSize, MaxBufferSize))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("soundcard: config: %w", err)
	}
	return nil
}

// Card is the box's sound card, opened through oto. oto opens the card
// once per process and never closes it: a process makes one Card and
// every Speaker from it, and a second NewCard fails.
type Card struct {
	cfg   CardConfig
	log   *slog.Logger
	out   *oto.Context
	ready <-chan struct{} // closed once oto has opened the device or failed to
	turn  *speaker.Turn   // held while a clip plays: one line-out, one clip
	fed   atomic.Int64    // bytes of clips oto has taken, which tests observe
	once  sync.Once       // logs the outcome of opening
}

// NewCard starts opening the sound card and returns at once. It fails
// only on a bad cfg or when the process already opened the card: a
// missing card or library shows later, in Err and in the speakers'
// Health, so the box runs on without its line-out.
func NewCard(cfg CardConfig) (*Card, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	out, ready, err := oto.NewContext(&oto.NewContextOptions{
		SampleRate:      cfg.Rate,
		ChannelCount:    cfg.Channels,
		Format:          oto.FormatSignedInt16LE,
		BufferSize:      cfg.BufferSize,
		ApplicationName: "dalaba",
	})
	if err != nil {
		return nil, fmt.Errorf("soundcard: open the card (once per process): %w", err)
	}
	return &Card{
		cfg:   cfg,
		log:   log.With("component", "soundcard", "rate", cfg.Rate, "channels", cfg.Channels),
		out:   out,
		ready: ready,
		turn:  speaker.NewTurn(),
	}, nil
}

// Err says why the card cannot play; nil while it is still opening or
// when it works. It does not block. A card that failed stays failed:
// oto cannot open the card again in this process.
func (c *Card) Err() error {
	select {
	case <-c.ready:
	default:
		return nil
	}
	err := c.out.Err()
	c.once.Do(func() {
		if err != nil {
			c.log.Error("sound card failed to open", "err", err)
		} else {
			c.log.Info("sound card open")
		}
	})
	return cardError(err)
}

// cardError words an error of oto's context for Health and Play.
func cardError(err error) error {
	if err == nil {
		return nil
	}
	// oto's error names each backend it tried; the library's absence is
	// worth telling apart, since installing a package fixes it.
	if strings.Contains(err.Error(), "failed to load libasound") {
		return fmt.Errorf("sound card: %w: %w", ErrNoLibasound, err)
	}
	return fmt.Errorf("sound card: %w", err)
}

// Wait blocks until the card has opened or failed to, and returns Err;
// or until ctx ends.
func (c *Card) Wait(ctx context.Context) error {
	select {
	case <-c.ready:
		return c.Err()
	case <-ctx.Done():
		return fmt.Errorf("soundcard: waiting for the card to open: %w", ctx.Err())
	}
}

// Config is one speaker on the card.
type Config struct {
	// Card is the process's sound card; required.
	Card *Card
	// Volume is the initial level, 1-100 percent on the square law of
	// audio.Volume; 0 means 100. SetVolume(0) mutes.
	Volume int
	// Logger gets health changes; nil means the card's.
	Logger *slog.Logger
}

// Speaker plays clips on a Card. It meets speaker.Speaker and
// speaker.Volumer. Speakers of one card take turns: a card has one
// line-out.
type Speaker struct {
	card   *Card
	log    *slog.Logger
	vol    *speaker.Level
	halt   speaker.Halter
	status *speaker.Status
}

var _ interface {
	speaker.Speaker
	speaker.Volumer
} = (*Speaker)(nil)

// New makes a speaker on cfg.Card. Nothing plays until Play.
func New(cfg Config) (*Speaker, error) {
	var errs []error
	if cfg.Card == nil {
		errs = append(errs, errors.New("no card"))
	}
	if cfg.Volume == 0 {
		cfg.Volume = 100
	} else if cfg.Volume < 0 || cfg.Volume > 100 {
		errs = append(errs, fmt.Errorf("volume %d: 0-100", cfg.Volume))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("soundcard: config: %w", err)
	}
	log := cfg.Card.log
	if cfg.Logger != nil {
		log = cfg.Logger.With("component", "soundcard")
	}
	return &Speaker{
		card:   cfg.Card,
		log:    log,
		vol:    speaker.NewLevel(cfg.Volume),
		status: speaker.NewStatus(log),
	}, nil
}

// SetVolume sets the level of the clips played from now on, 0-100 on the
// square law of audio.Volume.
func (s *Speaker) SetVolume(percent int) error {
	if err := s.vol.Set(percent); err != nil {
		return fmt.Errorf("soundcard: %w", err)
	}
	return nil
}

// Halt stops the clip playing now; Play returns speaker.ErrHalted. A Play
// waiting for its turn is not affected.
func (s *Speaker) Halt() error {
	s.halt.Halt()
	return nil
}

// Health reports the card's state and the outcome of the latest Play:
// unreachable once the card failed to open or to play (for good, as the
// card cannot be reopened) or a clip got stuck, reachable again after a
// clip plays through.
func (s *Speaker) Health() speaker.Health {
	if err := s.card.Err(); err != nil {
		s.failed(err)
	}
	return s.status.Health()
}

func (s *Speaker) failed(err error) { s.status.Failed(err) }

func (s *Speaker) played() { s.status.Reached() }

// Play converts pcm to the card's rate and channels, sets it to the
// volume and plays it. It returns once the clip has played, at once on
// ctx's end or Halt, or when the card fails. Plays on one card take
// turns; a Play waiting for its turn, or for the card to open, gives up
// when ctx ends.
func (s *Speaker) Play(ctx context.Context, pcm audio.PCM) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("soundcard: play: %w", err)
	}
	if err := pcm.Validate(); err != nil {
		return fmt.Errorf("soundcard: play: %w", err)
	}
	c := s.card
	if err := c.turn.Take(ctx); err != nil {
		return fmt.Errorf("soundcard: play: waiting for the previous clip: %w", err)
	}
	defer c.turn.Give()
	vol := s.vol.Get()
	stop, disarm := s.halt.Arm() // from here on Halt applies to this clip
	defer disarm()

	select { // oto opens the card in the background
	case <-c.ready:
	case <-ctx.Done():
		return fmt.Errorf("soundcard: play: waiting for the card to open: %w", ctx.Err())
	case <-stop:
		return speaker.ErrHalted
	}
	if err := c.Err(); err != nil {
		s.failed(err)
		return fmt.Errorf("soundcard: play: %w", err)
	}
	f, err := newFeed(pcm, c.cfg.Rate, c.cfg.Channels, vol)
	if err != nil {
		return fmt.Errorf("soundcard: play: %w", err)
	}
	return s.play(ctx, stop, f, pcm.Duration())
}

// play hands f's clip, of duration d, to an oto player and watches it
// until it has played.
func (s *Speaker) play(ctx context.Context, stop <-chan struct{}, f *feed, d time.Duration) error {
	c := s.card
	f.lead = c.cfg.BufferSize + ahead
	f.fed = &c.fed
	f.start = time.Now()
	player := c.out.NewPlayer(f)
	// The player reads ahead half a second by default; it must be able to
	// hold the whole lead, or a large device buffer would run dry.
	player.SetBufferSize(f.frames(f.lead) * f.ch * 2)
	defer func() {
		// oto has no Close to call since v3.4 (a finalizer removes the
		// player from the mixer some collection later). PauseAndStopReading
		// takes it off the card now and returns once oto no longer reads
		// the feed, so nothing of this clip sounds or is read after Play
		// returns.
		player.PauseAndStopReading()
	}()
	// The device still holds up to its buffer when the mixer has drained
	// the player; with oto's default buffer that is tens of milliseconds
	// Play does not wait for.
	end := f.start.Add(d + c.cfg.BufferSize)
	player.Play()

	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("soundcard: play: %w", ctx.Err())
		case <-stop:
			return speaker.ErrHalted
		case <-tick.C:
		}
		if err := c.Err(); err != nil {
			s.failed(err)
			return fmt.Errorf("soundcard: play: %w", err)
		}
		// oto's player fails only when the feed does, which is no fault
		// of the device.
		if err := player.Err(); err != nil {
			return fmt.Errorf("soundcard: play: %w", err)
		}
		now := time.Now()
		switch {
		case now.Before(end):
		case !player.IsPlaying():
			s.played()
			return nil
		case now.After(end.Add(stallAfter)):
			// A device that stopped taking audio without an error, such
			// as a sound server that suspended its output.
			err := fmt.Errorf("sound card: the device stopped taking audio (%s of a %s clip taken)", f.taken(), d)
			s.failed(err)
			return fmt.Errorf("soundcard: play: %w", err)
		}
	}
}

// chunk is how much of a clip is converted to the card's format at a
// time: converting a whole clip first would hold up its start by seconds
// on a Raspberry Pi for a long announcement, and double its memory.
const chunk = 200 * time.Millisecond

// feed hands a clip to oto as little-endian 16-bit samples in the card's
// format, converting it a chunk at a time and never further ahead of
// real time than lead. oto reads as fast as the device takes audio, and
// ALSA's null device takes all of it at once: unpaced, a clip would be
// "played" in milliseconds, and a cancelled one would be gone already.
// Only oto's mixer goroutine calls Read, one call at a time.
type feed struct {
	clip    audio.PCM // as given
	rate    int       // the card's
	ch      int       // the card's
	vol     int
	unit    int // input frames whose output is a whole number of frames
	up      int // output frames per unit
	step    int // input frames per chunk, whole units
	pad     int // input frames of context on either side of a chunk, whole units
	next    int // input frame the next chunk starts at
	pending []int16

	lead  time.Duration
	start time.Time
	pos   atomic.Int64 // samples handed over; Play reads it too
	fed   *atomic.Int64
}

// newFeed prepares pcm (valid) for a card of rate and channels at
// volume vol, and converts the first chunk, so a clip the card cannot
// take is refused before anything plays.
func newFeed(pcm audio.PCM, rate, channels, vol int) (*feed, error) {
	g := gcd(pcm.Rate, rate)
	f := &feed{clip: pcm, rate: rate, ch: channels, vol: vol, unit: pcm.Rate / g, up: rate / g}
	f.step = roundUp(int(int64(chunk)*int64(pcm.Rate)/int64(time.Second)), f.unit)
	// audio.Resample's filter reaches about 26·input/lower rate input
	// frames either side of an output frame; with more context than that
	// a chunk converts exactly as the whole clip would (a test checks).
	f.pad = roundUp(64*pcm.Rate/min(pcm.Rate, rate)+1, f.unit)
	if err := f.convert(); err != nil {
		return nil, err
	}
	return f, nil
}

// convert converts the next chunk into pending. The chunk and its
// context start on whole units, so its output frames fall exactly where
// the whole clip's would.
func (f *feed) convert() error {
	frames, ic := f.clip.Frames(), f.clip.Channels
	from, to := f.next, min(f.next+f.step, frames)
	lo, hi := max(from-f.pad, 0), min(to+f.pad, frames)
	part := audio.PCM{Rate: f.clip.Rate, Channels: ic, Samples: f.clip.Samples[lo*ic : hi*ic]}
	out, err := audio.Convert(part, f.rate, f.ch)
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	first := (from - lo) / f.unit * f.up
	last := out.Frames()
	if to < frames {
		last = min(last, (to-lo)/f.unit*f.up)
	}
	out.Samples = out.Samples[first*f.ch : last*f.ch]
	f.pending = audio.Volume(out, f.vol).Samples
	f.next = to
	return nil
}

func (f *feed) frames(d time.Duration) int {
	return int(int64(d) * int64(f.rate) / int64(time.Second)) // 10 min at 96 kHz is 6e16: no overflow
}

func (f *feed) Read(b []byte) (int, error) {
	pos := int(f.pos.Load())
	due := f.frames(time.Since(f.start)+f.lead)*f.ch - pos
	want := min(len(b)/2/f.ch*f.ch, due)
	n := 0
	for n < want {
		if len(f.pending) == 0 {
			if f.next >= f.clip.Frames() {
				break
			}
			if err := f.convert(); err != nil {
				return 2 * n, err
			}
			continue
		}
		k := min(want-n, len(f.pending))
		for i, s := range f.pending[:k] {
			binary.LittleEndian.PutUint16(b[2*(n+i):], uint16(s))
		}
		f.pending = f.pending[k:]
		n += k
	}
	f.pos.Add(int64(n))
	f.fed.Add(int64(2 * n))
	if n == 0 && len(f.pending) == 0 && f.next >= f.clip.Frames() {
		return 0, io.EOF
	}
	// With nothing due yet n is 0: oto's mixer tries again in a
	// millisecond.
	return 2 * n, nil
}

// taken is how much of the clip oto has read.
func (f *feed) taken() time.Duration {
	return time.Duration(f.pos.Load()/int64(f.ch)) * time.Second / time.Duration(f.rate)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func roundUp(n, unit int) int { return (n + unit - 1) / unit * unit }
