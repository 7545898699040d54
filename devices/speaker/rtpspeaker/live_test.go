package rtpspeaker

import (
	"bytes"
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker"
	"github.com/dalaba/dalaba/devices/speaker/speakersim"
)

// toneFrames is a 1 kHz tone at half scale as 20 ms frames of law, with
// RTP timestamps from ts0.
func toneFrames(law speaker.Law, n int, ts0 uint32) ([]speaker.Frame, []int16) {
	pcm := make([]int16, n*Frame)
	for i := range pcm {
		pcm[i] = int16(16000 * math.Sin(2*math.Pi*1000*float64(i)/Rate))
	}
	var frames []speaker.Frame
	for i := range n {
		chunk := pcm[i*Frame : (i+1)*Frame]
		var b []byte
		if law == speaker.ALaw {
			b = audio.EncodeALaw(nil, chunk)
		} else {
			b = audio.EncodeULaw(nil, chunk)
		}
		frames = append(frames, speaker.Frame{Payload: b, Timestamp: ts0 + uint32(i*Frame)})
	}
	return frames, pcm
}

// feed sends frames 20 ms apart, as a microphone's arrive, then closes.
func feed(frames []speaker.Frame) <-chan speaker.Frame {
	ch := make(chan speaker.Frame)
	go func() {
		defer close(ch)
		for i, f := range frames {
			if i > 0 {
				time.Sleep(Ptime) // the pace of a microphone, not synchronisation
			}
			ch <- f
		}
	}()
	return ch
}

func decodeLaw(law speaker.Law, b []byte) []int16 {
	if law == speaker.ALaw {
		return audio.DecodeALaw(nil, b)
	}
	return audio.DecodeULaw(nil, b)
}

