package audio

import (
	"slices"
	"testing"
	"time"
)

func TestPCMValidate(t *testing.T) {
	cases := []struct {
		name string
		p    PCM
		ok   bool
	}{
		{"mono 8 kHz", PCM{Rate: 8000, Channels: 1, Samples: []int16{1, 2, 3}}, true},
		{"stereo 48 kHz", PCM{Rate: 48000, Channels: 2, Samples: []int16{1, 2}}, true},
		{"empty is valid", PCM{Rate: 8000, Channels: 1}, true},
		{"zero value", PCM{}, false},
		{"rate too low", PCM{Rate: 3999, Channels: 1}, false},
		{"rate too high", PCM{Rate: 96001, Channels: 1}, false},
		{"three channels", PCM{Rate: 8000, Channels: 3}, false},
		{"odd stereo", PCM{Rate: 8000, Channels: 2, Samples: []int16{1, 2, 3}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.p.Validate(); (err == nil) != c.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, c.ok)
			}
		})
	}
}

func TestPCMDurationAndFrames(t *testing.T) {
	cases := []struct {
		p      PCM
		frames int
		d      time.Duration
	}{
		{PCM{Rate: 8000, Channels: 1, Samples: make([]int16, 8000)}, 8000, time.Second},
		{PCM{Rate: 44100, Channels: 2, Samples: make([]int16, 44100)}, 22050, 500 * time.Millisecond},
		{PCM{Rate: 16000, Channels: 1, Samples: make([]int16, 320)}, 320, 20 * time.Millisecond},
		{PCM{}, 0, 0},
	}
	for _, c := range cases {
		if c.p.Frames() != c.frames || c.p.Duration() != c.d {
			t.Errorf("%d Hz %d ch %d samples: %d frames %s, want %d %s",
				c.p.Rate, c.p.Channels, len(c.p.Samples), c.p.Frames(), c.p.Duration(), c.frames, c.d)
		}
	}
	if s := Silence(8000, 2, 250*time.Millisecond); s.Frames() != 2000 || len(s.Samples) != 4000 || rms(s.Samples) != 0 {
		t.Errorf("silence: %d frames, rms %.0f", s.Frames(), rms(s.Samples))
	}
}

func TestMonoStereo(t *testing.T) {
	st := PCM{Rate: 8000, Channels: 2, Samples: []int16{100, 200, 32767, 32767, -32768, -32768, 1, -2}}
	m := st.Mono()
	if m.Channels != 1 || !slices.Equal(m.Samples, []int16{150, 32767, -32768, -1}) {
		t.Fatalf("mono %v", m.Samples)
	}
	if back := m.Stereo(); back.Channels != 2 || !slices.Equal(back.Samples, []int16{150, 150, 32767, 32767, -32768, -32768, -1, -1}) {
		t.Fatalf("stereo %v", back.Samples)
	}
	if m.Mono().Channels != 1 || st.Stereo().Channels != 2 {
		t.Fatal("a no-op conversion changed the channels")
	}
}

func TestConcatAndConvert(t *testing.T) {
	chime := Chime(8000)
	speech := tone(22050, 440, 8000, 0.5).Stereo()
	if _, err := Concat(chime, speech); err == nil {
		t.Fatal("joined 8 kHz mono with 22.05 kHz stereo")
	}
	conv, err := Convert(chime, speech.Rate, speech.Channels)
	if err != nil {
		t.Fatal(err)
	}
	all, err := Concat(conv, speech)
	if err != nil {
		t.Fatal(err)
	}
	if all.Rate != 22050 || all.Channels != 2 || all.Frames() != conv.Frames()+speech.Frames() {
		t.Fatalf("joined %d Hz %d ch %d frames", all.Rate, all.Channels, all.Frames())
	}
	if d := all.Duration() - chime.Duration() - speech.Duration(); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("joined clip is %s off the sum of its parts", d)
	}
	if !slices.Equal(all.Samples[len(conv.Samples):], speech.Samples) {
		t.Error("the second clip was not appended unchanged")
	}
	if _, err := Concat(); err == nil {
		t.Error("joined nothing")
	}
	if _, err := Concat(PCM{Rate: 8000, Channels: 3}); err == nil {
		t.Error("joined an invalid clip")
	}
	if _, err := Convert(chime, 8000, 3); err == nil {
		t.Error("converted to 3 channels")
	}
}
