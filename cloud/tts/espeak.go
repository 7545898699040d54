package tts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
)

// EspeakConfig configures the espeak-ng engine. Zero fields take the
// defaults below.
type EspeakConfig struct {
	// Binary is the espeak-ng command, a path or a name looked up in PATH;
	// default "espeak-ng".
	Binary string `yaml:"binary"`
	// Voice is an espeak-ng voice; default "cmn-latn-pinyin". Plain "cmn"
	// in Debian's 1.51 reads Chinese as pinyin spelled out in English.
	Voice string `yaml:"voice"`
	// Speed is in words per minute, 80 to 450; default 150, a little
	// slower than espeak-ng's 175 because loudspeakers echo between houses.
	Speed int `yaml:"speed"`
	// Timeout bounds one synthesis, process included; default 60 s.
	Timeout time.Duration `yaml:"timeout"`
}

// Espeak defaults.
const (
	DefaultEspeakBinary  = "espeak-ng"
	DefaultEspeakVoice   = "cmn-latn-pinyin"
	DefaultEspeakSpeed   = 150
	DefaultEspeakTimeout = 60 * time.Second
)

// killGrace is how long Synthesize waits, after killing espeak-ng, for its
// output pipes to close: a grandchild holding them must not hang the call.
const killGrace = 2 * time.Second

// voiceName is what an espeak-ng voice name looks like ("cmn",
// "cmn-latn-pinyin", "zh+f3"); anything else is a config mistake.
var voiceName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_+-]*$`)

// Espeak is the espeak-ng engine: one process per Synthesize, with the text
// in a file so that nothing in it can be read as a command-line option.
// espeak-ng writes 22,050 Hz mono 16-bit WAV.
type Espeak struct {
	bin     string // resolved path
	voice   string
	speed   int
	timeout time.Duration
}

// NewEspeak fills in cfg's defaults, checks it and finds the binary.
func NewEspeak(cfg EspeakConfig) (*Espeak, error) {
	if cfg.Binary == "" {
		cfg.Binary = DefaultEspeakBinary
	}
	if cfg.Voice == "" {
		cfg.Voice = DefaultEspeakVoice
	}
	if cfg.Speed == 0 {
		cfg.Speed = DefaultEspeakSpeed
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultEspeakTimeout
	}
	var errs []error
	if !voiceName.MatchString(cfg.Voice) {
		errs = append(errs, fmt.Errorf("tts espeak: voice %q is not a voice name", cfg.Voice))
	}
	if cfg.Speed < 80 || cfg.Speed > 450 {
		errs = append(errs, fmt.Errorf("tts espeak: speed %d: want 80 to 450 words/min", cfg.Speed))
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("tts espeak: timeout %v is negative", cfg.Timeout))
	}
	bin, err := exec.LookPath(cfg.Binary)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s not found: apt-get install espeak-ng: %w", cfg.Binary, err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Espeak{bin: bin, voice: cfg.Voice, speed: cfg.Speed, timeout: cfg.Timeout}, nil
}

// Name is "espeak-ng/<voice>".
func (e *Espeak) Name() string { return "espeak-ng/" + e.voice }

// Synthesize runs espeak-ng on text. It returns when the process has ended
// and its temporary files are gone, within the timeout plus killGrace even
// if espeak-ng hangs. A cancelled ctx is returned as ctx's error.
func (e *Espeak) Synthesize(ctx context.Context, text string) ([]byte, error) {
	if err := CheckText(text); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()

	dir, err := os.MkdirTemp("", "dalaba-tts-*")
	if err != nil {
		return nil, fmt.Errorf("tts espeak: temp dir: %w", err)
	}
	defer os.RemoveAll(dir) // best effort: a leftover dir in /tmp harms nothing
	in, out := filepath.Join(dir, "text.txt"), filepath.Join(dir, "speech.wav")
	if err := os.WriteFile(in, []byte(text), 0o600); err != nil {
		return nil, fmt.Errorf("tts espeak: write text: %w", err)
	}

	// -f: the text is read from a file, never parsed as options, even when
	// it starts with "-". -b 1: the file is UTF-8. No -m: "<" is spoken,
	// not read as SSML.
	cmd := exec.CommandContext(ctx, e.bin,
		"-v", e.voice, "-s", strconv.Itoa(e.speed), "-b", "1", "-w", out, "-f", in)
	var output bytes.Buffer
	cmd.Stdout = &capped{buf: &output, max: 4 << 10}
	cmd.Stderr = cmd.Stdout
	cmd.WaitDelay = killGrace
	killGroup(cmd)
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("tts espeak: %w", ctx.Err())
		}
		return nil, fmt.Errorf("tts espeak: %w: %s", err, strings.TrimSpace(output.String()))
	}

	fi, err := os.Stat(out)
	if err != nil {
		return nil, fmt.Errorf("tts espeak: no output: %w: %s", err, strings.TrimSpace(output.String()))
	}
	if fi.Size() > audio.DefaultMaxBytes {
		return nil, fmt.Errorf("tts espeak: %d bytes of speech: %w", fi.Size(), audio.ErrTooLong)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("tts espeak: read output: %w", err)
	}
	if _, err := checkSpeech(b); err != nil {
		return nil, fmt.Errorf("tts espeak: %w", err)
	}
	return b, nil
}

// capped is a writer that keeps the first max bytes and drops the rest, so
// a chatty process cannot grow memory.
type capped struct {
	buf *bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
