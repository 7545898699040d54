package whep

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/dalaba/dalaba/edge/rtcpeer"
	"github.com/dalaba/dalaba/protocol"
)

// session is one viewer: a PeerConnection fed from a subscription.
type session struct {
	*rtcpeer.Session
	srv    *Server
	camera string
	viewer string
	log    *slog.Logger

	// Set by open.
	pc      *webrtc.PeerConnection
	track   *webrtc.TrackLocalStaticRTP
	sender  *webrtc.RTPSender
	pkts    <-chan *rtp.Packet
	release func()
	feed    *feed
	from    time.Time

	bytes     uint64 // sent, RTP headers included; run's own
	writeErrs int    // packets pion refused; run's own
}

func newSession(ctx context.Context, srv *Server, id, camera, viewer string) *session {
	log := srv.log.With("camera_id", camera, "viewer", viewer, "session", id)
	return &session{Session: rtcpeer.NewSession(ctx, id, log), srv: srv, camera: camera, viewer: viewer, log: log}
}

// run feeds the viewer until the session ends, then cleans up; the
// registry's Go runs it.
func (ss *session) run() {
	rtcpDone := make(chan struct{})
	go func() {
		defer close(rtcpDone)
		rtcpeer.DrainRTCP(ss.sender)
	}()

	ss.Stop(ss.loop())

	ss.release()
	if err := ss.pc.GracefulClose(); err != nil {
		ss.log.Warn("closing peer connection", "err", err)
	}
	<-rtcpDone
	ss.srv.reg.Remove(ss)

	to := time.Now()
	ss.log.Info("viewer left", "reason", ss.Reason(), "watched", to.Sub(ss.from).Round(time.Millisecond), "bytes", ss.bytes, "write_errors", ss.writeErrs)
	if ss.srv.events != nil {
		ss.srv.events(protocol.Viewing{Camera: ss.camera, Viewer: ss.viewer, Via: "webrtc", From: ss.from, To: to, Bytes: ss.bytes})
	}
}

// loop waits for the peer, then forwards packets; it returns why it ended.
func (ss *session) loop() string {
	ctx := ss.Context()
	timer := time.NewTimer(ss.srv.cfg.SessionTimeout)
	defer timer.Stop()
	for waiting := true; waiting; {
		select {
		case <-ctx.Done():
			return "ended"
		case <-ss.Failed():
			return "peer failed before connecting"
		case <-timer.C:
			return "peer did not connect in time"
		case <-ss.Connected():
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
		case <-ctx.Done():
			return "ended"
		case <-ss.Failed():
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
						ss.log.Debug("write", "err", err) // the rest are counted
					}
					ss.writeErrs++
					continue
				}
				ss.bytes += uint64(q.MarshalSize())
			}
		}
	}
}
