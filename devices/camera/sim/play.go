package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

const (
	clockRate = 90000 // Hz, the RTP clock of H.264 and H.265
	// maxLag is how far behind the clock the player may fall (a
	// suspended process, a starved machine) before it stops catching up
	// in a burst and resumes from now, as a camera's encoder would.
	maxLag = time.Second
	// audioPacket is 20 ms of G.711 at 8 kHz, as IP cameras send it.
	audioPacket = 160
)

// description is a stream's SDP: one video track, packetization mode 1,
// the parameter sets in sprop-*; the G.711 audio track after it if the
// camera has audio.
func (s *Sim) description(c *clip, audio bool) *description.Session {
	var f format.Format = &format.H264{PayloadTyp: 96, SPS: c.sps, PPS: c.pps, PacketizationMode: 1}
	if c.info.Codec == "H.265" {
		f = &format.H265{PayloadTyp: 96, VPS: c.vps, SPS: c.sps, PPS: c.pps}
	}
	d := &description.Session{
		Title:  "dalaba simulated camera",
		Medias: []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{f}}},
	}
	if audio {
		g := &format.G711{PayloadTyp: 8, SampleRate: 8000, ChannelCount: 1, MULaw: s.cfg.AudioMULaw}
		if g.MULaw {
			g.PayloadTyp = 0
		}
		d.Medias = append(d.Medias, &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{g}})
	}
	return d
}

// packetizer turns access units into RTP packets.
type packetizer interface {
	Encode(au [][]byte) ([]*rtp.Packet, error)
}

// play writes the clip's access units to the stream at the frame rate,
// looping, until ctx ends; with audio (the main stream of a camera that
// has it), the audio's 20 ms packets too, in step with the picture.
// Frame n of the camera's life is due at start + n/FPS and carries the
// RTP timestamp of its presentation, base + (n + shift)·90000/FPS, so the
// timestamps keep increasing across loops (in presentation order: a
// B-frame's are behind the frame sent before it, as a real camera's) and
// never drift from the clock.
func (s *Sim) play(ctx context.Context, st *gortsplib.ServerStream, c *clip, main bool) error {
	medi := st.Desc.Medias[0]
	var enc packetizer
	switch f := medi.Formats[0].(type) {
	case *format.H264:
		e, err := f.CreateEncoder()
		if err != nil {
			return fmt.Errorf("camera sim: RTP encoder: %w", err)
		}
		enc = e
	case *format.H265:
		e, err := f.CreateEncoder()
		if err != nil {
			return fmt.Errorf("camera sim: RTP encoder: %w", err)
		}
		enc = e
	}
	var audio *description.Media
	if len(st.Desc.Medias) > 1 {
		audio = st.Desc.Medias[1]
	}
	base := rand.Uint32() // a random start, as RFC 3550 asks
	abase, aseq := rand.Uint32(), uint16(rand.Uint32())
	fps := int64(s.cfg.FPS)
	aus := c.aus

	timer := time.NewTimer(0)
	defer timer.Stop()
	start := time.Now()
	var n, skew int64 // n: frames sent; skew: frames the clock was reset by
	var samples int64 // audio samples sent
	for {
		due := start.Add(time.Duration((n - skew) * int64(time.Second) / fps))
		if lag := time.Since(due); lag > maxLag {
			start, skew = time.Now(), n
			due = start
		}
		timer.Reset(time.Until(due))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}

		i := int(n % int64(len(aus)))
		pkts, err := enc.Encode(aus[i])
		if err != nil {
			return fmt.Errorf("camera sim: packetize frame %d: %w", i, err)
		}
		ts := base + uint32((n+int64(c.shift[i]))*clockRate/fps)
		for _, p := range pkts {
			p.Timestamp = ts
			if err := st.WritePacketRTPWithNTP(medi, p, due); err != nil {
				return fmt.Errorf("camera sim: write frame %d: %w", i, err)
			}
		}
		n++
		// The audio up to this frame's time, in 20 ms packets.
		for audio != nil && samples*fps < n*8000 {
			off := int(samples % int64(len(s.cfg.Audio)/audioPacket*audioPacket))
			p := &rtp.Packet{
				Header:  rtp.Header{Version: 2, PayloadType: audio.Formats[0].PayloadType(), SequenceNumber: aseq, Timestamp: abase + uint32(samples)},
				Payload: s.cfg.Audio[off : off+audioPacket],
			}
			if err := st.WritePacketRTPWithNTP(audio, p, due); err != nil {
				return fmt.Errorf("camera sim: write audio: %w", err)
			}
			aseq++
			samples += audioPacket
		}
		if main {
			s.mu.Lock()
			s.frames++
			if i == len(aus)-1 {
				s.loops++
			}
			s.mu.Unlock()
		}
	}
}
