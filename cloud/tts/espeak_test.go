package tts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/internal/testenv"
)

const sentence = "各位村民请注意，本月红榜：张三，孝老爱亲。"

// espeak returns the real espeak-ng engine, or fails (CI) / skips.
func espeak(t testing.TB, cfg EspeakConfig) *Espeak {
	t.Helper()
	testenv.Tool(t, DefaultEspeakBinary, "apt-get install espeak-ng")
	e, err := NewEspeak(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// speak synthesizes text and decodes the result.
func speak(t testing.TB, e Engine, text string) audio.PCM {
	t.Helper()
	b, err := e.Synthesize(t.Context(), text)
	if err != nil {
		t.Fatalf("Synthesize(%q): %v", text, err)
	}
	p, err := audio.Decode(b, audio.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEspeakSpeaksMandarin(t *testing.T) {
	p := speak(t, espeak(t, EspeakConfig{}), sentence)
	if p.Rate != 22050 || p.Channels != 1 {
		t.Errorf("format %d Hz × %d, want 22050 Hz mono", p.Rate, p.Channels)
	}
	if d := p.Duration(); d < 2*time.Second || d > 15*time.Second {
		t.Errorf("duration %v, want 2 to 15 s", d)
	}
	if r := rms(p.Samples); r < 500 {
		t.Errorf("RMS %.0f, want speech (> 500)", r)
	}
}

func TestEspeakLongerTextLongerSpeech(t *testing.T) {
	e := espeak(t, EspeakConfig{})
	one := speak(t, e, sentence).Duration()
	three := speak(t, e, strings.Repeat(sentence, 3)).Duration()
	if three < 2*one {
		t.Fatalf("3 sentences %v, 1 sentence %v: want at least twice as long", three, one)
	}
}

// Text that looks like options is spoken: the output is speech of about
// the length of the words, not help text or an error exit.
func TestEspeakOptionLikeTextIsSpoken(t *testing.T) {
	e := espeak(t, EspeakConfig{})
	trap := filepath.Join(t.TempDir(), "trap.wav")
	for i, text := range []string{"-张三", "--help", "--version", "-w " + trap, "-v en 张三", "--stdin"} {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			p := speak(t, e, text)
			if d := p.Duration(); d < 300*time.Millisecond {
				t.Errorf("duration %v: not speech", d)
			}
			if r := rms(p.Samples); r < 500 {
				t.Errorf("RMS %.0f: not speech", r)
			}
		})
	}
	if _, err := os.Stat(trap); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("text was parsed as -w: %v", err)
	}
}

func TestEspeakCancelReturnsPromptly(t *testing.T) {
	e := espeak(t, EspeakConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	// The longest text takes espeak-ng most of a second; cancel early in it.
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := e.Synthesize(ctx, strings.Repeat("好", MaxText))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("returned %v after start, want promptly after the cancel at 50 ms", d)
	}
}

// fakeEspeak writes a shell script standing in for espeak-ng; body sees the
// output path in $out.
func fakeEspeak(t *testing.T, body string) string {
	t.Helper()
	testenv.Tool(t, "sh", "a POSIX shell")
	p := filepath.Join(t.TempDir(), "espeak-ng")
	script := "#!/bin/sh\nwhile [ $# -gt 0 ]; do [ \"$1\" = -w ] && out=$2; shift; done\n" + body + "\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func wavFile(t *testing.T, p audio.PCM) string {
	t.Helper()
	var b bytes.Buffer
	if err := audio.EncodeWAV(&b, p); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "in.wav")
	if err := os.WriteFile(f, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// Engines that misbehave are errors, never clips.
func TestEspeakMisbehavingEngine(t *testing.T) {
	silent := wavFile(t, audio.Silence(22050, 1, time.Second))
	for _, tc := range []struct {
		name, body string
		want       error  // errors.Is, or nil
		text       string // in the message
	}{
		{"silence", `cp "` + silent + `" "$out"`, ErrNoSpeech, "no speech"},
		{"garbage", `echo hello > "$out"`, ErrNotWAV, "not WAV"},
		{"no output", `exit 0`, nil, "no output"},
		{"fails", `echo "bad voice" >&2; exit 1`, nil, "bad voice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := NewEspeak(EspeakConfig{Binary: fakeEspeak(t, tc.body)})
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.Synthesize(t.Context(), sentence)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.text)
			}
		})
	}
}

// A hung engine whose child holds the output pipe is killed, child and
// all, at the timeout.
func TestEspeakHungEngineTimesOut(t *testing.T) {
	e, err := NewEspeak(EspeakConfig{Binary: fakeEspeak(t, "sleep 60 & wait"), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = e.Synthesize(t.Context(), sentence)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > killGrace {
		t.Fatalf("returned after %v: the group was not killed", d)
	}
}

func TestNewEspeak(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  EspeakConfig
		want string
	}{
		{"missing binary", EspeakConfig{Binary: "dalaba-no-such-espeak"}, "dalaba-no-such-espeak not found: apt-get install espeak-ng"},
		{"bad voice", EspeakConfig{Binary: "sh", Voice: "-x"}, "voice"},
		{"slow", EspeakConfig{Binary: "sh", Speed: 10}, "speed 10"},
		{"fast", EspeakConfig{Binary: "sh", Speed: 1000}, "speed 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewEspeak(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if e := espeak(t, EspeakConfig{}); e.Name() != "espeak-ng/cmn-latn-pinyin" || e.speed != 150 || e.timeout != time.Minute {
		t.Fatalf("defaults: %+v", e)
	}
}

// announcement is a realistic monthly list of n entries as a township reads
// it out.
func announcement(n int) string {
	names := []string{"张三", "李四", "王五", "赵六", "陈秀英", "刘建国", "杨桂兰", "黄志强", "周玉梅", "吴德明"}
	cats := []string{"孝老爱亲", "环境卫生", "邻里和睦", "移风易俗", "遵纪守法"}
	reasons := []string{
		"长期照顾瘫痪在床的婆婆，无怨无悔",
		"主动清理村道垃圾，门前三包做得好",
		"调解邻里纠纷，帮助困难户春耕",
		"红白喜事简办，带头不收高价彩礼",
		"拾到钱包主动交还失主",
	}
	var b strings.Builder
	b.WriteString("各位村民请注意，现在公布本月红黑榜。红榜：")
	for i := range n {
		fmt.Fprintf(&b, "第%d位，%s家，%s，%s。", i+1, names[i%len(names)], cats[i%len(cats)], reasons[i%len(reasons)])
	}
	b.WriteString("希望大家向他们学习。")
	return b.String()
}

func BenchmarkEspeak30Entries(b *testing.B) {
	e := espeak(b, EspeakConfig{})
	text := announcement(30)
	if err := CheckText(text); err != nil {
		b.Fatal(err)
	}
	var seconds float64
	for b.Loop() {
		out, err := e.Synthesize(b.Context(), text)
		if err != nil {
			b.Fatal(err)
		}
		p, err := audio.Decode(out, audio.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		seconds = p.Duration().Seconds()
	}
	b.ReportMetric(math.Round(seconds), "audio-s/op")
	b.ReportMetric(float64(len([]rune(text))), "runes/op")
}
