package rtpspeaker

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pion/rtp"
	"golang.org/x/net/ipv4"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker"
)

// Codec is the G.711 law a speaker takes.
type Codec string

// The codecs, by their RTP encoding names.
const (
	PCMU Codec = "PCMU" // μ-law, payload type 0: North America, Japan, most SIP horns
	PCMA Codec = "PCMA" // A-law, payload type 8: China and Europe
)

// PayloadType is c's static RTP payload type (RFC 3551).
func (c Codec) PayloadType() uint8 {
	if c == PCMA {
		return 8
	}
	return 0
}

// The packetisation every G.711 paging speaker accepts.
const (
	Rate  = 8000                  // samples per second
	Frame = 160                   // samples per packet
	Ptime = 20 * time.Millisecond // audio per packet
)

// Limits of Config.
const (
	MaxPrebuffer = 10 // packets (200 ms): more would let a cancelled clip play on for long
	// recoverAfter is how many packets in a row must go out without an
	// error before an unreachable speaker counts as reachable again
	// (500 ms): a closed unicast port fails every other send, so it
	// never gets there.
	recoverAfter = 25
)

// Config is one speaker, or one multicast group of them.
type Config struct {
	// Addr is "host:port" of the speaker, or of the multicast group.
	Addr string
	// Codec is what the speaker takes; "" means PCMU.
	Codec Codec
	// TTL is the multicast hop limit, 1-255; 0 means 1, this LAN
	// segment. Multicast only.
	TTL int
	// HostOnly sends multicast with TTL 0: only listeners on this host
	// hear it (tests, simulated speakers). Multicast only.
	HostOnly bool
	// Interface is the name of the interface multicast goes out of; ""
	// follows the routing table. Multicast only.
	Interface string
	// Prebuffer is how many packets go out back to back at the start of
	// a spurt, ahead of real time, to fill a speaker's jitter buffer at
	// once: 0 to MaxPrebuffer; default 0.
	Prebuffer int
	// Logger gets health changes; nil discards. A dependency rather than
	// configuration, carried here so New keeps its one-argument form.
	Logger *slog.Logger
}

// validate reports every problem at once.
func (c Config) validate() (*net.UDPAddr, error) {
	var errs []error
	addr, err := net.ResolveUDPAddr("udp4", c.Addr)
	if err != nil {
		errs = append(errs, fmt.Errorf("address %q: %w", c.Addr, err))
	} else if addr.Port == 0 || addr.IP == nil || addr.IP.IsUnspecified() {
		errs = append(errs, fmt.Errorf("address %q: needs a host and a port", c.Addr))
	}
	if c.Codec != "" && c.Codec != PCMU && c.Codec != PCMA {
		errs = append(errs, fmt.Errorf("codec %q: PCMU or PCMA", c.Codec))
	}
	if c.TTL < 0 || c.TTL > 255 {
		errs = append(errs, fmt.Errorf("TTL %d: 0-255", c.TTL))
	}
	if c.Prebuffer < 0 || c.Prebuffer > MaxPrebuffer {
		errs = append(errs, fmt.Errorf("prebuffer %d: 0-%d packets", c.Prebuffer, MaxPrebuffer))
	}
	if addr != nil && !addr.IP.IsMulticast() && (c.TTL != 0 || c.HostOnly || c.Interface != "") {
		errs = append(errs, fmt.Errorf("TTL, host-only and interface are for multicast, and %s is unicast", c.Addr))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("rtpspeaker: config: %w", err)
	}
	return addr, nil
}

// Speaker sends RTP to one address. It meets speaker.Speaker and
// speaker.Volumer.
type Speaker struct {
	cfg  Config
	log  *slog.Logger
	conn *net.UDPConn
	ssrc uint32
	turn *speaker.Turn // held while a Play sends
	vol  *speaker.Level
	halt speaker.Halter

	mu      sync.Mutex
	seq     uint16
	ts      uint32
	lastEnd time.Time // when the previous spurt's audio ended
	status  *speaker.Status
	clean   int // packets sent since the last error
	closed  bool
}

var _ interface {
	speaker.Speaker
	speaker.Volumer
} = (*Speaker)(nil)

