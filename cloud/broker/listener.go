package broker

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// listener is the broker's mochi listener. Unlike mochi's own it bounds the
// time to CONNECT, tracks every connection so Close ends them all at once,
// and lets Run wait until its goroutines have returned.
type listener struct {
	raw    net.Listener
	tls    *tls.Config // nil: plain TCP
	log    *slog.Logger
	served chan struct{} // closed when Serve returns

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup // one per connection being served
}

func newListener(raw net.Listener, tlsCfg *tls.Config, log *slog.Logger) *listener {
	return &listener{raw: raw, tls: tlsCfg, log: log, served: make(chan struct{}), conns: map[net.Conn]struct{}{}}
}

func (l *listener) ID() string              { return "dalaba" }
func (l *listener) Address() string         { return l.raw.Addr().String() }
func (l *listener) Init(*slog.Logger) error { return nil } // Run bound it already
func (l *listener) Protocol() string {
	if l.tls != nil {
		return "tls"
	}
	return "tcp"
}

// Serve accepts until the listener is closed. Each connection gets
// ConnectTimeout to send CONNECT; mochi then sets the keepalive deadline.
func (l *listener) Serve(establish listeners.EstablishFn) {
	defer close(l.served)
	for {
		raw, err := l.raw.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: say so, and do not
			// spin while it lasts.
			l.log.Warn("accept failed", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			_ = raw.Close() // accepted while closing
			return
		}
		l.conns[raw] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()

		_ = raw.SetDeadline(time.Now().Add(ConnectTimeout)) // cannot fail on a fresh TCP conn
		conn := raw
		if l.tls != nil {
			conn = tls.Server(raw, l.tls)
		}
		go func() {
			defer l.wg.Done()
			if err := establish(l.ID(), conn); err != nil {
				l.log.Debug("connection ended", "remote", raw.RemoteAddr().String(), "err", err)
			}
			_ = raw.Close() // mochi closed it already, except on early errors
			l.mu.Lock()
			delete(l.conns, raw)
			l.mu.Unlock()
		}()
	}
}

// Close is called by mochi's Server.Close. It stops accepting, closes every
// connection and waits for their goroutines, each of which returns once
// mochi has let its client go; only then does it let mochi disconnect its
// clients, of which none is left. The other order deadlocks: mochi's
// disconnecting read-locks its client list twice over, and a connection
// ending meanwhile write-locks it between the two to delete its client.
// The boxes speak MQTT 3.1.1, in which the server sends no DISCONNECT, so
// closing their connections first tells them nothing less.
func (l *listener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	l.closed = true
	_ = l.raw.Close() // ends Accept; an error means it was closed already
	for c := range l.conns {
		_ = c.Close() // ends the connection's read; errors mean it was closed
	}
	l.mu.Unlock()
	l.wg.Wait()
	closeClients(l.ID())
}

// wait returns once Serve and every connection goroutine have returned.
func (l *listener) wait() {
	<-l.served
	l.wg.Wait()
}
