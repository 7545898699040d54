package speakersim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/dalaba/dalaba/devices/audio"
)

// Defaults for Config.
const (
	// DefaultHangover is the silence that ends a talk spurt: ten missing
	// 20 ms packets, longer than any jitter a LAN adds.
	DefaultHangover = 200 * time.Millisecond
	// DefaultMaxRecord bounds the recording, so a simulator left running
	// for days does not grow without limit (10 min is 9.6 MB).
	DefaultMaxRecord = 10 * time.Minute
)

// Config says where the speaker listens.
type Config struct {
	// Listen is "127.0.0.1:0" for unicast (port 0 picks one; see Addr),
	// or a multicast group such as "239.255.10.1:5004", which is joined.
	Listen string
	// Interface is the name of the interface to join a group on; "" lets
	// the kernel choose. Unused for unicast.
	Interface string
	// Hangover is the silence after which a talk spurt has ended; 0 means
	// DefaultHangover.
	Hangover time.Duration
	// MaxRecord is how much of the latest audio is kept; 0 means
	// DefaultMaxRecord.
	MaxRecord time.Duration
}

// Stats are what the speaker measured since it started.
type Stats struct {
	Packets    uint64        // RTP packets of PCMU or PCMA received
	Lost       uint64        // expected minus received by sequence number (RFC 3550 A.3), over all sources
	Late       uint64        // duplicates and packets behind the newest: counted, not played
	Jitter     time.Duration // RFC 3550 §6.4.1 interarrival jitter of the current source
	Spurts     int           // talk spurts begun: packets with the marker bit
	Unmarked   int           // spurts (after Hangover of silence, or the first) that began without the marker bit
	Ended      int           // talk spurts ended: Hangover passed with no packet
	Sources    int           // SSRCs heard in turn; a new one restarts sequence tracking
	BadPackets uint64        // not RTP version 2, or another payload type
	// Of the last packet.
	PayloadType uint8
	SSRC        uint32
}

// Sim is one simulated speaker.
type Sim struct {
	hangover time.Duration
	conn     *net.UDPConn
	// For multicast: the group and port, and the socket as a
	// PacketConn that reports each packet's destination.
	group   *net.UDPAddr
	pc      *ipv4.PacketConn
	mu      sync.Mutex
	r       receiver
	changed chan struct{} // closed and replaced whenever r changes
}

// New validates cfg and binds the socket, so Addr is known at once; Run
// reads it.
func New(cfg Config) (*Sim, error) {
	if cfg.Hangover < 0 || cfg.MaxRecord < 0 {
		return nil, errors.New("speakersim: negative hangover or record length")
	}
	if cfg.Hangover == 0 {
		cfg.Hangover = DefaultHangover
	}
	if cfg.MaxRecord == 0 {
		cfg.MaxRecord = DefaultMaxRecord
	}
	addr, err := net.ResolveUDPAddr("udp4", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("speakersim: listen address %q: %w", cfg.Listen, err)
	}
	var conn *net.UDPConn
	if addr.IP.IsMulticast() {
		var ifi *net.Interface
		if cfg.Interface != "" {
			if ifi, err = net.InterfaceByName(cfg.Interface); err != nil {
				return nil, fmt.Errorf("speakersim: interface %q: %w", cfg.Interface, err)
			}
		}
		// The standard library binds the wildcard address (with
		// SO_REUSEADDR, so several simulated speakers share a group and
		// port) and joins the group; Run drops what was not sent to it.
		conn, err = net.ListenMulticastUDP("udp4", ifi, addr)
	} else {
		if cfg.Interface != "" {
			return nil, fmt.Errorf("speakersim: interface %q given for unicast %s", cfg.Interface, cfg.Listen)
		}
		conn, err = net.ListenUDP("udp4", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("speakersim: listen %s: %w", cfg.Listen, err)
	}
	s := &Sim{hangover: cfg.Hangover, conn: conn, changed: make(chan struct{})}
	if addr.IP.IsMulticast() {
		s.group = &net.UDPAddr{IP: addr.IP, Port: conn.LocalAddr().(*net.UDPAddr).Port}
		s.pc = ipv4.NewPacketConn(conn)
		if err := s.pc.SetControlMessage(ipv4.FlagDst, true); err != nil {
			_ = conn.Close() // the option's error is the one to report
			return nil, fmt.Errorf("speakersim: ask for destination addresses: %w", err)
		}
	}
	s.r.maxSamples = int(cfg.MaxRecord / time.Second * clockHz)
	return s, nil
}

// Addr is where the speaker listens: the port chosen for ":0", and for
// multicast the group.
func (s *Sim) Addr() *net.UDPAddr {
	if s.group != nil {
		return s.group
	}
	return s.conn.LocalAddr().(*net.UDPAddr)
}

// Close closes the socket, for a Sim whose Run never ran; Run closes it
// itself when it returns.
func (s *Sim) Close() error {
	if err := s.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("speakersim: close: %w", err)
	}
	return nil
}

