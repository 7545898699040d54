// Package speakersim is a simulated IP paging speaker: it listens for RTP
// (unicast, or a multicast group), decodes G.711, records what it heard and
// measures loss and interarrival jitter as RFC 3550 defines them. Tests,
// `dalaba-sim speaker` and `make run` use it in place of a real horn.
package speakersim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"github.com/pion/rtp"
	"golang.org/x/net/ipv4"

	"github.com/dalaba/dalaba/devices/audio"
)

// Config says where to listen.
type Config struct {
	Listen    string // "127.0.0.1:0", or "239.255.10.1:5004" to join a group
	Interface string // multicast: the interface to join on; "" = default
}

// Stats are what the speaker measured.
type Stats struct {
	Packets     uint64
	Lost        uint64  // expected minus received, from sequence numbers
	JitterMs    float64 // RFC 3550 interarrival jitter, in milliseconds
	Spurts      int     // packets with the marker bit: talk spurts begun
	PayloadType uint8
	SSRC        uint32
	BadPackets  uint64 // not RTP, or an unknown payload type
}

// Sim is one simulated speaker.
type Sim struct {
	conn    *net.UDPConn
	mu      sync.Mutex
	samples []int16
	st      Stats
	started bool
	baseSeq uint32 // extended sequence numbers
	maxSeq  uint32
	cycles  uint32
	prevTr  int64 // previous (arrival - rtp timestamp), in 1/8000 s
	changed chan struct{}
}

// New binds the socket; Run reads it.
func New(cfg Config) (*Sim, error) {
	addr, err := net.ResolveUDPAddr("udp4", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("speakersim: %w", err)
	}
	var conn *net.UDPConn
	if addr.IP.IsMulticast() {
		var ifi *net.Interface
		if cfg.Interface != "" {
			if ifi, err = net.InterfaceByName(cfg.Interface); err != nil {
				return nil, fmt.Errorf("speakersim: %w", err)
			}
		}
		conn, err = net.ListenMulticastUDP("udp4", ifi, addr)
		if err == nil {
			_ = ipv4.NewPacketConn(conn).SetMulticastLoopback(true) // best effort: a sender on this host must be heard
		}
	} else {
		conn, err = net.ListenUDP("udp4", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("speakersim: listen %s: %w", cfg.Listen, err)
	}
	return &Sim{conn: conn, changed: make(chan struct{})}, nil
}

// Addr is where the speaker listens.
func (s *Sim) Addr() *net.UDPAddr { return s.conn.LocalAddr().(*net.UDPAddr) }

// Run receives until ctx ends, then closes the socket.
func (s *Sim) Run(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		s.conn.Close()
	}()
	buf := make([]byte, 1500)
	for {
		n, err := s.conn.Read(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("speakersim: read: %w", err)
		}
		s.handle(buf[:n], nowTicks())
	}
}

// handle takes one datagram that arrived at arrival (in 1/8000 s).
func (s *Sim) handle(b []byte, arrival int64) {
	var p rtp.Packet
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.signal()
	if err := p.Unmarshal(b); err != nil || p.Version != 2 || (p.PayloadType != 0 && p.PayloadType != 8) {
		s.st.BadPackets++
		return
	}
	s.st.Packets++
	s.st.PayloadType, s.st.SSRC = p.PayloadType, p.SSRC
	if p.Marker {
		s.st.Spurts++
	}
	seq := uint32(p.SequenceNumber)
	if !s.started {
		s.started, s.baseSeq, s.maxSeq = true, seq, seq
	} else {
		if seq < s.maxSeq&0xFFFF && s.maxSeq&0xFFFF-seq > 0x8000 {
			s.cycles += 1 << 16 // wrapped
		}
		if ext := s.cycles | seq; ext > s.maxSeq {
			s.maxSeq = ext
		}
		// RFC 3550 §6.4.1 / A.8: J += (|D| - J) / 16.
		transit := arrival - int64(p.Timestamp)
		d := transit - s.prevTr
		if d < 0 {
			d = -d
		}
		s.st.JitterMs += (float64(d)/8 - s.st.JitterMs) / 16
	}
	s.prevTr = arrival - int64(p.Timestamp)
	expected := uint64(s.maxSeq-s.baseSeq) + 1
	if expected > s.st.Packets {
		s.st.Lost = expected - s.st.Packets
	} else {
		s.st.Lost = 0
	}
	for _, c := range p.Payload {
		if p.PayloadType == 8 {
			s.samples = append(s.samples, audio.ALawToLinear(c))
		} else {
			s.samples = append(s.samples, audio.ULawToLinear(c))
		}
	}
}

func (s *Sim) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Stats returns what was measured so far.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// Audio returns everything heard, as 8 kHz mono.
func (s *Sim) Audio() audio.PCM {
	s.mu.Lock()
	defer s.mu.Unlock()
	return audio.PCM{Rate: 8000, Channels: 1, Samples: append([]int16(nil), s.samples...)}
}

// Reset forgets what was heard (the statistics stay).
func (s *Sim) Reset() {
	s.mu.Lock()
	s.samples = nil
	s.mu.Unlock()
}

// Wait blocks until cond holds for the stats and the number of samples
// heard, or ctx ends.
func (s *Sim) Wait(ctx context.Context, cond func(st Stats, samples int) bool) error {
	for {
		s.mu.Lock()
		ok := cond(s.st, len(s.samples))
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// WriteWAV saves what was heard.
func (s *Sim) WriteWAV(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("speakersim: %w", err)
	}
	if err := audio.EncodeWAV(f, s.Audio()); err != nil {
		f.Close()
		return fmt.Errorf("speakersim: %w", err)
	}
	return f.Close()
}
