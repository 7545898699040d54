package whep

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
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
	kbps    int            // 0: none
	bitrate map[string]int // camera id → kbit/s of one viewer, when the desired state says
}

// DefaultBitrateKbps is what a viewer of a camera costs the budget when the
// desired state does not say.
const DefaultBitrateKbps = 4000

// ReaderPrefix marks the relay readers that are WebRTC viewers.
const ReaderPrefix = "webrtc:"

// SetCameras takes the camera section of a new desired state: the STUN and
// TURN servers new viewers gather with (none goes back to Config.ICE) and
// the viewing budget new viewers must fit in. Viewers already watching
// keep watching.
func (s *Server) SetCameras(c protocol.Cameras) {
	s.peers.SetICE(c.ICE)
	b := budget{kbps: c.BudgetKbps, bitrate: map[string]int{}}
	for _, cam := range c.Cameras {
		if cam.BitrateKbps > 0 {
			b.bitrate[cam.ID] = cam.BitrateKbps
		}
	}
	s.mu.Lock()
	s.budget = b
	s.mu.Unlock()
}

// withinBudget refuses a viewer of camera who would take the box past its
// budget, with viewers being answered or fed already, every one of them
// counted at the bitrate of the camera asked for.
func (s *Server) withinBudget(camera string, viewers int) error {
	s.mu.Lock()
	b := s.budget
	s.mu.Unlock()
	if b.kbps == 0 {
		return nil
	}
	kbps := cmp.Or(b.bitrate[camera], DefaultBitrateKbps)
	if (viewers+1)*kbps > b.kbps {
		return fmt.Errorf("%w: the box's viewing budget of %d kbit/s is used by %d viewers; camera %s needs %d kbit/s more",
			ErrOverBudget, b.kbps, viewers, camera, kbps)
	}
	return nil
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

// Answer answers a viewer's offer for a camera: it subscribes to the
// camera, negotiates H.264 (see profile.go), gathers the box's ICE
// candidates (the answer carries them all: no trickle) and returns the
// answer with the session's id. ctx bounds the answering only; the
// session then lives until Stop, the viewer leaving or failing, the
// camera going away, or Run's end.
func (s *Server) Answer(ctx context.Context, args protocol.WHEPArgs) (protocol.WHEPResult, error) {
	if err := args.Validate(); err != nil {
		return protocol.WHEPResult{}, fmt.Errorf("whep: answer: %w: %w", ErrBadRequest, err)
	}
	offers, err := parseOffer(args.Offer)
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
	ss, err := s.reg.Admit(func(runCtx context.Context, held iter.Seq[*session]) (*session, error) {
		// Counted here, under the registry's lock: two offers at once
		// cannot both take the budget's last place.
		viewers := 0
		for range held {
			viewers++
		}
		if err := s.withinBudget(args.Camera, viewers); err != nil {
			return nil, err
		}
		// The prefix tells the box's event log that this session's
		// viewing is recorded here (with its bytes), not by the relay.
		return newSession(relay.WithReader(runCtx, ReaderPrefix+viewer), s, id, args.Camera, viewer), nil
	})
	if err != nil {
		return protocol.WHEPResult{}, fmt.Errorf("whep: answer camera %q: %w", args.Camera, err)
	}
	// While answering, the caller may give up; afterwards only the
	// session's own reasons end it.
	unhook := context.AfterFunc(ctx, func() { ss.Stop("answer abandoned") })
	answer, err := ss.open(args.Offer, offers)
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
	return protocol.WHEPResult{Session: id, Answer: answer}, nil
}

// open subscribes, negotiates and gathers; it returns the answer. On error
// nothing is left.
func (ss *session) open(rawOffer string, offers []offered) (string, error) {
	s, ctx := ss.srv, ss.Context()
	desc, pkts, release, err := s.src.Subscribe(ctx, ss.camera)
	if err != nil {
		return "", fmt.Errorf("subscribe: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			release()
		}
	}()
	h264, err := videoFormat(desc)
	if err != nil {
		return "", err
	}
	// The description is the relay's, read-only here; nobody sets its
	// parameters while a viewer reads them.
	sps, pps := h264.SPS, h264.PPS
	camProfile, err := spsProfile(sps)
	if err != nil {
		s.log.Warn("camera gives no SPS in its description; profile unknown", "camera_id", ss.camera, "err", err)
	}
	pt := choose(camProfile, offers)
	ss.log.Info("answering viewer", "camera_profile", profileString(camProfile), "pt", pt.PT, "fmtp", pt.Fmtp)

	pc, err := s.newPeer(pt)
	if err != nil {
		return "", err
	}
	defer func() {
		if !ok {
			// A failed answer: nothing was sent yet; wait for pion's
			// goroutines so none outlives the call.
			_ = pc.GracefulClose()
		}
	}()
	ss.pc, ss.pkts, ss.release, ss.feed, ss.from = pc, pkts, release, newFeed(sps, pps, s.cfg.MaxPayload), time.Now()

	track, err := webrtc.NewTrackLocalStaticRTP(h264Capability(pt), "video", "dalaba-"+ss.camera)
	if err != nil {
		return "", fmt.Errorf("track: %w", err)
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		return "", fmt.Errorf("add track: %w", err)
	}
	ss.track, ss.sender = track, sender
	pc.OnConnectionStateChange(ss.OnState)

	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: rawOffer}); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	if codecs := sender.GetParameters().Codecs; len(codecs) == 0 || !isH264(codecs[0]) {
		return "", fmt.Errorf("%w: payload type %d not negotiated", ErrNoH264, pt.PT)
	}
	answer, err := rtcpeer.Answer(ctx, pc)
	if err != nil {
		return "", err
	}
	ok = true
	return answer, nil
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
