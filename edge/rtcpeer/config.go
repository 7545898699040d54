package rtcpeer

import (
	"fmt"
	"time"

	"github.com/dalaba/dalaba/protocol"
)

// Defaults the servers share.
const (
	// DefaultSessionTimeout is how long a browser has, after the answer,
	// to connect (ICE and DTLS): one on the township LAN needs well under
	// a second, one behind TURN a few.
	DefaultSessionTimeout = 15 * time.Second
	// DefaultDisconnectedTimeout is how long a connected browser may be
	// silent on the network before ICE calls it disconnected; its session
	// ends once it has been silent twice as long (ICE failed).
	DefaultDisconnectedTimeout = 5 * time.Second
)

// Config is what every answering server of the box is configured with.
// The servers keep these fields in their own Config, so that callers'
// literals stay flat, and hand them over with their defaults filled.
type Config struct {
	// ICE lists the STUN and TURN servers the box gathers candidates
	// with; none means host candidates only.
	ICE []protocol.ICEServer
	// MaxSessions bounds sessions at once.
	MaxSessions int
	// SessionTimeout is how long a browser has to connect after its
	// answer.
	SessionTimeout time.Duration
	// DisconnectedTimeout is how long a browser may be silent before ICE
	// calls it disconnected; after twice that the session ends.
	DisconnectedTimeout time.Duration
	// UDPPortMin and UDPPortMax, when both set, bound the UDP ports ICE
	// binds (for a firewall rule); any ephemeral port otherwise.
	UDPPortMin, UDPPortMax uint16
	// Loopback offers candidates on loopback interfaces too: for tests
	// and for a browser on the box itself.
	Loopback bool
}

// Problems lists every problem of c, whose defaults the server has
// filled; the server adds those of its own fields and joins them.
func (c Config) Problems() []error {
	var errs []error
	if c.MaxSessions < 0 {
		errs = append(errs, fmt.Errorf("max sessions: %d is negative", c.MaxSessions))
	}
	if c.SessionTimeout < 0 {
		errs = append(errs, fmt.Errorf("session timeout: %v is negative", c.SessionTimeout))
	}
	// Keepalives go at half of it: shorter would flood the browser.
	if c.DisconnectedTimeout < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("disconnected timeout: %v is below 100ms", c.DisconnectedTimeout))
	}
	if (c.UDPPortMin == 0) != (c.UDPPortMax == 0) || c.UDPPortMin > c.UDPPortMax {
		errs = append(errs, fmt.Errorf("udp ports: want both of min and max, min <= max; got %d-%d", c.UDPPortMin, c.UDPPortMax))
	}
	for i, s := range c.ICE {
		if len(s.URLs) == 0 {
			errs = append(errs, fmt.Errorf("ice[%d]: no urls", i))
		}
	}
	return errs
}
