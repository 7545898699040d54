package tts

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dalaba/dalaba/devices/audio"
)

// Engine speaks text. Implementations are safe for concurrent use.
type Engine interface {
	// Synthesize returns WAV bytes of text spoken in Mandarin.
	Synthesize(ctx context.Context, text string) ([]byte, error)
	Name() string
}

// MaxText is the longest text, in runes, an engine accepts. espeak-ng at
// its default 150 words/min speaks about three Chinese characters a second
// with pauses, so 1500 runes is about eight minutes of speech: under the
// ten minutes (audio.DefaultMaxDuration) a box agrees to decode. A slower
// voice can still go over; the duration check on the result catches that.
const MaxText = 1500

// minRMS is the level, in 16-bit sample units, below which a result counts
// as silence: about -56 dBFS, far under any voice (espeak-ng speaks near
// -20 dBFS) and above dither or a DC offset of a few units.
const minRMS = 50

// Errors callers branch on with errors.Is.
var (
	// ErrBadText wraps every refusal of the input text; the API answers
	// it as the user's mistake, not the engine's.
	ErrBadText = errors.New("tts: bad text")
	// ErrNoSpeech is a result that decodes but holds no sound.
	ErrNoSpeech = errors.New("tts: engine returned no speech")
	// ErrNotWAV is a result that is not WAV audio the box can decode.
	ErrNotWAV = errors.New("tts: answer is not WAV audio")
)

// Config chooses and configures an engine; the cloud config embeds it.
type Config struct {
	Engine string       `yaml:"engine"` // "espeak" (default) or "http"
	Espeak EspeakConfig `yaml:"espeak"`
	HTTP   HTTPConfig   `yaml:"http"`
}

// New returns the engine cfg names, with its defaults filled in. It checks
// the configuration (and that espeak-ng is installed) but starts nothing.
func New(cfg Config) (Engine, error) {
	switch cfg.Engine {
	case "", "espeak":
		return NewEspeak(cfg.Espeak)
	case "http":
		return NewHTTP(cfg.HTTP)
	default:
		return nil, fmt.Errorf("tts: engine %q: want \"espeak\" or \"http\"", cfg.Engine)
	}
}

// CheckText refuses text no engine should be given, with an error wrapping
// ErrBadText. Newlines, carriage returns and tabs are allowed, because
// announcement templates and browser text areas produce them; every other
// control character is refused, since engines treat some (NUL, ESC) as
// commands or end of input.
func CheckText(text string) error {
	if !utf8.ValidString(text) {
		return fmt.Errorf("%w: not valid UTF-8", ErrBadText)
	}
	if strings.TrimSpace(text) == "" {
		return fmt.Errorf("%w: empty", ErrBadText)
	}
	if n := utf8.RuneCountInString(text); n > MaxText {
		return fmt.Errorf("%w: %d characters, at most %d", ErrBadText, n, MaxText)
	}
	for i, r := range text {
		if unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' {
			return fmt.Errorf("%w: control character %U at byte %d", ErrBadText, r, i)
		}
	}
	return nil
}

// checkSpeech decodes b as the box would and refuses anything that is not
// WAV or holds no sound. It returns the decoded audio for callers that
// want its duration.
func checkSpeech(b []byte) (audio.PCM, error) {
	if audio.Sniff(b) != audio.FormatWAV {
		return audio.PCM{}, ErrNotWAV
	}
	p, err := audio.Decode(b, audio.Limits{})
	if err != nil {
		return audio.PCM{}, fmt.Errorf("%w: %w", ErrNotWAV, err)
	}
	if rms(p.Samples) < minRMS {
		return audio.PCM{}, fmt.Errorf("%w (%v of silence)", ErrNoSpeech, p.Duration())
	}
	return p, nil
}

// rms is the root mean square of samples; 0 for none.
func rms(samples []int16) float64 {
	if len(samples) == 0 {
		return 0
	}
	var sum float64
	for _, s := range samples {
		sum += float64(s) * float64(s)
	}
	return math.Sqrt(sum / float64(len(samples)))
}
