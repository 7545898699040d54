package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
)

const (
	clockRate = 90000 // Hz, the RTP clock of H.264
	// maxLag is how far behind the clock the player may fall (a
	// suspended process, a starved machine) before it stops catching up
	// in a burst and resumes from now, as a camera's encoder would.
	maxLag = time.Second
)

// description is the SDP: one H.264 video track, packetization mode 1,
// the SPS and PPS in sprop-parameter-sets.
func (s *Sim) description() *description.Session {
	return &description.Session{
		Title: "dalaba simulated camera",
		Medias: []*description.Media{{
			Type: description.MediaTypeVideo,
			Formats: []format.Format{&format.H264{
				PayloadTyp:        96,
				SPS:               s.clip.sps,
				PPS:               s.clip.pps,
				PacketizationMode: 1,
			}},
		}},
	}
}

// play writes the clip's access units to the stream at the frame rate,
// looping, until ctx ends. Frame n of the camera's life is due at
// start + n/FPS and carries the RTP timestamp base + n·90000/FPS, so the
// timestamps keep increasing across loops and never drift from the
// clock.
func (s *Sim) play(ctx context.Context, st *gortsplib.ServerStream) error {
	medi := st.Desc.Medias[0]
	enc, err := medi.Formats[0].(*format.H264).CreateEncoder()
	if err != nil {
		return fmt.Errorf("camera sim: RTP encoder: %w", err)
	}
	base := rand.Uint32() // a random start, as RFC 3550 asks
	fps := int64(s.cfg.FPS)
	aus := s.clip.aus

	timer := time.NewTimer(0)
	defer timer.Stop()
	start := time.Now()
	var n, skew int64 // n: frames sent; skew: frames the clock was reset by
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
		ts := base + uint32(n*clockRate/fps)
		for _, p := range pkts {
			p.Timestamp = ts
			if err := st.WritePacketRTPWithNTP(medi, p, due); err != nil {
				return fmt.Errorf("camera sim: write frame %d: %w", i, err)
			}
		}
		n++
		s.mu.Lock()
		s.frames++
		if i == len(aus)-1 {
			s.loops++
		}
		s.mu.Unlock()
	}
}
