package speakersim

import (
	"time"

	"github.com/pion/rtp"

	"github.com/dalaba/dalaba/devices/audio"
)

// Sequence-number tolerances of RFC 3550 appendix A.1: a jump forward of
// up to maxDropout is loss; a step back of up to maxMisorder is a late
// packet; anything else means the sender restarted its sequence.
const (
	maxDropout  = 3000
	maxMisorder = 100
	// maxFill is the longest run of lost packets the recording fills with
	// silence (1 s); a longer gap is a pause, not loss to re-time.
	maxFill = 50
	clockHz = 8000 // the RTP clock of PCMU and PCMA
)

// source is the reception state of one SSRC (RFC 3550 A.1, A.8).
type source struct {
	ssrc     uint32
	base     uint64 // extended sequence number of the first packet
	maxSeq   uint16
	cycles   uint64 // sequence wraps, times 65536
	received uint64
	// For jitter: the previous packet's arrival and RTP timestamp, and
	// the estimate in RTP clock units.
	prevArrival time.Time
	prevTS      uint32
	jitter      float64
}

func (s *source) extMax() uint64 { return s.cycles + uint64(s.maxSeq) }

// lost is expected minus received; duplicates can make it negative,
// which reads as none lost.
func (s *source) lost() uint64 {
	expected := s.extMax() - s.base + 1
	if s.received >= expected {
		return 0
	}
	return expected - s.received
}

// receiver is everything a Sim learns from packets; it does no I/O, so it
// is tested with made-up arrival times.
type receiver struct {
	src        *source
	lostBefore uint64 // loss of earlier sources and sequences
	st         Stats
	inSpurt    bool
	samples    []int16
	heard      int // samples heard since the last reset, including those trimmed
	maxSamples int
}

// packet takes one datagram that arrived at arrival.
func (r *receiver) packet(b []byte, arrival time.Time) {
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil || p.Version != 2 || (p.PayloadType != 0 && p.PayloadType != 8) {
		r.st.BadPackets++
		return
	}
	r.st.Packets++
	r.st.PayloadType, r.st.SSRC = p.PayloadType, p.SSRC
	if p.Marker {
		r.st.Spurts++
	} else if !r.inSpurt {
		r.st.Unmarked++
	}
	r.inSpurt = true

	if r.src == nil || r.src.ssrc != p.SSRC {
		r.restart(p.SSRC, p.SequenceNumber)
		r.st.Sources++
	}
	s := r.src
	s.received++
	fill, play := 0, true
	if s.received > 1 {
		switch delta := p.SequenceNumber - s.maxSeq; {
		case delta == 0:
			r.st.Late++ // a duplicate
			play = false
		case delta < maxDropout:
			if p.SequenceNumber < s.maxSeq {
				s.cycles += 1 << 16
			}
			s.maxSeq = p.SequenceNumber
			fill = int(delta) - 1
		case delta > 1<<16-maxMisorder:
			r.st.Late++
			play = false
		default: // the sender restarted its sequence: start counting again
			r.restart(p.SSRC, p.SequenceNumber)
			r.src.received = 1
			s = r.src
		}
		// RFC 3550 A.8: D is how much later this packet came than its
		// timestamp says it should have, against the previous one.
		d := arrival.Sub(s.prevArrival).Seconds()*clockHz - float64(int32(p.Timestamp-s.prevTS))
		if d < 0 {
			d = -d
		}
		s.jitter += (d - s.jitter) / 16
	}
	s.prevArrival, s.prevTS = arrival, p.Timestamp
	r.st.Lost = r.lostBefore + s.lost()
	r.st.Jitter = time.Duration(s.jitter * float64(time.Second) / clockHz)
	if !play {
		return
	}
	if fill > 0 && fill <= maxFill { // a real speaker would conceal the gap; silence keeps the timing
		r.record(make([]int16, fill*len(p.Payload)))
	}
	decoded := make([]int16, 0, len(p.Payload))
	if p.PayloadType == 8 {
		decoded = audio.DecodeALaw(decoded, p.Payload)
	} else {
		decoded = audio.DecodeULaw(decoded, p.Payload)
	}
	r.record(decoded)
}

// restart begins sequence tracking anew at seq, keeping the loss counted
// so far.
func (r *receiver) restart(ssrc uint32, seq uint16) {
	if r.src != nil {
		r.lostBefore += r.src.lost()
	}
	r.src = &source{ssrc: ssrc, base: uint64(seq), maxSeq: seq}
}

// record appends samples, keeping at most maxSamples of the latest.
func (r *receiver) record(s []int16) {
	r.heard += len(s)
	r.samples = append(r.samples, s...)
	if r.maxSamples > 0 && len(r.samples) > 2*r.maxSamples {
		// Trimming in halves keeps appends amortised O(1).
		r.samples = append(r.samples[:0], r.samples[len(r.samples)-r.maxSamples:]...)
	}
}

// idle is called when Hangover passed without a packet.
func (r *receiver) idle() {
	if r.inSpurt {
		r.inSpurt = false
		r.st.Ended++
	}
}
