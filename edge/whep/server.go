package whep

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/webrtc/v4"

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
}

// ReaderPrefix marks the relay readers that are WebRTC viewers.
const ReaderPrefix = "webrtc:"

// SetICE replaces the STUN and TURN servers new viewers gather with (a
// new desired state); nil goes back to Config.ICE.
func (s *Server) SetICE(ice []protocol.ICEServer) { s.peers.SetICE(ice) }

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
	ss, err := s.reg.Admit(func(runCtx context.Context, _ iter.Seq[*session]) (*session, error) {
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
	if ctx.Err() != nil {
		// Given up just as it was answered: nobody gets the answer.
		ss.Stop("answer abandoned")
	}
	s.reg.Go(ss, ss.run)
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
	sps, pps := h264.SafeParams()
	camProfile, err := spsProfile(sps)
	if err != nil {
		s.log.Warn("camera gives no SPS in its description; profile unknown", "camera_id", ss.camera, "error", err)
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

// videoFormat finds the camera's H.264 format.
func videoFormat(desc *description.Session) (*format.H264, error) {
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			if h, ok := f.(*format.H264); ok {
				return h, nil
			}
			return nil, fmt.Errorf("%w: %s", ErrUnsupportedCodec, f.Codec())
		}
	}
	return nil, fmt.Errorf("%w: no video media", ErrUnsupportedCodec)
}
