package whep

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/webrtc/v4"

	"github.com/dalaba/dalaba/edge/command"
	"github.com/dalaba/dalaba/edge/relay"
	"github.com/dalaba/dalaba/edge/rtcpeer"
	"github.com/dalaba/dalaba/protocol"
)

// Server answers viewers' offers and feeds them cameras.
type Server struct {
	cfg    Config
	log    *slog.Logger
	src    Source
	events func(protocol.Viewing)

	peers *rtcpeer.Peers
	reg   *rtcpeer.Registry[*session] // answering or feeding

	mu     sync.Mutex
	budget budget
}

// budget is the box's uplink budget for WebRTC viewers, from the desired
// state: the village's 4G uplink is shared with the loudspeakers'
// downloads and the outbox.
type budget struct {
	kbps       int                // 0: none
	cams       map[string]camConf // camera id → its streams and their declared bitrates
	maxPayload int                // the desired state's; 0: Config's
}

// DefaultBitrateKbps is what a viewer of a camera's main stream costs the
// budget when the desired state does not say and the box has not measured
// the stream.
const DefaultBitrateKbps = 4000

// ReaderPrefix marks the relay readers that are WebRTC viewers.
const ReaderPrefix = "webrtc:"

// SetCameras takes the camera section of a new desired state: the STUN and
// TURN servers new viewers gather with (none goes back to Config.ICE), the
// cameras' streams, and the viewing budget new viewers must fit in
// (protocol.Cameras.Budget: set, or a share of the declared uplink).
// Viewers already watching keep watching.
func (s *Server) SetCameras(c protocol.Cameras) {
	s.peers.SetICE(c.ICE)
	b := budget{kbps: c.Budget(), cams: map[string]camConf{}, maxPayload: c.MaxPayload}
	for _, cam := range c.Cameras {
		b.cams[cam.ID] = camConf{hasSub: cam.SubURL != "", mainKbps: cam.BitrateKbps, subKbps: cam.SubBitrateKbps}
	}
	s.mu.Lock()
	s.budget = b
	s.mu.Unlock()
}

// conf is what the desired state says of camera, and the budget.
func (s *Server) conf(camera string) (camConf, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.budget.cams[camera], s.budget.kbps
}

// maxPayload is the largest RTP payload for new viewers.
func (s *Server) maxPayload() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cmp.Or(s.budget.maxPayload, s.cfg.MaxPayload)
}

// Register gives the box's command runner the camera commands: a viewer's
// offer on the slow lane (it waits for the camera and for ICE gathering),
// the end of a viewing on the control lane.
func (s *Server) Register(r *command.Runner) {
	command.Register(r, protocol.CmdWHEP, command.Slow, func(ctx context.Context, _ protocol.Command, a protocol.WHEPArgs) (any, error) {
		return s.Answer(ctx, a)
	})
	command.Register(r, protocol.CmdWHEPStop, command.Control, func(_ context.Context, _ protocol.Command, a protocol.WHEPStopArgs) (any, error) {
		return nil, s.Stop(a.Session)
	})
}

// New validates cfg; Run serves.
func New(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("whep: config: %w", err)
	}
	if deps.Source == nil {
		return nil, errors.New("whep: no source")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	return &Server{
		cfg:    cfg,
		log:    log.With("component", "whep"),
		src:    deps.Source,
		events: deps.Events,
		peers:  rtcpeer.NewPeers(cfg.peer()),
		reg: rtcpeer.NewRegistry[*session](cfg.MaxSessions, rtcpeer.Refusals{
			NotRunning: ErrNotRunning, Full: ErrTooManySessions, Unknown: ErrUnknownSession,
		}),
	}, nil
}

// Run owns the sessions: Answer works while it runs; when ctx ends it
// closes every session, waits for their goroutines and returns nil. It is
// called once.
func (s *Server) Run(ctx context.Context) error {
	if err := s.reg.Run(ctx, "server stopping"); err != nil {
		return fmt.Errorf("whep: %w", err)
	}
	return nil
}

