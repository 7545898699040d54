package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/pion/rtp"
)

// Errors readers get; Subscribe returns them wrapped.
var (
	ErrUnknownCamera  = errors.New("no such camera")
	ErrTooManyReaders = errors.New("too many readers")
	ErrUnavailable    = errors.New("camera unavailable")
)

// Camera health as the events tell it; a pull released for want of
// readers changes nothing.
const (
	stateUnknown = iota
	stateOnline
	stateOffline
)

// source is one camera: who wants it (readers, waiters, linger) and,
// while pulled, its upstream and the ServerStream its readers share.
// Its run goroutine alone opens and closes the upstream.
type source struct {
	cam  Camera
	r    *Relay
	log  *slog.Logger
	kick chan struct{} // capacity 1: demand changed, look again

	packets, bytes, dropped atomic.Uint64

	// set by the Relay under its mutex
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	readers   int       // RTSP sessions and subscriptions admitted
	waiters   int       // readers waiting for the upstream
	lingerEnd time.Time // wanted until then, readers or not
	stream    *gortsplib.ServerStream
	desc      *description.Session
	media     *description.Media
	subs      map[*subscription]struct{}
	changed   chan struct{} // closed and replaced when stream, lastErr or ended change
	attempts  int           // pulls tried, to tell waiters of a fresh failure
	lastErr   error
	state     int
	ended     bool // the camera was removed or the relay stopped
}

func newSource(r *Relay, cam Camera) *source {
	return &source{
		cam:     cam,
		r:       r,
		log:     r.log.With("camera_id", cam.ID),
		kick:    make(chan struct{}, 1),
		subs:    make(map[*subscription]struct{}),
		changed: make(chan struct{}),
	}
}

func (s *source) poke() {
	select {
	case s.kick <- struct{}{}:
	default: // a poke is pending: run looks at everything anyway
	}
}

// broadcastLocked wakes the waiters; s.mu is held.
func (s *source) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// wantedLocked reports whether the camera should be pulled at now, and
// until when the linger keeps it; s.mu is held.
func (s *source) wantedLocked(now time.Time) (bool, time.Time) {
	want := s.cam.AlwaysOn || s.readers > 0 || s.waiters > 0 || now.Before(s.lingerEnd)
	return want, s.lingerEnd
}

// admit counts a reader in, or says why not.
func (s *source) admit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return fmt.Errorf("%w: camera %q was removed", ErrUnknownCamera, s.cam.ID)
	}
	if s.readers >= int(s.r.perCamera.Load()) {
		return fmt.Errorf("%w: camera %q has its %d readers already", ErrTooManyReaders, s.cam.ID, int(s.r.perCamera.Load()))
	}
	if !s.r.takeSlot() {
		return fmt.Errorf("%w: the box has its %d readers already", ErrTooManyReaders, int(s.r.perBox.Load()))
	}
	s.readers++
	return nil
}

// release counts a reader out; the last one starts the linger.
func (s *source) release() {
	s.mu.Lock()
	s.readers--
	if s.readers == 0 {
		s.lingerEnd = time.Now().Add(s.r.cfg.Linger)
	}
	s.mu.Unlock()
	s.r.freeSlot()
	s.poke()
}

