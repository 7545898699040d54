package whep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dalaba/dalaba/edge/relay"
	"github.com/dalaba/dalaba/edge/rtcpeer"
	"github.com/dalaba/dalaba/protocol"
)

// Defaults for Config.
const (
	DefaultMaxSessions = 16
	// DefaultSessionTimeout is how long a viewer has, after the answer,
	// to connect (ICE and DTLS).
	DefaultSessionTimeout = rtcpeer.DefaultSessionTimeout
	// DefaultDisconnectedTimeout is how long a connected viewer may be
	// silent before ICE calls it disconnected; the session ends once it
	// has been silent twice as long (ICE failed).
	DefaultDisconnectedTimeout = rtcpeer.DefaultDisconnectedTimeout
	// DefaultMaxPayload keeps each RTP payload small enough that a packet
	// fits a 1500-byte MTU through TURN over IPv6: 40 bytes of IP, 8 of
	// UDP, 4 of TURN channel data, 12 of RTP, 10 of SRTP tag, and room
	// for a header extension. Camera packets that fit go as they are.
	DefaultMaxPayload = 1400
)

// Config says how the Server treats viewers.
type Config struct {
	// ICE lists the STUN and TURN servers the box gathers candidates
	// with; none means host candidates only (the box and the viewer on
	// one network, or the viewer reaching the box's address).
	ICE []protocol.ICEServer
	// MaxSessions bounds WebRTC viewers at once, DefaultMaxSessions if
	// 0; the relay's reader limits apply on top.
	MaxSessions int
	// SessionTimeout is how long a viewer has to connect after its
	// answer, DefaultSessionTimeout if 0.
	SessionTimeout time.Duration
	// DisconnectedTimeout is how long a viewer may be silent before ICE
	// calls it disconnected, DefaultDisconnectedTimeout if 0; after
	// twice that the session ends. A receiving browser sends RTCP about
	// every second and ICE consent checks every ~5 s, so it is not
	// meant to be much shorter than the default.
	DisconnectedTimeout time.Duration
	// UDPPortMin and UDPPortMax, when both set, bound the UDP ports ICE
	// binds (for a firewall rule); any ephemeral port otherwise.
	UDPPortMin, UDPPortMax uint16
	// Loopback offers candidates on loopback interfaces too: for tests
	// and for a viewer on the box itself.
	Loopback bool
	// MaxPayload is the largest RTP payload sent, in bytes,
	// DefaultMaxPayload if 0 (the desired state's cameras.max_payload
	// overrides it for a path with a smaller MTU, a VPN say); camera
	// packets that fit are passed through, bigger ones cut anew.
	MaxPayload int
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.MaxSessions == 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.DisconnectedTimeout == 0 {
		c.DisconnectedTimeout = DefaultDisconnectedTimeout
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	return c
}

// Validate reports every problem of a Config with its defaults filled.
func (c Config) Validate() error {
	c = c.withDefaults()
	errs := c.peer().Problems()
	// An FU-A fragment needs room for its two header bytes and some data.
	if c.MaxPayload < 100 {
		errs = append(errs, fmt.Errorf("max payload: %d is below 100 bytes", c.MaxPayload))
	}
	return errors.Join(errs...)
}

// peer is the part of c every answering server of the box has.
func (c Config) peer() rtcpeer.Config {
	return rtcpeer.Config{
		ICE: c.ICE, MaxSessions: c.MaxSessions, SessionTimeout: c.SessionTimeout, DisconnectedTimeout: c.DisconnectedTimeout,
		UDPPortMin: c.UDPPortMin, UDPPortMax: c.UDPPortMax, Loopback: c.Loopback,
	}
}

// Source is where viewers get a camera's streams: the relay. Paths are
// relay.Path's: a camera's id for its main stream, id/sub for its sub
// stream. Subscribe's packets close when the stream is lost or ctx ends;
// the subscription must be released. Info is what is known of a stream
// without subscribing.
type Source interface {
	Subscribe(ctx context.Context, path string) (*relay.Subscription, error)
	Info(path string) (relay.StreamInfo, error)
}

// Deps are what the Server is given.
type Deps struct {
	// Logger gets the log, nil discards it.
	Logger *slog.Logger
	// Source gives cameras' video; required.
	Source Source
	// Events gets one Viewing per ended session (Via "webrtc"). It is
	// called from session goroutines, possibly concurrently, and must
	// not block (append to the outbox and return). Nil drops them.
	Events func(protocol.Viewing)
}