// Sessions is how many viewers are being answered or fed now.
func (s *Server) Sessions() int { return s.reg.Len() }

// Stop ends a session and returns once it has ended (its Viewing event
// sent).
func (s *Server) Stop(id string) error {
	if err := s.reg.Stop(id); err != nil {
		return fmt.Errorf("whep: stop %q: %w", id, err)
	}
	return nil
}

// Answer answers a viewer's offer for a camera: it picks what to show (see
// plan.go) within the budget, subscribes to that stream, negotiates its
// codec (see profile.go) and the camera's G.711 audio if both sides have
// it, gathers the box's ICE candidates (the answer carries them all: no
// trickle) and returns the answer with the session's id and what the
// viewer gets. ctx bounds the answering only; the session then lives until
// Stop, the viewer leaving or failing, the camera going away, or Run's end.
func (s *Server) Answer(ctx context.Context, args protocol.WHEPArgs) (protocol.WHEPResult, error) {
	if err := args.Validate(); err != nil {
		return protocol.WHEPResult{}, fmt.Errorf("whep: answer: %w: %w", ErrBadRequest, err)
	}
	o, err := parseOffer(args.Offer)
	if err != nil {
		return protocol.WHEPResult{}, fmt.Errorf("whep: answer camera %q: %w", args.Camera, err)
	}
	id, err := rtcpeer.NewID()
	if err != nil {
		return protocol.WHEPResult{}, fmt.Errorf("whep: answer camera %q: %w", args.Camera, err)
	}
	viewer := args.Viewer
	if viewer == "" {
		viewer = "webrtc"
	}
	conf, kbps := s.conf(args.Camera)
	var cands []choice
	ss, err := s.reg.Admit(func(runCtx context.Context, held iter.Seq[*session]) (*session, error) {
		// Counted here, under the registry's lock: two offers at once
		// cannot both take the budget's last place.
		used, viewers := 0, 0
		for h := range held {
			used += h.cost()
			viewers++
		}
		var err error
		cands, err = s.plan(args.Camera, args.Stream, o, conf, kbps-used, kbps > 0)
		if err != nil {
			if errors.Is(err, ErrOverBudget) {
				err = fmt.Errorf("%w; the box's viewing budget of %d kbit/s is used by %d viewers", err, kbps, viewers)
			}
			return nil, err
		}
		// The prefix tells the box's event log that this session's
		// viewing is recorded here (with its bytes), not by the relay.
		ss := newSession(relay.WithReader(runCtx, ReaderPrefix+viewer), s, id, args.Camera, viewer)
		ss.reserve.Store(int64(cands[0].kbps))
		return ss, nil
	})
	if err != nil {
		return protocol.WHEPResult{}, fmt.Errorf("whep: answer camera %q: %w", args.Camera, err)
	}
	// While answering, the caller may give up; afterwards only the
	// session's own reasons end it.
	unhook := context.AfterFunc(ctx, func() { ss.Stop("answer abandoned") })
	res, err := ss.open(args, o, cands)
	unhook()
	if err != nil {
		ss.Stop("answer failed")
		s.reg.Drop(ss)
		return protocol.WHEPResult{}, fmt.Errorf("whep: answer camera %q: %w", args.Camera, err)
	}
	// The point of no return: past it the viewer is fed. Given up just as
	// it was answered (the command expired), nobody gets the answer and
	// the session ends at once.
	late := command.Commit(ctx)
	if late == nil && ctx.Err() != nil {
		late = context.Cause(ctx)
	}
	if late != nil {
		ss.Stop("answer abandoned")
	}
	s.reg.Go(ss, ss.run)
	if late != nil {
		return protocol.WHEPResult{}, fmt.Errorf("whep: answer camera %q: %w", args.Camera, late)
	}
	res.Session = id
	return res, nil
}

