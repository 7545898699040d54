package relay

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults for Config.
const (
	DefaultListen              = "127.0.0.1:8554"
	DefaultLinger              = 30 * time.Second
	DefaultBackoffMin          = time.Second
	DefaultBackoffMax          = 30 * time.Second
	DefaultMaxReadersPerCamera = 8
	DefaultMaxReaders          = 32
	// DefaultDescribeWait is how long a reader waits for a camera that is
	// not connected yet: long enough for a camera on the LAN to answer,
	// short enough that a player does not time out (10 s is common).
	DefaultDescribeWait = 5 * time.Second
)

// Config says where the relay listens and how it treats readers.
type Config struct {
	// Listen is the RTSP (TCP) address, DefaultListen if empty; ":0"
	// picks a port (see Addr).
	Listen string
	// RTPPort is the even UDP port for RTP to readers that ask for UDP,
	// RTCP on the next one; 0 picks a free pair on the Listen host.
	RTPPort int
	// TCPOnly serves readers over their RTSP connection alone: no UDP
	// port is bound and a reader asking for UDP is refused (461), so it
	// falls back to TCP. For a network that lets no UDP through.
	TCPOnly bool
	// Username and Password, when Username is set, are the credentials
	// the box's RTSP readers must give (basic or digest); others get 401.
	Username, Password string
	// Linger is how long a camera is still pulled after its last reader
	// left, DefaultLinger if 0: a player that reconnects, or the next
	// viewer, finds it running.
	Linger time.Duration
	// BackoffMin and BackoffMax bound the wait between pulls of a camera
	// that failed: it doubles from min to max, and a reconnect after a
	// loss waits at least min.
	BackoffMin, BackoffMax time.Duration
	// DescribeWait is how long a reader waits for a camera not yet
	// connected before it gets 503, DefaultDescribeWait if 0.
	DescribeWait time.Duration
	// MaxReadersPerCamera and MaxReaders bound readers (RTSP sessions
	// and Subscribe callers) per camera and per box; one more gets 503.
	MaxReadersPerCamera, MaxReaders int
}

// Deps are what the relay is given.
type Deps struct {
	// Logger gets the log, nil discards it.
	Logger *slog.Logger
	// Events gets camera.online, camera.offline and camera.viewer events.
	// It is called from the relay's goroutines, possibly concurrently,
	// and must not block (append to the outbox and return).
	Events func(ev Event)
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.DescribeWait == 0 {
		c.DescribeWait = DefaultDescribeWait
	}
	if c.MaxReadersPerCamera == 0 {
		c.MaxReadersPerCamera = DefaultMaxReadersPerCamera
	}
	if c.MaxReaders == 0 {
		c.MaxReaders = DefaultMaxReaders
	}
	return c
}

// Validate reports every problem of a Config with its defaults filled.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.RTPPort < 0 || c.RTPPort > 65534 || c.RTPPort%2 != 0 {
		errs = append(errs, fmt.Errorf("rtp port %d is not an even port below 65535", c.RTPPort))
	}
	if c.TCPOnly && c.RTPPort != 0 {
		errs = append(errs, fmt.Errorf("rtp port %d is set but the relay is TCP only", c.RTPPort))
	}
	if c.Username == "" && c.Password != "" {
		errs = append(errs, errors.New("a password without a username"))
	}
	if c.Linger < 0 {
		errs = append(errs, fmt.Errorf("linger %v is negative", c.Linger))
	}
	if c.BackoffMin < 0 || c.BackoffMax < c.BackoffMin {
		errs = append(errs, fmt.Errorf("backoff %v..%v is not a range of positive durations", c.BackoffMin, c.BackoffMax))
	}
	if c.DescribeWait < 0 {
		errs = append(errs, fmt.Errorf("describe wait %v is negative", c.DescribeWait))
	}
	if c.MaxReadersPerCamera < 0 || c.MaxReaders < 0 {
		errs = append(errs, fmt.Errorf("reader limits %d per camera, %d per box: negative", c.MaxReadersPerCamera, c.MaxReaders))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("relay config: %w", err)
	}
	return nil
}