func TestLiveFrames(t *testing.T) {
	for _, c := range []struct {
		name  string
		codec Codec
		law   speaker.Law
	}{
		{"PCMA to a PCMA speaker: unchanged", PCMA, speaker.ALaw},
		{"PCMU to a PCMU speaker: unchanged", PCMU, speaker.ULaw},
		{"PCMA to a PCMU speaker: translated", PCMU, speaker.ALaw},
		{"PCMU to a PCMA speaker: translated", PCMA, speaker.ULaw},
	} {
		t.Run(c.name, func(t *testing.T) {
			frames, pcm := toneFrames(c.law, 25, 1<<32-1000) // the source's timestamps wrap on the way
			s := sim(t, speakersim.Config{Listen: "127.0.0.1:0"})
			sp := newSpeaker(t, Config{Addr: s.Addr().String(), Codec: c.codec})
			if err := sp.PlayLive(t.Context(), c.law, feed(frames)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, s, "every frame", func(st speakersim.Stats, _ int) bool { return st.Packets == 25 })
			st := s.Stats()
			if st.Lost != 0 || st.Spurts != 1 || st.Unmarked != 0 || st.BadPackets != 0 || st.PayloadType != c.codec.PayloadType() {
				t.Errorf("stats %+v", st)
			}
			got := s.Audio().Samples
			var want []int16
			for _, f := range frames {
				if string(c.law) == string(c.codec) {
					want = append(want, decodeLaw(c.law, f.Payload)...)
				} else { // one byte at a time, through linear
					for _, b := range f.Payload {
						want = append(want, decodeLaw(speaker.Law(c.codec), []byte{reencode(c.law, c.codec, b)})...)
					}
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("the speaker heard %d samples that differ from the frames' %d", len(got), len(want))
			}
			if r := correlation(pcm, got); r < 0.99 {
				t.Errorf("heard audio correlates %.4f with the tone, want 0.99", r)
			}
		})
	}
}

// reencode is one byte of law as the speaker's codec.
func reencode(law speaker.Law, to Codec, b byte) byte {
	v := decodeLaw(law, []byte{b})[0]
	if to == PCMA {
		return audio.LinearToALaw(v)
	}
	return audio.LinearToULaw(v)
}

// TestLiveHeaders: the bytes on the wire. Frames of the speaker's own law
// go out byte for byte, in packets that continue the speaker's stream
// after a clip: its SSRC, the next sequence numbers, RTP time that ran on,
// the first packet marked; a lost frame at the source stays a gap in RTP
// time.
func TestLiveHeaders(t *testing.T) {
	l, read := capture(t)
	sp := newSpeaker(t, Config{Addr: l.LocalAddr().String(), Codec: PCMA})
	clip := audio.Chime(8000)
	clip.Samples = clip.Samples[:8000/10] // 100 ms: 5 packets
	if err := sp.Play(t.Context(), clip); err != nil {
		t.Fatal(err)
	}
	frames, _ := toneFrames(speaker.ALaw, 6, 77)
	frames = slices.Delete(frames, 3, 4) // lost on the way from the microphone
	if err := sp.PlayLive(t.Context(), speaker.ALaw, feed(frames)); err != nil {
		t.Fatal(err)
	}
	ps := read(5 + 5)
	clipEnd := ps[4]
	live := ps[5:]
	for i, p := range live {
		if p.SSRC != sp.ssrc || p.PayloadType != 8 || p.Marker != (i == 0) {
			t.Errorf("live packet %d: header %+v", i, p.Header)
		}
		if !bytes.Equal(p.Payload, frames[i].Payload) {
			t.Errorf("live packet %d: payload differs from the frame's", i)
		}
		prev := clipEnd
		if i > 0 {
			prev = live[i-1]
		}
		if p.SequenceNumber != prev.SequenceNumber+1 {
			t.Errorf("live packet %d: sequence %d after %d", i, p.SequenceNumber, prev.SequenceNumber)
		}
	}
	if step := live[0].Timestamp - clipEnd.Timestamp; step < Frame || step > 8000 {
		t.Errorf("RTP time from the clip's last packet to the first live one: %d, want at least one packet's and under a second", step)
	}
	for i, want := range []uint32{Frame, Frame, 2 * Frame, Frame} {
		if step := live[i+1].Timestamp - live[i].Timestamp; step != want {
			t.Errorf("live packets %d to %d: timestamp step %d, want %d", i, i+1, step, want)
		}
	}
	// A clip after the page carries on the same stream.
	if err := sp.Play(t.Context(), clip); err != nil {
		t.Fatal(err)
	}
	next := read(1)[0]
	if next.SequenceNumber != live[4].SequenceNumber+1 || !next.Marker || next.Timestamp-live[4].Timestamp < Frame {
		t.Errorf("the clip after the page: %+v after %+v", next.Header, live[4].Header)
	}
}

func TestLiveVolume(t *testing.T) {
	s := sim(t, speakersim.Config{Listen: "127.0.0.1:0"})
	sp := newSpeaker(t, Config{Addr: s.Addr().String(), Codec: PCMA})
	if err := sp.SetVolume(50); err != nil {
		t.Fatal(err)
	}
	frames, pcm := toneFrames(speaker.ALaw, 10, 0)
	if err := sp.PlayLive(t.Context(), speaker.ALaw, feed(frames)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, "every frame", func(st speakersim.Stats, _ int) bool { return st.Packets == 10 })
	// Half volume is a quarter of the level (audio.Volume's square law).
	got, full := rms(s.Audio().Samples), rms(pcm)
	if got < 0.22*full || got > 0.28*full {
		t.Errorf("at volume 50 the level is %.0f of %.0f, want about a quarter", got, full)
	}
}

func rms(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(s)))
}

func TestLiveEnds(t *testing.T) {
	s := sim(t, speakersim.Config{Listen: "127.0.0.1:0"})
	sp := newSpeaker(t, Config{Addr: s.Addr().String()})
	if err := sp.PlayLive(t.Context(), "G722", make(chan speaker.Frame)); err == nil {
		t.Error("a G.722 stream was taken")
	}

	in := make(chan speaker.Frame, 1)
	frames, _ := toneFrames(speaker.ULaw, 1, 0)
	in <- frames[0]
	done := make(chan error, 1)
	go func() { done <- sp.PlayLive(t.Context(), speaker.ULaw, in) }()
	waitFor(t, s, "the first frame", func(st speakersim.Stats, _ int) bool { return st.Packets == 1 })
	if err := sp.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, speaker.ErrHalted) {
		t.Errorf("halted: %v, want ErrHalted", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	go func() { done <- sp.PlayLive(ctx, speaker.ULaw, in) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}

	// A page waits for the clip playing now, as a second clip would.
	go func() { done <- sp.Play(t.Context(), audio.Silence(8000, 1, 300*time.Millisecond)) }()
	waitFor(t, s, "the clip", func(st speakersim.Stats, _ int) bool { return st.Packets > 1 })
	closed := make(chan speaker.Frame)
	close(closed)
	start := time.Now()
	if err := sp.PlayLive(t.Context(), speaker.ULaw, closed); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("the page took its turn after %v, before the 300 ms clip was over", d)
	}
}