// subscribe takes the first of cands the viewer can be shown, in order,
// learning each stream as it is pulled; the refusal of the last one when
// none can.
func (ss *session) subscribe(o offer, cands []choice) (*relay.Subscription, choice, error) {
	var last error
	var spare *choice // a main stream shown without its B-frames, if the sub stream cannot be
	for i := 0; i < len(cands); i++ {
		c := cands[i]
		sub, err := ss.srv.src.Subscribe(ss.Context(), relay.Path(ss.camera, c.stream))
		if err != nil {
			return nil, c, fmt.Errorf("subscribe: %w", err)
		}
		r := verdict(sub.Info, o)
		if r == nil && c.stream == protocol.StreamMain && sub.Info.BFrames && i+1 < len(cands) && cands[i+1].stream == protocol.StreamSub {
			// Learnt only now: the sub stream may have no B-frames.
			if next, err := ss.srv.src.Info(relay.Path(ss.camera, protocol.StreamSub)); err != nil || !next.Known || !next.BFrames {
				sub.Release()
				cands[i+1].note = protocol.NoteBFramesSub
				spare = &c
				continue
			}
		}
		if r == nil && c.stream == protocol.StreamSub && sub.Info.BFrames && spare != nil {
			r = &Refusal{Code: protocol.CodeCameraBFrames} // no better than the main stream
		}
		if r == nil {
			ss.reserve.Store(int64(c.kbps))
			return sub, c, nil
		}
		sub.Release()
		last = r
		if i+1 < len(cands) && cands[i+1].stream == protocol.StreamSub {
			cands[i+1].note = protocol.NoteBFramesSub
			if r.Code == protocol.CodeCameraCodec {
				cands[i+1].note = protocol.NoteH265Sub
			}
		}
		ss.log.Info("stream not shown to this viewer", "stream", c.stream, "code", r.Code)
	}
	if spare != nil {
		sub, err := ss.srv.src.Subscribe(ss.Context(), relay.Path(ss.camera, spare.stream))
		if err != nil {
			return nil, *spare, fmt.Errorf("subscribe: %w", err)
		}
		spare.note = ""
		ss.reserve.Store(int64(spare.kbps))
		return sub, *spare, nil
	}
	return nil, choice{}, last
}