// Run receives until ctx ends (then it returns nil) or the socket fails.
func (s *Sim) Run(ctx context.Context) error {
	defer func() {
		_ = s.Close() // Close reports nothing worth more than Run's own result
	}()
	stop := context.AfterFunc(ctx, func() {
		_ = s.conn.Close() // unblocks the read below; Run's defer closes again harmlessly
	})
	defer stop()
	buf := make([]byte, 1500)
	for {
		s.mu.Lock()
		deadline := time.Time{}
		if s.r.inSpurt {
			deadline = time.Now().Add(s.hangover)
		}
		s.mu.Unlock()
		if err := s.conn.SetReadDeadline(deadline); err != nil && ctx.Err() == nil {
			return fmt.Errorf("speakersim: set deadline: %w", err)
		}
		n, err := s.read(buf)
		now := time.Now()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.update(func(r *receiver) { r.idle() })
		case err != nil:
			return fmt.Errorf("speakersim: read: %w", err)
		case n < 0: // for another group or address: not for this speaker
		default:
			s.update(func(r *receiver) { r.packet(buf[:n], now) })
		}
	}
}

// read reads one datagram; n is -1 for one sent to another address than
// the group (other groups joined on the port by other sockets, unicast).
func (s *Sim) read(buf []byte) (n int, err error) {
	if s.pc == nil {
		return s.conn.Read(buf)
	}
	n, cm, _, err := s.pc.ReadFrom(buf)
	if err == nil && cm != nil && !cm.Dst.Equal(s.group.IP) {
		return -1, nil
	}
	return n, err
}

func (s *Sim) update(f func(*receiver)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.r)
	close(s.changed)
	s.changed = make(chan struct{})
}

// Stats returns what was measured so far.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.st
}

// Audio returns what was heard since the last Reset (at most MaxRecord of
// the latest), as 8 kHz mono: talk spurts back to back, lost packets as
// silence.
func (s *Sim) Audio() audio.PCM {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.r.samples[max(0, len(s.r.samples)-s.r.maxSamples):]
	return audio.PCM{Rate: clockHz, Channels: 1, Samples: append([]int16(nil), kept...)}
}

// Heard is the number of samples (at 8 kHz) heard since the last Reset.
func (s *Sim) Heard() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.heard
}

// Reset forgets the audio heard so far; the statistics stay.
func (s *Sim) Reset() {
	s.update(func(r *receiver) { r.samples, r.heard = nil, 0 })
}

// Wait blocks until cond holds or ctx ends. cond is called, with the
// statistics and the number of samples heard since the last Reset, at
// once and after every packet or spurt end; it must not block.
func (s *Sim) Wait(ctx context.Context, cond func(st Stats, samples int) bool) error {
	for {
		s.mu.Lock()
		ok, ch := cond(s.r.st, s.r.heard), s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("speakersim: wait: %w", ctx.Err())
		case <-ch:
		}
	}
}

// WriteWAV saves Audio as a 16-bit WAV file at path.
func (s *Sim) WriteWAV(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("speakersim: write WAV: %w", err)
	}
	if err := audio.EncodeWAV(f, s.Audio()); err != nil {
		_ = f.Close() // the encoding error is the one to report
		return fmt.Errorf("speakersim: write WAV %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("speakersim: write WAV %s: %w", path, err)
	}
	return nil
}