// await returns the camera's stream, waiting up to wait for the upstream
// if it is not connected, or the reason it is unavailable.
func (s *source) await(ctx context.Context, wait time.Duration) (*gortsplib.ServerStream, *description.Session, error) {
	s.mu.Lock()
	if s.stream != nil {
		st, desc := s.stream, s.desc
		s.mu.Unlock()
		return st, desc, nil
	}
	s.waiters++
	tried, ch := s.attempts, s.changed
	s.mu.Unlock()
	s.poke()
	defer func() {
		s.mu.Lock()
		s.waiters--
		// A reader that DESCRIBEd comes back to SETUP: keep the pull.
		if end := time.Now().Add(s.r.cfg.Linger); end.After(s.lingerEnd) {
			s.lingerEnd = end
		}
		s.mu.Unlock()
		s.poke()
	}()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ch:
		case <-timer.C:
			return nil, nil, fmt.Errorf("%w: camera %q not connected within %v", ErrUnavailable, s.cam.ID, wait)
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("camera %q: %w", s.cam.ID, ctx.Err())
		}
		s.mu.Lock()
		st, desc, ended, attempts, lastErr := s.stream, s.desc, s.ended, s.attempts, s.lastErr
		ch = s.changed
		s.mu.Unlock()
		switch {
		case st != nil:
			return st, desc, nil
		case ended:
			return nil, nil, fmt.Errorf("%w: camera %q was removed", ErrUnavailable, s.cam.ID)
		case attempts > tried && lastErr != nil:
			return nil, nil, fmt.Errorf("%w: camera %q unreachable: %w", ErrUnavailable, s.cam.ID, lastErr)
		}
	}
}

// run pulls the camera while it is wanted, until ctx ends.
func (s *source) run(ctx context.Context) {
	defer s.end()
	b := backoff{min: s.r.cfg.BackoffMin, max: s.r.cfg.BackoffMax}
	var last, notBefore time.Time
	for {
		if !s.idle(ctx, &notBefore, last) {
			return
		}
		last = time.Now()
		up, err := s.connect(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.failed(err)
			notBefore = last.Add(b.next())
			continue
		}
		b.reset()
		err = s.serve(ctx, up)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.failed(err)
		}
		// A flapping camera is not pulled more often than BackoffMin.
		notBefore = last.Add(b.min)
	}
}

// idle waits until the camera is wanted and the backoff allows a pull;
// false when ctx ended. A waiting reader cuts the backoff to its minimum.
func (s *source) idle(ctx context.Context, notBefore *time.Time, last time.Time) bool {
	for {
		now := time.Now()
		s.mu.Lock()
		want, lingerEnd := s.wantedLocked(now)
		waiting := s.waiters > 0
		s.mu.Unlock()
		if waiting {
			if floor := last.Add(s.r.cfg.BackoffMin); floor.Before(*notBefore) {
				*notBefore = floor
			}
		}
		if want && !now.Before(*notBefore) {
			return true
		}
		var t *time.Timer
		var wake <-chan time.Time
		if want {
			next := *notBefore
			if lingerEnd.After(now) && lingerEnd.Before(next) {
				next = lingerEnd
			}
			t = time.NewTimer(next.Sub(now))
			wake = t.C
		}
		select {
		case <-ctx.Done():
		case <-s.kick:
		case <-wake:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return false
		}
	}
}

// connect opens the upstream and the stream readers share, and plays.
func (s *source) connect(ctx context.Context) (*upstream, error) {
	up, err := openUpstream(ctx, s.cam)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", redact(s.cam.URL), err)
	}
	st := &gortsplib.ServerStream{Server: s.r.srv, Desc: up.desc}
	if err := st.Initialize(); err != nil {
		up.close()
		return nil, fmt.Errorf("re-serve %s: %w", redact(s.cam.URL), err)
	}
	warned := false
	err = up.play(func(pkt *rtp.Packet, ntp time.Time) {
		if err := s.forward(st, up.out, pkt, ntp); err != nil && !warned {
			warned = true // the packet callback runs on one goroutine
			s.log.Warn("camera packet not relayed; later ones are only counted", "err", err)
		}
	})
	if err != nil {
		up.close()
		st.Close()
		return nil, fmt.Errorf("pull %s: %w", redact(s.cam.URL), err)
	}
	s.mu.Lock()
	s.stream, s.desc, s.media = st, up.desc, up.out
	s.lastErr = nil
	wasOnline := s.state == stateOnline
	s.state = stateOnline
	s.broadcastLocked()
	s.mu.Unlock()
	s.log.Info("camera connected", "url", redact(s.cam.URL), "codec", CodecName(up.forma),
		"transport", transportName(up.c))
	if !wasOnline {
		s.r.emit(Event{Type: EventOnline, Camera: s.cam.ID})
	}
	return up, nil
}

