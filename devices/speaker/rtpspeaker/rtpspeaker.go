// Package rtpspeaker drives SIP/multicast paging speakers: G.711 (PCMU or
// PCMA) at 8 kHz in 20 ms RTP packets (RFC 3550/3551), unicast or
// multicast, paced in real time. It knows nothing of schedules or zones.
package rtpspeaker

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pion/rtp"
	"golang.org/x/net/ipv4"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker"
)

// Codec is the G.711 variant a speaker takes.
type Codec string

// Codecs and their static RTP payload types (RFC 3551).
const (
	PCMU Codec = "PCMU" // payload type 0
	PCMA Codec = "PCMA" // payload type 8
)

// Rate is G.711's sample rate; Frame the samples in one 20 ms packet.
const (
	Rate  = 8000
	Frame = 160
)

// Config is one speaker (or multicast group).
type Config struct {
	Addr      string // host:port; a multicast group address sends multicast
	Codec     Codec
	TTL       int    // multicast hops; 0 keeps packets on this host
	Interface string // multicast: outgoing interface name; "" = the system's choice
	Volume    int    // 0-100; default 100
	// Prebuffer packets are sent at once at the start of a spurt, so a
	// speaker's jitter buffer fills before pacing starts. Default 0.
	Prebuffer int
}

// Speaker sends RTP to one address.
type Speaker struct {
	cfg   Config
	pt    uint8
	conn  *net.UDPConn
	ssrc  uint32
	mu    sync.Mutex
	seq   uint16
	ts    uint32
	last  time.Time // when the last packet went
	vol   int
	halt  chan struct{}
	hlth  speaker.Health
	plays sync.Mutex // one Play at a time
}

// New validates cfg and opens the socket.
func New(cfg Config) (*Speaker, error) {
	var pt uint8
	switch cfg.Codec {
	case PCMU:
		pt = 0
	case PCMA:
		pt = 8
	default:
		return nil, fmt.Errorf("rtpspeaker: codec %q: PCMU or PCMA", cfg.Codec)
	}
	if cfg.Volume == 0 {
		cfg.Volume = 100
	}
	raddr, err := net.ResolveUDPAddr("udp4", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("rtpspeaker: address %q: %w", cfg.Addr, err)
	}
	conn, err := net.DialUDP("udp4", nil, raddr)
	if err != nil {
		return nil, fmt.Errorf("rtpspeaker: %w", err)
	}
	if raddr.IP.IsMulticast() {
		p := ipv4.NewPacketConn(conn)
		if err := p.SetMulticastTTL(cfg.TTL); err != nil {
			conn.Close()
			return nil, fmt.Errorf("rtpspeaker: multicast TTL: %w", err)
		}
		_ = p.SetMulticastLoopback(true) // local listeners (a simulator, a recorder) hear it too
		if cfg.Interface != "" {
			ifi, err := net.InterfaceByName(cfg.Interface)
			if err != nil {
				conn.Close()
				return nil, fmt.Errorf("rtpspeaker: interface %q: %w", cfg.Interface, err)
			}
			if err := p.SetMulticastInterface(ifi); err != nil {
				conn.Close()
				return nil, fmt.Errorf("rtpspeaker: multicast interface %s: %w", cfg.Interface, err)
			}
		}
	}
	var r [10]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails on Linux
	s := &Speaker{
		cfg: cfg, pt: pt, conn: conn, vol: cfg.Volume, halt: make(chan struct{}, 1),
		ssrc: binary.BigEndian.Uint32(r[0:4]), seq: binary.BigEndian.Uint16(r[4:6]), ts: binary.BigEndian.Uint32(r[6:10]),
		hlth: speaker.Health{Reachable: true, Since: time.Now()},
	}
	return s, nil
}

// Close closes the socket.
func (s *Speaker) Close() error { return s.conn.Close() }

// SetVolume sets the level applied to what is played next.
func (s *Speaker) SetVolume(p int) error {
	if p < 0 || p > 100 {
		return fmt.Errorf("rtpspeaker: volume %d: 0-100", p)
	}
	s.mu.Lock()
	s.vol = p
	s.mu.Unlock()
	return nil
}

// Halt stops the current Play.
func (s *Speaker) Halt() error {
	select {
	case s.halt <- struct{}{}:
	default:
	}
	return nil
}

// Health reports the last send outcome: a unicast speaker that is not
// listening answers with ICMP port unreachable, which a connected UDP
// socket surfaces as an error on a later send.
func (s *Speaker) Health() speaker.Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hlth
}

func (s *Speaker) setHealth(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ok := err == nil
	if ok != s.hlth.Reachable {
		s.hlth.Since = time.Now()
	}
	s.hlth.Reachable = ok
	if err != nil {
		s.hlth.LastError = err.Error()
	}
}

// Packets turns pcm into the G.711 payloads of 20 ms packets (the last one
// padded with silence), after mono mixdown, resampling to 8 kHz and volume.
func Packets(pcm audio.PCM, codec Codec, volume int) [][]byte {
	p := audio.Volume(audio.Resample(pcm.Mono(), Rate), volume)
	n := (len(p.Samples) + Frame - 1) / Frame
	out := make([][]byte, n)
	buf := make([]int16, Frame)
	for i := range out {
		clear(buf)
		copy(buf, p.Samples[i*Frame:min((i+1)*Frame, len(p.Samples))])
		if codec == PCMA {
			out[i] = audio.EncodeALaw(nil, buf)
		} else {
			out[i] = audio.EncodeULaw(nil, buf)
		}
	}
	return out
}

// Play sends pcm as one talk spurt, paced at 20 ms a packet.
func (s *Speaker) Play(ctx context.Context, pcm audio.PCM) error {
	if err := pcm.Validate(); err != nil {
		return fmt.Errorf("rtpspeaker: %w", err)
	}
	s.plays.Lock()
	defer s.plays.Unlock()
	select { // a Halt from before this Play does not apply to it
	case <-s.halt:
	default:
	}
	s.mu.Lock()
	vol := s.vol
	if !s.last.IsZero() {
		// RTP time keeps running between spurts (RFC 3550 §5.1).
		s.ts += uint32(time.Since(s.last) / (time.Second / Rate))
	}
	s.mu.Unlock()
	payloads := Packets(pcm, s.cfg.Codec, vol)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i, payload := range payloads {
		if i >= s.cfg.Prebuffer && i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.halt:
				return nil
			case <-tick.C:
			}
		}
		s.mu.Lock()
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, Marker: i == 0, PayloadType: s.pt, SequenceNumber: s.seq, Timestamp: s.ts, SSRC: s.ssrc}, Payload: payload}
		s.seq++
		s.ts += Frame
		s.last = time.Now()
		s.mu.Unlock()
		raw, err := pkt.Marshal()
		if err != nil {
			return fmt.Errorf("rtpspeaker: marshal: %w", err)
		}
		if _, err := s.conn.Write(raw); err != nil {
			s.setHealth(err)
			return fmt.Errorf("rtpspeaker: send to %s: %w", s.cfg.Addr, err)
		}
		s.setHealth(nil)
	}
	// The speaker plays the last packet for 20 ms after it arrives.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tick.C:
	}
	return nil
}