// New validates cfg and opens the socket; nothing is sent until Play.
func New(cfg Config) (*Speaker, error) {
	raddr, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if cfg.Codec == "" {
		cfg.Codec = PCMU
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// A connected socket: the kernel then reports an ICMP "port
	// unreachable" from a unicast speaker as ECONNREFUSED on a later send.
	conn, err := net.DialUDP("udp4", nil, raddr)
	if err != nil {
		return nil, fmt.Errorf("rtpspeaker: dial %s: %w", cfg.Addr, err)
	}
	if raddr.IP.IsMulticast() {
		if err := multicast(conn, cfg); err != nil {
			_ = conn.Close() // the setup error is the one to report
			return nil, fmt.Errorf("rtpspeaker: multicast %s: %w", cfg.Addr, err)
		}
	}
	// RFC 3550 §5.1: the SSRC and the initial sequence number and
	// timestamp are random, so streams do not collide and a known
	// starting point gives no help to an attacker of encryption.
	var r [10]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	log = log.With("component", "rtpspeaker", "addr", cfg.Addr)
	return &Speaker{
		cfg:    cfg,
		log:    log,
		conn:   conn,
		ssrc:   binary.BigEndian.Uint32(r[0:4]),
		seq:    binary.BigEndian.Uint16(r[4:6]),
		ts:     binary.BigEndian.Uint32(r[6:10]),
		turn:   speaker.NewTurn(),
		vol:    speaker.NewLevel(100),
		status: speaker.NewStatus(log),
	}, nil
}

func multicast(conn *net.UDPConn, cfg Config) error {
	p := ipv4.NewPacketConn(conn)
	ttl := max(cfg.TTL, 1)
	if cfg.HostOnly {
		ttl = 0
	}
	if err := p.SetMulticastTTL(ttl); err != nil {
		return fmt.Errorf("TTL %d: %w", ttl, err)
	}
	// A simulator or a recorder on this box hears the group too.
	if err := p.SetMulticastLoopback(true); err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if cfg.Interface != "" {
		ifi, err := net.InterfaceByName(cfg.Interface)
		if err != nil {
			return fmt.Errorf("interface %q: %w", cfg.Interface, err)
		}
		if err := p.SetMulticastInterface(ifi); err != nil {
			return fmt.Errorf("interface %s: %w", cfg.Interface, err)
		}
	}
	return nil
}

// Close closes the socket; Play fails afterwards.
func (s *Speaker) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if err := s.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("rtpspeaker: close: %w", err)
	}
	return nil
}

// SetVolume sets the level of the clips played from now on, 0-100 on the
// square law of audio.Volume; the default is 100.
func (s *Speaker) SetVolume(percent int) error {
	if err := s.vol.Set(percent); err != nil {
		return fmt.Errorf("rtpspeaker: %w", err)
	}
	return nil
}

// Halt stops the clip playing now; Play returns speaker.ErrHalted. A Play
// waiting for its turn is not affected.
func (s *Speaker) Halt() error {
	s.halt.Halt()
	return nil
}

// Health reports the outcome of the latest sends: a unicast speaker that
// is not listening answers with ICMP port unreachable, which fails the
// next send; it counts as reachable again after a Play or 25 packets in
// a row went out without an error. Multicast is unreachable only when
// the host cannot send at all.
func (s *Speaker) Health() speaker.Health { return s.status.Health() }

func (s *Speaker) failed(err error) {
	s.mu.Lock()
	s.clean = 0
	s.mu.Unlock()
	s.status.Failed(err)
}

// sent records n packets sent without error; whole says the Play is done.
func (s *Speaker) sent(n int, whole bool) {
	s.mu.Lock()
	s.clean += n
	recovered := whole || s.clean >= recoverAfter
	s.mu.Unlock()
	if recovered {
		s.status.Reached()
	}
}

// Play sends pcm as one talk spurt: mixed to mono, resampled to 8 kHz,
// set to the volume, G.711-encoded, 20 ms a packet in real time, the last
// packet padded with silence. It returns once the last packet's audio
// has had time to play, or at once on ctx's end or Halt. Plays take
// turns; a Play waiting for its turn gives up when ctx ends.
func (s *Speaker) Play(ctx context.Context, pcm audio.PCM) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rtpspeaker: play: %w", err)
	}
	if err := pcm.Validate(); err != nil {
		return fmt.Errorf("rtpspeaker: play: %w", err)
	}
	stop, done, err := s.take(ctx)
	if err != nil {
		return err
	}
	defer done()
	vol := s.vol.Get()
	// Costs a few milliseconds per second of audio unless the clip is
	// already 8 kHz mono, as edge/media can prepare it once for all
	// speakers.
	samples, err := audio.Resample(pcm.Mono(), Rate)
	if err != nil {
		return fmt.Errorf("rtpspeaker: play: %w", err)
	}
	return s.spurt(ctx, stop, audio.Volume(samples, vol).Samples)
}

