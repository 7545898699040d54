package paging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dalaba/dalaba/devices/speaker"
	"github.com/dalaba/dalaba/edge/rtcpeer"
	"github.com/dalaba/dalaba/protocol"
)

// Defaults for Config.
const (
	// DefaultMaxSessions bounds pages at once; there is one per zone at
	// most, and a village has a handful of zones.
	DefaultMaxSessions = 8
	// DefaultSessionTimeout is how long a pager has, after the answer, to
	// connect (ICE and DTLS).
	DefaultSessionTimeout = rtcpeer.DefaultSessionTimeout
	// DefaultDisconnectedTimeout is how long a connected pager may be
	// silent on the network before ICE calls it disconnected; the page
	// ends once it has been silent twice as long (ICE failed).
	DefaultDisconnectedTimeout = rtcpeer.DefaultDisconnectedTimeout
	// DefaultIdleTimeout ends a page that sends no audio: a browser keeps
	// sending G.711 frames even when muted, so a gap this long means the
	// microphone is gone.
	DefaultIdleTimeout = 10 * time.Second
	// DefaultMaxDuration ends a page left open: no announcement takes
	// half an hour, and a forgotten browser tab must not hold the
	// village's loudspeakers.
	DefaultMaxDuration = 30 * time.Minute
)

// Config says how the Server treats pagers.
type Config struct {
	// ICE lists the STUN and TURN servers the box gathers candidates
	// with; none means host candidates only.
	ICE []protocol.ICEServer
	// MaxSessions bounds pages at once, DefaultMaxSessions if 0.
	MaxSessions int
	// SessionTimeout is how long a pager has to connect after its
	// answer, DefaultSessionTimeout if 0.
	SessionTimeout time.Duration
	// DisconnectedTimeout is how long a pager may be silent before ICE
	// calls it disconnected, DefaultDisconnectedTimeout if 0; after twice
	// that the page ends.
	DisconnectedTimeout time.Duration
	// IdleTimeout ends a connected page that sends no audio for this
	// long, DefaultIdleTimeout if 0.
	IdleTimeout time.Duration
	// MaxDuration is the longest a page lasts from its connection,
	// DefaultMaxDuration if 0.
	MaxDuration time.Duration
	// UDPPortMin and UDPPortMax, when both set, bound the UDP ports ICE
	// binds (for a firewall rule); any ephemeral port otherwise.
	UDPPortMin, UDPPortMax uint16
	// Loopback offers candidates on loopback interfaces too: for tests
	// and for a pager on the box itself.
	Loopback bool
}

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
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxDuration == 0 {
		c.MaxDuration = DefaultMaxDuration
	}
	return c
}

// Validate reports every problem of a Config with its defaults filled.
func (c Config) Validate() error {
	c = c.withDefaults()
	errs := c.peer().Problems()
	// Frames come every 20 ms; a hiccup of a few must not end a page.
	if c.IdleTimeout < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("idle timeout: %v is below 100ms", c.IdleTimeout))
	}
	if c.MaxDuration < 0 {
		errs = append(errs, fmt.Errorf("max duration: %v is negative", c.MaxDuration))
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

// Page is a connected pager's audio, for the Air.
type Page struct {
	Session   string
	Zones     []string // as offered; none means every zone
	Pager     string   // who speaks
	CommandID string   // the command that carried the offer
	Law       speaker.Law
	// Frames are the pager's G.711 frames as they arrive; it closes when
	// the page ends. The session never blocks on it: a frame the Air is
	// not ready for is dropped.
	Frames <-chan speaker.Frame
	// Ended is for the Air to call, once, when it has taken the page off
	// the air (with the result of its playback), for whatever reason;
	// the session then ends if it has not already. It does not block.
	Ended func(result string)
}

// Air is where pages go on the air: the box's playout.
type Air interface {
	// Check reports whether zones (none: every zone) may be paged; an
	// unknown zone is an error. It is asked before anything is
	// negotiated.
	Check(zones []string) error
	// Start puts a connected page on the air and returns once it is
	// queued to play.
	Start(ctx context.Context, p Page) error
}

// Deps are what the Server is given.
type Deps struct {
	// Logger gets the log, nil discards it.
	Logger *slog.Logger
	// Air takes the pages; required.
	Air Air
}
