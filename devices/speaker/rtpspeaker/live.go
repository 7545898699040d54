package rtpspeaker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/pion/rtp"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker"
)

var _ speaker.Live = (*Speaker)(nil)

// maxLiveGap is the longest step of the source's timestamps kept as a gap
// in the speaker's (1 s): a longer or backward step is a restarted source,
// and the speaker's stream just carries on.
const maxLiveGap = Rate

// PlayLive forwards a live stream (paging), one RTP packet per frame, sent
// the moment the frame arrives: the source's pacing is kept and nothing is
// buffered here. A frame of the speaker's own law at volume 100 goes out
// byte for byte; one of the other law, or at a lower volume, is mapped
// byte by byte through a table built once per call (decode, scale,
// encode). The packets continue the speaker's RTP stream (its SSRC,
// sequence and timestamps), the first one marked, and the source's
// timestamp steps carry over so lost frames stay gaps. It returns nil as
// soon as in closes.
func (s *Speaker) PlayLive(ctx context.Context, law speaker.Law, in <-chan speaker.Frame) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rtpspeaker: live: %w", err)
	}
	if law != speaker.ULaw && law != speaker.ALaw {
		return fmt.Errorf("rtpspeaker: live: law %q: PCMU or PCMA", law)
	}
	stop, done, err := s.take(ctx)
	if err != nil {
		return err
	}
	defer done()
	return s.live(ctx, stop, liveTable(law, s.cfg.Codec, s.vol.Get()), in)
}

// liveTable maps every byte of law to the speaker's codec at vol percent;
// nil when bytes pass as they are.
func liveTable(law speaker.Law, to Codec, vol int) *[256]byte {
	if string(law) == string(to) && vol >= 100 {
		return nil
	}
	codes := make([]byte, 256)
	for i := range codes {
		codes[i] = byte(i)
	}
	pcm := audio.PCM{Rate: Rate, Channels: 1}
	if law == speaker.ALaw {
		pcm.Samples = audio.DecodeALaw(nil, codes)
	} else {
		pcm.Samples = audio.DecodeULaw(nil, codes)
	}
	pcm = audio.Volume(pcm, vol)
	var out []byte
	if to == PCMA {
		out = audio.EncodeALaw(nil, pcm.Samples)
	} else {
		out = audio.EncodeULaw(nil, pcm.Samples)
	}
	return (*[256]byte)(out)
}

// live sends the frames of in until it closes, ctx ends or Halt.
func (s *Speaker) live(ctx context.Context, stop <-chan struct{}, table *[256]byte, in <-chan speaker.Frame) error {
	pt := s.cfg.Codec.PayloadType()
	var buf, mapped []byte

	s.mu.Lock()
	seq, ts := s.seq, s.ts
	if gap := time.Since(s.lastEnd); !s.lastEnd.IsZero() && gap > 0 {
		// As between spurts: RTP time runs on through the silence.
		ts += uint32(int64(gap/time.Microsecond) * Rate / 1e6)
	}
	s.mu.Unlock()
	sent := 0
	var srcPrev uint32 // the source's timestamp of the previous frame
	var lenPrev int    // and its samples
	var sentAt time.Time
	defer func() {
		if sent == 0 {
			return
		}
		s.mu.Lock()
		s.seq, s.ts = seq, ts+uint32(lenPrev)
		s.lastEnd = sentAt.Add(time.Duration(lenPrev) * time.Second / Rate)
		s.mu.Unlock()
	}()

	for {
		var f speaker.Frame
		var ok bool
		select {
		case <-ctx.Done():
			return fmt.Errorf("rtpspeaker: live: %w", ctx.Err())
		case <-stop:
			return speaker.ErrHalted
		case f, ok = <-in:
		}
		if !ok {
			s.sent(0, true)
			return nil
		}
		if len(f.Payload) == 0 {
			continue
		}
		if sent > 0 {
			step := uint32(lenPrev)
			if d := f.Timestamp - srcPrev; int32(d) > 0 && d <= maxLiveGap {
				step = d
			}
			ts += step
		}
		payload := f.Payload
		if table != nil {
			mapped = grow(mapped, len(payload))
			for i, b := range payload {
				mapped[i] = table[b]
			}
			payload = mapped
		}
		p := rtp.Packet{
			Header: rtp.Header{Version: 2, Marker: sent == 0, PayloadType: pt,
				SequenceNumber: seq, Timestamp: ts, SSRC: s.ssrc},
			Payload: payload,
		}
		buf = grow(buf, p.MarshalSize())
		n, err := p.MarshalTo(buf)
		if err != nil {
			return fmt.Errorf("rtpspeaker: marshal: %w", err)
		}
		if _, err := s.conn.Write(buf[:n]); err != nil {
			if errors.Is(err, net.ErrClosed) { // our own Close, not the speaker's fault
				return fmt.Errorf("rtpspeaker: send: %w", err)
			}
			s.failed(err)
			return fmt.Errorf("rtpspeaker: send to %s: %w", s.cfg.Addr, err)
		}
		sentAt = time.Now()
		seq++
		sent++
		srcPrev, lenPrev = f.Timestamp, len(payload)
		s.sent(1, false)
	}
}

// grow returns b with length n, reusing it when it is large enough.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
