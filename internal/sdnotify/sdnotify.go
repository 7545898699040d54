package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// States a daemon sends.
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
	Watchdog = "WATCHDOG=1"
)

// Notifier writes to the service manager's socket. A nil *Notifier, what
// New returns when no manager listens, does nothing, so callers need not
// ask.
type Notifier struct {
	addr *net.UnixAddr
	// Interval is how often the manager wants WATCHDOG=1 (half of
	// WATCHDOG_USEC, as systemd advises); 0 when it keeps no watchdog.
	Interval time.Duration
}

// New reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID through getenv
// (os.Getenv in a daemon). It returns nil when NOTIFY_SOCKET is unset.
// A watchdog meant for another process (WATCHDOG_PID not pid) is ignored.
func New(getenv func(string) string, pid int) (*Notifier, error) {
	sock := getenv("NOTIFY_SOCKET")
	if sock == "" {
		return nil, nil
	}
	if sock[0] != '/' && sock[0] != '@' {
		return nil, fmt.Errorf("sdnotify: NOTIFY_SOCKET %q: want an absolute path or an abstract name (@…)", sock)
	}
	n := &Notifier{addr: &net.UnixAddr{Name: sock, Net: "unixgram"}}
	if sock[0] == '@' {
		n.addr.Name = "\x00" + sock[1:] // Linux's abstract namespace
	}
	if us := getenv("WATCHDOG_USEC"); us != "" {
		v, err := strconv.ParseUint(us, 10, 63)
		if err != nil || v == 0 {
			return nil, fmt.Errorf("sdnotify: WATCHDOG_USEC %q: want a positive number of microseconds", us)
		}
		if p := getenv("WATCHDOG_PID"); p == "" || p == strconv.Itoa(pid) {
			n.Interval = time.Duration(v) * time.Microsecond / 2
		}
	}
	return n, nil
}

// FromEnv is New for the running process.
func FromEnv() (*Notifier, error) { return New(os.Getenv, os.Getpid()) }

// Notify sends one datagram of states, each "KEY=value".
func (n *Notifier) Notify(states ...string) error {
	if n == nil {
		return nil
	}
	msg := ""
	for i, s := range states {
		if i > 0 {
			msg += "\n"
		}
		msg += s
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sdnotify: dial %s: %w", n.addr.Name, err)
	}
	defer c.Close()
	if err := c.SetWriteDeadline(time.Now().Add(time.Second)); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		return fmt.Errorf("sdnotify: send %q: %w", msg, err)
	}
	return nil
}

// Status is the STATUS= assignment systemctl status shows.
func Status(s string) string { return "STATUS=" + s }

// ErrNotAlive is what Watch returns when alive failed: the daemon stops
// pinging, and the manager restarts it when the watchdog runs out.
var ErrNotAlive = errors.New("sdnotify: the main loop did not answer")

// Watch pings the watchdog every Interval for as long as alive answers
// within that interval, and returns when ctx ends (nil) or alive fails
// (ErrNotAlive wrapping its error). With no watchdog it waits for ctx.
// alive must answer only once the daemon's main loop has run a turn, so
// that a hung loop stops the pings.
func (n *Notifier) Watch(ctx context.Context, alive func(context.Context) error) error {
	if n == nil || n.Interval <= 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(n.Interval)
	defer t.Stop()
	for {
		actx, cancel := context.WithTimeout(ctx, n.Interval)
		err := alive(actx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNotAlive, err)
		}
		if err := n.Notify(Watchdog); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