// take waits for the speaker's turn and arms Halt for the play that has
// it; done ends the turn. It fails when ctx ends first or the speaker is
// closed.
func (s *Speaker) take(ctx context.Context) (stop <-chan struct{}, done func(), err error) {
	if err := s.turn.Take(ctx); err != nil {
		return nil, nil, fmt.Errorf("rtpspeaker: play: waiting for the previous clip: %w", err)
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		s.turn.Give()
		return nil, nil, errors.New("rtpspeaker: play: speaker closed")
	}
	stop, disarm := s.halt.Arm() // from here on Halt applies to this play
	return stop, func() { disarm(); s.turn.Give() }, nil
}

// spurt sends samples (8 kHz mono) paced by a ticker. Which packets are
// due is worked out from the time since the start, not by counting
// ticks, so a late wake-up sends the backlog at once instead of drifting
// behind real time.
func (s *Speaker) spurt(ctx context.Context, stop <-chan struct{}, samples []int16) error {
	packets := (len(samples) + Frame - 1) / Frame
	pt := s.cfg.Codec.PayloadType()
	silence := audio.LinearToULaw(0)
	if s.cfg.Codec == PCMA {
		silence = audio.LinearToALaw(0)
	}
	payload := make([]byte, Frame)
	buf := make([]byte, 12+Frame)

	start := time.Now()
	s.mu.Lock()
	seq, ts := s.seq, s.ts
	if gap := start.Sub(s.lastEnd); !s.lastEnd.IsZero() && gap > 0 {
		// RTP time runs on through the silence between spurts (RFC 3550
		// §5.1), so a receiver's jitter estimate sees no jump.
		// In microseconds, which cannot overflow for 36 years of silence.
		ts += uint32(int64(gap/time.Microsecond) * Rate / 1e6)
	}
	s.mu.Unlock()
	sent := 0
	defer func() {
		s.mu.Lock()
		s.seq, s.ts = seq, ts
		s.lastEnd = start.Add(time.Duration(sent) * Ptime)
		s.mu.Unlock()
	}()

	tick := time.NewTicker(Ptime)
	defer tick.Stop()
	select { // Halted or cancelled while the clip was being converted
	case <-stop:
		return speaker.ErrHalted
	case <-ctx.Done():
		return fmt.Errorf("rtpspeaker: play: %w", ctx.Err())
	default:
	}
	for {
		due := min(packets, s.cfg.Prebuffer+1+int(time.Since(start)/Ptime))
		from := sent
		for ; sent < due; sent++ {
			chunk := samples[sent*Frame : min((sent+1)*Frame, len(samples))]
			if s.cfg.Codec == PCMA {
				audio.EncodeALaw(payload, chunk)
			} else {
				audio.EncodeULaw(payload, chunk)
			}
			for i := len(chunk); i < Frame; i++ {
				payload[i] = silence
			}
			p := rtp.Packet{
				Header: rtp.Header{Version: 2, Marker: sent == 0, PayloadType: pt,
					SequenceNumber: seq, Timestamp: ts, SSRC: s.ssrc},
				Payload: payload,
			}
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
			seq++
			ts += Frame
		}
		if sent > from {
			s.sent(sent-from, false)
		}
		if sent == packets {
			break
		}
		if err := s.wait(ctx, stop, tick.C); err != nil {
			return err
		}
	}
	// The speaker is still playing what it buffered.
	end := time.NewTimer(time.Until(start.Add(time.Duration(packets) * Ptime)))
	defer end.Stop()
	if err := s.wait(ctx, stop, end.C); err != nil {
		return err
	}
	s.sent(0, true)
	return nil
}

func (s *Speaker) wait(ctx context.Context, stop <-chan struct{}, c <-chan time.Time) error {
	select {
	case <-ctx.Done():
		return fmt.Errorf("rtpspeaker: play: %w", ctx.Err())
	case <-stop:
		return speaker.ErrHalted
	case <-c:
		return nil
	}
}
