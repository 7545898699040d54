package paging

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/dalaba/dalaba/devices/speaker"
	"github.com/dalaba/dalaba/edge/rtcpeer"
	"github.com/dalaba/dalaba/protocol"
)

// frameQueue is how many frames (80 ms) wait between the session and the
// Air; more would only add delay, and the Air drops what queued before the
// page went on the air.
const frameQueue = 4

// endWait bounds how long an ended session waits for the Air to take its
// page off the air, so the zones it holds are free only once they are.
const endWait = 2 * time.Second

// session is one page: a PeerConnection receiving one audio track whose
// frames go to the Air.
type session struct {
	*rtcpeer.Session
	srv       *Server
	runCtx    context.Context // the server's Run's: ends when the box stops
	zones     []string
	pager     string
	commandID string
	off       offered
	pc        *webrtc.PeerConnection // set by open
	log       *slog.Logger

	tracks chan incoming      // the first track pion gives
	alive  chan struct{}      // a frame arrived
	frames chan speaker.Frame // to the Air; closed when the page ends
	ended  chan string        // the Air's result

	// The reader's counts, read once it has stopped.
	packets, late, strays, dropped int
}

// incoming is a track pion gives the session.
type incoming struct {
	track    *webrtc.TrackRemote
	receiver *webrtc.RTPReceiver
}

func newSession(runCtx context.Context, srv *Server, id string, args protocol.PageArgs, commandID string, off offered) *session {
	log := srv.log.With("session", id, "pager", args.Pager)
	return &session{
		Session: rtcpeer.NewSession(runCtx, id, log),
		srv:     srv, runCtx: runCtx, zones: args.Zones, pager: args.Pager, commandID: commandID, off: off, log: log,
		tracks: make(chan incoming, 1), alive: make(chan struct{}, 1),
		frames: make(chan speaker.Frame, frameQueue), ended: make(chan string, 1),
	}
}

// onTrack is pion's callback, on a goroutine of its own: the session
// takes the first track; others (a second audio m-line) stay unread.
func (ss *session) onTrack(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	select {
	case ss.tracks <- incoming{t, r}:
	default:
		ss.log.Warn("a second track ignored", "kind", t.Kind().String())
	}
}

// run takes the page until it ends, then cleans up; the registry's Go
// runs it.
func (ss *session) run() {
	from := time.Now()
	var readers sync.WaitGroup
	onAir, result := false, ""
	ss.Stop(ss.loop(&readers, &onAir, &result))

	if err := ss.pc.GracefulClose(); err != nil {
		ss.log.Warn("closing peer connection", "err", err)
	}
	readers.Wait() // their reads fail once the connection is closed
	close(ss.frames)
	if onAir && result == "" {
		t := time.NewTimer(endWait)
		select {
		case result = <-ss.ended:
		case <-ss.runCtx.Done(): // the box is stopping: so is the Air
		case <-t.C:
			ss.log.Warn("the page is still on the air after its session ended")
		}
		t.Stop()
	}
	ss.srv.reg.Remove(ss)

	ss.log.Info("page ended", "reason", ss.Reason(), "result", result, "on_air", onAir,
		"took", time.Since(from).Round(time.Millisecond), "packets", ss.packets,
		"late", ss.late, "strays", ss.strays, "dropped", ss.dropped)
}

// loop waits for the pager, puts the page on the air and watches it; it
// returns why it ended. Readers it starts are counted in readers.
func (ss *session) loop(readers *sync.WaitGroup, onAir *bool, result *string) string {
	cfg, ctx := ss.srv.cfg, ss.Context()
	var trackDone chan struct{}
	take := func(in incoming) {
		if trackDone != nil {
			return // onTrack passes one at a time: this is a second
		}
		trackDone = make(chan struct{})
		readers.Add(2)
		go func() {
			defer readers.Done()
			defer close(trackDone)
			ss.read(in.track)
		}()
		// RTCP must be read for the report interceptor to see the
		// browser's sender reports; the read fails once the connection
		// is closed.
		go func() {
			defer readers.Done()
			buf := make([]byte, 1500)
			for {
				if _, _, err := in.receiver.Read(buf); err != nil {
					return
				}
			}
		}()
	}

	connect := time.NewTimer(cfg.SessionTimeout)
	defer connect.Stop()
	for waiting := true; waiting; {
		select {
		case <-ctx.Done():
			return ss.cancelled()
		case <-ss.Failed():
			return "pager failed before connecting"
		case <-connect.C:
			return "pager did not connect in time"
		case in := <-ss.tracks:
			take(in)
		case <-ss.Connected():
			waiting = false
		}
	}
	err := ss.srv.air.Start(ctx, Page{
		Session: ss.ID(), Zones: ss.zones, Pager: ss.pager, CommandID: ss.commandID, Law: ss.off.Law, Frames: ss.frames,
		Ended: func(r string) {
			select {
			case ss.ended <- r:
			default: // called once; a second call has nothing to add
			}
		},
	})
	if err != nil {
		ss.log.Error("page not put on the air", "err", err)
		return "not put on the air: " + err.Error()
	}
	*onAir = true
	ss.log.Info("page on the air")

	idle := time.NewTimer(cfg.IdleTimeout)
	defer idle.Stop()
	longest := time.NewTimer(cfg.MaxDuration)
	defer longest.Stop()
	for {
		select {
		case <-ctx.Done():
			return ss.cancelled()
		case <-ss.Failed():
			return "pager gone"
		case in := <-ss.tracks:
			take(in)
		case <-trackDone: // nil until a track came
			return "pager hung up"
		case <-ss.alive:
			idle.Reset(cfg.IdleTimeout)
		case <-idle.C:
			return "no audio for " + cfg.IdleTimeout.String()
		case <-longest.C:
			return "longest page (" + cfg.MaxDuration.String() + ") reached"
		case *result = <-ss.ended:
			return "taken off the air: " + *result
		}
	}
}

// cancelled says why the session's context ended, when stop gave no
// reason first.
func (ss *session) cancelled() string {
	if ss.runCtx.Err() != nil {
		return "box stopping"
	}
	return "ended"
}

// read forwards the track's frames to the Air until the track ends; it
// drops packets of another payload type and those behind the newest (a
// frame that late would only disturb the speakers' timing).
func (ss *session) read(t *webrtc.TrackRemote) {
	var last uint16
	for {
		p, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		if p.PayloadType != ss.off.PT || len(p.Payload) == 0 {
			ss.strays++
			continue
		}
		if ss.packets > 0 && int16(p.SequenceNumber-last) <= 0 {
			ss.late++
			continue
		}
		ss.packets++
		last = p.SequenceNumber
		select {
		case ss.alive <- struct{}{}:
		default:
		}
		select {
		case ss.frames <- speaker.Frame{Payload: p.Payload, Timestamp: p.Timestamp}:
		default:
			ss.dropped++ // the Air is not taking frames: not on the air yet, or behind
		}
	}
}