func transportName(c *gortsplib.Client) string {
	if t := c.Transport(); t != nil && t.Session != nil {
		return t.Session.Protocol.String()
	}
	return ""
}

// forward passes one packet on, untouched: to each subscription (a copy,
// since the stream rewrites the SSRC) and to the RTSP readers.
func (s *source) forward(st *gortsplib.ServerStream, medi *description.Media, pkt *rtp.Packet, ntp time.Time) error {
	s.packets.Add(1)
	s.bytes.Add(uint64(pkt.MarshalSize()))
	s.mu.Lock()
	for sub := range s.subs {
		sub.offer(pkt.Clone())
	}
	s.mu.Unlock()
	// Fails for a packet above the server's 1472-byte limit (a camera
	// over TCP may send bigger ones): passing through means dropping it.
	if err := st.WritePacketRTPWithNTP(medi, pkt, ntp); err != nil {
		s.dropped.Add(1)
		return fmt.Errorf("relay packet %d: %w", pkt.SequenceNumber, err)
	}
	return nil
}

// serve keeps the upstream while it is wanted; it returns nil when it is
// no longer wanted or ctx ended, the loss otherwise. The upstream is
// closed and the readers dropped when it returns.
func (s *source) serve(ctx context.Context, up *upstream) error {
	var lost error
	defer func() { s.teardown(up, lost) }()
	for {
		now := time.Now()
		s.mu.Lock()
		want, lingerEnd := s.wantedLocked(now)
		s.mu.Unlock()
		if !want {
			s.log.Info("camera released: no reader", "linger", s.r.cfg.Linger)
			return nil
		}
		var t *time.Timer
		var wake <-chan time.Time
		if lingerEnd.After(now) {
			t = time.NewTimer(lingerEnd.Sub(now))
			wake = t.C
		}
		select {
		case <-ctx.Done():
		case err := <-up.done:
			if err == nil {
				err = errors.New("connection closed")
			}
			lost = fmt.Errorf("camera lost: %w", err)
		case <-s.kick:
		case <-wake:
		}
		if t != nil {
			t.Stop()
		}
		if lost != nil || ctx.Err() != nil {
			return lost
		}
	}
}

// teardown closes the upstream, then the stream, which ends its readers'
// sessions, and the subscriptions: readers learn the camera is gone.
func (s *source) teardown(up *upstream, why error) {
	up.close()
	s.mu.Lock()
	st, subs := s.stream, s.subs
	s.stream, s.desc, s.media = nil, nil, nil
	s.subs = make(map[*subscription]struct{})
	s.broadcastLocked()
	s.mu.Unlock()
	for sub := range subs {
		sub.end()
	}
	if st != nil {
		st.Close()
	}
	if why != nil {
		s.log.Debug("camera readers dropped", "err", why)
	}
}

// failed records a failed or lost pull; the first one after the camera
// was online (or at start) is an event.
func (s *source) failed(err error) {
	s.mu.Lock()
	s.lastErr = err
	s.attempts++
	report := s.state != stateOffline
	s.state = stateOffline
	s.broadcastLocked()
	s.mu.Unlock()
	if report {
		s.log.Warn("camera offline", "err", err)
		s.r.emit(Event{Type: EventOffline, Camera: s.cam.ID, Error: err.Error()})
	} else {
		s.log.Debug("camera still offline", "err", err)
	}
}

// end marks the source stopped: waiters give up, no reader is admitted.
func (s *source) end() {
	s.mu.Lock()
	s.ended = true
	s.broadcastLocked()
	s.mu.Unlock()
}

// backoff doubles from min to max.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	switch {
	case b.cur == 0:
		b.cur = b.min
	case b.cur < b.max:
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }
