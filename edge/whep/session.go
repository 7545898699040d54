package whep

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/dalaba/dalaba/protocol"
)

// session is one viewer: a PeerConnection fed from a subscription.
type session struct {
	srv     *Server
	id      string
	camera  string
	viewer  string
	ctx     context.Context
	cancel  context.CancelFunc
	pc      *webrtc.PeerConnection
	track   *webrtc.TrackLocalStaticRTP
	sender  *webrtc.RTPSender
	pkts    <-chan *rtp.Packet
	release func()
	feed    *feed
	log     *slog.Logger
	from    time.Time

	connected chan struct{} // closed when the peer connects
	failed    chan struct{} // closed when the peer fails or closes
	connOnce  sync.Once
	failOnce  sync.Once

	reasonMu sync.Mutex
	reason   string // why it ended, the first one given

	done      chan struct{} // closed when run has cleaned up
	bytes     uint64        // sent, RTP headers included; run's own
	writeErrs int           // packets pion refused; run's own
}

func newSession(ctx context.Context, cancel context.CancelFunc, srv *Server, id, camera, viewer string,
	pc *webrtc.PeerConnection, pkts <-chan *rtp.Packet, release func(), f *feed, log *slog.Logger,
) *session {
	return &session{
		srv: srv, id: id, camera: camera, viewer: viewer, ctx: ctx, cancel: cancel,
		pc: pc, pkts: pkts, release: release, feed: f, log: log, from: time.Now(),
		connected: make(chan struct{}), failed: make(chan struct{}), done: make(chan struct{}),
	}
}

// onState is pion's callback: it only signals, run acts.
func (ss *session) onState(st webrtc.PeerConnectionState) {
	ss.log.Debug("peer state", "state", st.String())
	switch st {
	case webrtc.PeerConnectionStateConnected:
		ss.connOnce.Do(func() { close(ss.connected) })
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		ss.failOnce.Do(func() { close(ss.failed) })
	}
}

// stop ends the session for reason; the first reason given is kept.
func (ss *session) stop(reason string) {
	ss.reasonMu.Lock()
	if ss.reason == "" {
		ss.reason = reason
	}
	ss.reasonMu.Unlock()
	ss.cancel()
}

// run feeds the viewer until the session ends, then cleans up. The
// server's WaitGroup counts it.
func (ss *session) run() {
	defer ss.srv.wg.Done()
	defer close(ss.done)

	// RTCP must be read for the NACK and report interceptors to see it;
	// the read fails once the PeerConnection is closed.
	rtcpDone := make(chan struct{})
	go func() {
		defer close(rtcpDone)
		buf := make([]byte, 1500)
		for {
			if _, _, err := ss.sender.Read(buf); err != nil {
				return
			}
		}
	}()

	ss.stop(ss.loop())

	ss.release()
	if err := ss.pc.GracefulClose(); err != nil {
		ss.log.Warn("closing peer connection", "error", err)
	}
	<-rtcpDone
	ss.srv.mu.Lock()
	delete(ss.srv.sessions, ss.id)
	ss.srv.mu.Unlock()

	to := time.Now()
	ss.reasonMu.Lock()
	reason := ss.reason
	ss.reasonMu.Unlock()
	ss.log.Info("viewer left", "reason", reason, "watched", to.Sub(ss.from).Round(time.Millisecond), "bytes", ss.bytes, "write_errors", ss.writeErrs)
	if ss.srv.events != nil {
		ss.srv.events(protocol.Viewing{Camera: ss.camera, Viewer: ss.viewer, Via: "webrtc", From: ss.from, To: to, Bytes: ss.bytes})
	}
}

// loop waits for the peer, then forwards packets; it returns why it ended.
func (ss *session) loop() string {
	timer := time.NewTimer(ss.srv.cfg.SessionTimeout)
	defer timer.Stop()
	for waiting := true; waiting; {
		select {
		case <-ss.ctx.Done():
			return "ended"
		case <-ss.failed:
			return "peer failed before connecting"
		case <-timer.C:
			return "peer did not connect in time"
		case <-ss.connected:
			waiting = false
		case _, ok := <-ss.pkts:
			// Nobody to send to yet; what matters is the next keyframe.
			if !ok {
				return "camera lost"
			}
		}
	}
	ss.log.Info("viewer connected")
	for {
		select {
		case <-ss.ctx.Done():
			return "ended"
		case <-ss.failed:
			return "peer gone"
		case p, ok := <-ss.pkts:
			if !ok {
				return "camera lost"
			}
			for _, q := range ss.feed.push(p) {
				if err := ss.track.WriteRTP(q); err != nil {
					if errors.Is(err, io.ErrClosedPipe) {
						return "peer closed"
					}
					if ss.writeErrs == 0 {
						ss.log.Debug("write", "error", err) // the rest are counted
					}
					ss.writeErrs++
					continue
				}
				ss.bytes += uint64(q.MarshalSize())
			}
		}
	}
}
