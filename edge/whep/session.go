package whep

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/dalaba/dalaba/edge/relay"
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
	pc          *webrtc.PeerConnection
	track       *webrtc.TrackLocalStaticRTP
	sender      *webrtc.RTPSender
	audio       *webrtc.TrackLocalStaticRTP // nil: no audio
	audioSender *webrtc.RTPSender
	sub         *relay.Subscription
	stream      string
	feed        *feed
	from        time.Time

	// What the session costs the budget, kbit/s: what was reserved for
	// it until it has sent for a rate window, then what it sends.
	reserve, sending atomic.Int64

	bytes     uint64 // sent, RTP headers included; run's own
	writeErrs int    // packets pion refused; run's own
}

// rateWindow is how long a session sends before its own rate is what it
// costs the budget.
const rateWindow = 2 * time.Second

// cost is what the session counts for in the budget, kbit/s.
func (ss *session) cost() int {
	if n := ss.sending.Load(); n > 0 {
		return int(n)
	}
	return int(ss.reserve.Load())
}

func newSession(ctx context.Context, srv *Server, id, camera, viewer string) *session {
	log := srv.log.With("camera_id", camera, "viewer", viewer, "session", id)
	return &session{Session: rtcpeer.NewSession(ctx, id, log), srv: srv, camera: camera, viewer: viewer, log: log}
}

// run feeds the viewer until the session ends, then cleans up; the
// registry's Go runs it.
func (ss *session) run() {
	rtcpDone := make(chan struct{}, 2)
	go func() {
		defer func() { rtcpDone <- struct{}{} }()
		rtcpeer.DrainRTCP(ss.sender)
	}()
	if ss.audioSender != nil {
		go func() {
			defer func() { rtcpDone <- struct{}{} }()
			rtcpeer.DrainRTCP(ss.audioSender)
		}()
	}

	ss.Stop(ss.loop())

	ss.sub.Release()
	if err := ss.pc.GracefulClose(); err != nil {
		ss.log.Warn("closing peer connection", "err", err)
	}
	<-rtcpDone
	if ss.audioSender != nil {
		<-rtcpDone
	}
	ss.srv.reg.Remove(ss)

	to := time.Now()
	ss.log.Info("viewer left", "reason", ss.Reason(), "watched", to.Sub(ss.from).Round(time.Millisecond), "bytes", ss.bytes,
		"write_errors", ss.writeErrs, "bframes_left_out", ss.feed.dropped)
	if ss.srv.events != nil {
		ss.srv.events(protocol.Viewing{Camera: ss.camera, Viewer: ss.viewer, Via: "webrtc", From: ss.from, To: to, Bytes: ss.bytes})
	}
}

// loop waits for the peer, then forwards packets; it returns why it ended.
func (ss *session) loop() string {
	ctx := ss.Context()
	timer := time.NewTimer(ss.srv.cfg.SessionTimeout)
	defer timer.Stop()
	var backlog []*rtp.Packet
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
		case p, ok := <-ss.sub.Packets:
			if !ok {
				return "camera lost"
			}
			// Nobody to send to yet: what leads from the latest keyframe
			// (the GOP the relay started with, at first) waits.
			if !p.Audio {
				backlog = append(backlog, ss.feed.push(p.Packet)...)
				if len(backlog) > maxBacklog {
					clear(backlog)
					backlog = backlog[:0]
					ss.feed = ss.feed.restart()
				}
			}
		}
	}
	ss.log.Info("viewer connected", "backlog", len(backlog))
	if why := ss.send(squeeze(backlog), ss.track); why != "" {
		return why
	}
	winStart, winBytes := time.Now(), ss.bytes
	for {
		select {
		case <-ctx.Done():
			return "ended"
		case <-ss.Failed():
			return "peer gone"
		case p, ok := <-ss.sub.Packets:
			if !ok {
				return "camera lost"
			}
			var why string
			if p.Audio {
				if ss.audio != nil {
					p.Extension, p.Extensions, p.CSRC = false, nil, nil
					why = ss.send([]*rtp.Packet{p.Packet}, ss.audio)
				}
			} else {
				why = ss.send(ss.feed.push(p.Packet), ss.track)
			}
			if why != "" {
				return why
			}
			if now := time.Now(); now.Sub(winStart) >= rateWindow {
				ss.sending.Store(int64((ss.bytes - winBytes) * 8 * uint64(time.Millisecond) / uint64(now.Sub(winStart))))
				winStart, winBytes = now, ss.bytes
			}
		}
	}
}

// send writes packets to a track; a reason to end when the peer is gone.
func (ss *session) send(pkts []*rtp.Packet, track *webrtc.TrackLocalStaticRTP) string {
	for _, q := range pkts {
		if err := track.WriteRTP(q); err != nil {
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
	return ""
}

// maxBacklog bounds the packets a connecting viewer is kept: a GOP of 8
// Mbit/s over 4 s. Past it the viewer starts at the next keyframe.
const maxBacklog = 3000

// squeeze gives a connecting viewer's backlog (the frames since the latest
// keyframe, in decode order) timestamps one tick apart, ending at the last
// one's: the browser decodes them at once and shows the latest, live,
// instead of playing the past GOP at its pace behind the camera.
func squeeze(backlog []*rtp.Packet) []*rtp.Packet {
	if len(backlog) == 0 {
		return nil
	}
	last := backlog[len(backlog)-1].Timestamp
	frames, next := uint32(0), last
	for i := len(backlog) - 1; i >= 0; i-- {
		orig := backlog[i].Timestamp
		if orig != next {
			frames++
		}
		next = orig
		backlog[i].Timestamp = last - frames
	}
	return backlog
}