// open subscribes, negotiates and gathers; it returns the answer and what
// the viewer gets. On error nothing is left.
func (ss *session) open(args protocol.WHEPArgs, o offer, cands []choice) (protocol.WHEPResult, error) {
	s, ctx := ss.srv, ss.Context()
	sub, c, err := ss.subscribe(o, cands)
	if err != nil {
		return protocol.WHEPResult{}, err
	}
	ok := false
	defer func() {
		if !ok {
			sub.Release()
		}
	}()
	res := protocol.WHEPResult{Stream: c.stream, Codec: sub.Info.Codec, Frames: protocol.FramesAll, Note: c.note, FPS: round1(sub.Info.FPS)}
	if sub.Info.BFrames {
		res.Frames, res.FPS = protocol.FramesReference, round1(sub.Info.ReferenceFPS)
		if res.Note == "" || res.Note == protocol.NoteNoSub {
			res.Note = protocol.NoteBFramesReference
		}
	}
	h265 := sub.Info.Codec == relay.CodecH265
	var video offered
	var params [][]byte
	if h265 {
		f, err := hevcFormat(sub.Desc)
		if err != nil {
			return res, err
		}
		// The description is the relay's, read-only here; nobody sets
		// its parameters while a viewer reads them.
		params = [][]byte{f.VPS, f.SPS, f.PPS}
		video = o.h265[0]
	} else {
		f, err := videoFormat(sub.Desc)
		if err != nil {
			return res, err
		}
		sps, pps := f.SPS, f.PPS
		params = [][]byte{sps, pps}
		camProfile, err := spsProfile(sps)
		if err != nil {
			s.log.Warn("camera gives no SPS in its description; profile unknown", "camera_id", ss.camera, "err", err)
		}
		video = choose(camProfile, o.h264)
		ss.log.Info("answering viewer", "camera_profile", profileString(camProfile), "pt", video.PT, "fmtp", video.Fmtp)
	}
	var audio *offered
	if sub.Audio != nil {
		law := audioLaw(sub.Audio)
		for i := range o.audio {
			if o.audio[i].Fmtp == law {
				audio = &o.audio[i]
				res.Audio = law
				break
			}
		}
	}

	pc, err := s.newPeer(h265, video, audio)
	if err != nil {
		return res, err
	}
	defer func() {
		if !ok {
			// A failed answer: nothing was sent yet; wait for pion's
			// goroutines so none outlives the call.
			_ = pc.GracefulClose()
		}
	}()
	ss.pc, ss.sub, ss.feed, ss.from = pc, sub, newFeed(h265, params, s.maxPayload()), time.Now()
	if res.Frames == protocol.FramesReference && !h265 {
		ss.feed.noReorder = true
		ss.feed.params[0] = ss.feed.fixSPS(params[0])
	}
	ss.stream = c.stream

	track, err := webrtc.NewTrackLocalStaticRTP(videoCapability(h265, video), "video", "dalaba-"+ss.camera)
	if err != nil {
		return res, fmt.Errorf("track: %w", err)
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		return res, fmt.Errorf("add track: %w", err)
	}
	ss.track, ss.sender = track, sender
	if audio != nil {
		// A stream of its own: a browser lip-syncs the tracks of one
		// stream, and holding the picture back for the camera's audio
		// clock (which the box does not relay) makes it stutter; a
		// monitoring picture wants to be live more than in sync.
		at, err := webrtc.NewTrackLocalStaticRTP(audioCapability(*audio), "audio", "dalaba-"+ss.camera+"-audio")
		if err != nil {
			return res, fmt.Errorf("audio track: %w", err)
		}
		asender, err := pc.AddTrack(at)
		if err != nil {
			return res, fmt.Errorf("add audio track: %w", err)
		}
		ss.audio, ss.audioSender = at, asender
	}
	pc.OnConnectionStateChange(ss.OnState)

	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: args.Offer}); err != nil {
		return res, fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	if codecs := sender.GetParameters().Codecs; len(codecs) == 0 || !isVideo(codecs[0], h265) {
		return res, fmt.Errorf("%w: payload type %d not negotiated", ErrNoH264, video.PT)
	}
	answer, err := rtcpeer.Answer(ctx, pc)
	if err != nil {
		return res, err
	}
	ok = true
	res.Answer = answer
	ss.log.Info("viewer answered", "stream", res.Stream, "codec", res.Codec, "frames", res.Frames, "note", res.Note,
		"audio", res.Audio, "cached_packets", sub.Cached)
	return res, nil
}

// round1 keeps one decimal of a frame rate.
func round1(f float64) float64 { return math.Round(f*10) / 10 }

// hevcFormat finds the camera's H.265 format.
func hevcFormat(desc *description.Session) (*format.H265, error) {
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			if h, ok := f.(*format.H265); ok {
				return h, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: no H.265 in the description", ErrUnsupportedCodec)
}

// audioLaw names a G.711 media's law as SDP does.
func audioLaw(m *description.Media) string {
	if g, ok := m.Formats[0].(*format.G711); ok && g.MULaw {
		return "PCMU"
	}
	return "PCMA"
}

// videoFormat finds the camera's H.264 format, whichever media and
// position it has: cameras list audio before video, or offer H.265 and
// H.264 side by side. Only when no media has H.264 is the camera refused,
// naming the formats it has.
func videoFormat(desc *description.Session) (*format.H264, error) {
	var seen []string
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			if h, ok := f.(*format.H264); ok {
				return h, nil
			}
			seen = append(seen, relay.CodecName(f))
		}
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("%w: no media", ErrUnsupportedCodec)
	}
	return nil, fmt.Errorf("%w: no H.264 among %s", ErrUnsupportedCodec, strings.Join(seen, ", "))
}
