package rtcpeer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"

	"github.com/pion/webrtc/v4"
)

// Session is what every answered browser's session has, whatever it
// carries: an id, a context that ends it, its peer's state as channels,
// why it ended and when it is done. A server's own session type embeds
// *Session, which makes it a Member of a Registry.
type Session struct {
	id     string
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger

	connected chan struct{} // closed when the peer connects
	failed    chan struct{} // closed when the peer fails or closes
	done      chan struct{} // closed once the session is cleaned up
	connOnce  sync.Once
	failOnce  sync.Once
	doneOnce  sync.Once

	mu     sync.Mutex
	reason string // why it ended, the first one given
}

// NewSession makes a session whose context ends with parent or on Stop;
// log gets its peer's state changes at debug level.
func NewSession(parent context.Context, id string, log *slog.Logger) *Session {
	ctx, cancel := context.WithCancel(parent)
	return &Session{
		id: id, ctx: ctx, cancel: cancel, log: log,
		connected: make(chan struct{}), failed: make(chan struct{}), done: make(chan struct{}),
	}
}

// NewID is a session id no browser can guess: 32 hex digits.
func NewID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("session id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func (s *Session) core() *Session { return s }

// ID is the session's id.
func (s *Session) ID() string { return s.id }

// Context ends when the session is stopped or its parent ends.
func (s *Session) Context() context.Context { return s.ctx }

// OnState is the PeerConnection's state callback: it only signals
// (Connected, Failed); the session's own goroutine acts.
func (s *Session) OnState(st webrtc.PeerConnectionState) {
	s.log.Debug("peer state", "state", st.String())
	switch st {
	case webrtc.PeerConnectionStateConnected:
		s.connOnce.Do(func() { close(s.connected) })
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		s.failOnce.Do(func() { close(s.failed) })
	}
}

// Connected is closed when the peer has connected.
func (s *Session) Connected() <-chan struct{} { return s.connected }

// Failed is closed when the peer connection has failed or closed.
func (s *Session) Failed() <-chan struct{} { return s.failed }

// Stop ends the session's context for reason; the first reason given is
// the one kept. It does not wait: Done does.
func (s *Session) Stop(reason string) {
	s.mu.Lock()
	if s.reason == "" {
		s.reason = reason
	}
	s.mu.Unlock()
	s.cancel()
}

// Reason is why the session ended, the first reason given to Stop.
func (s *Session) Reason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// Done is closed once the session is cleaned up: its goroutine returned
// (Registry.Go), or it was dropped before it ran (Registry.Drop).
func (s *Session) Done() <-chan struct{} { return s.done }

func (s *Session) finish() { s.doneOnce.Do(func() { close(s.done) }) }
