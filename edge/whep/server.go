package whep

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/webrtc/v4"

	"github.com/dalaba/dalaba/edge/relay"
	"github.com/dalaba/dalaba/protocol"
)

// Server answers viewers' offers and feeds them cameras.
type Server struct {
	cfg    Config
	log    *slog.Logger
	src    Source
	events func(protocol.Viewing)

	mu       sync.Mutex
	ice      []protocol.ICEServer // the desired state's, over cfg.ICE
	runCtx   context.Context      // set while Run runs
	closing  bool
	reserved int // Answer calls between admission and a session
	sessions map[string]*session
	wg       sync.WaitGroup // session goroutines
}

// ReaderPrefix marks the relay readers that are WebRTC viewers.
const ReaderPrefix = "webrtc:"

// SetICE replaces the STUN and TURN servers new viewers gather with (a
// new desired state); nil goes back to Config.ICE.
func (s *Server) SetICE(ice []protocol.ICEServer) {
	s.mu.Lock()
	s.ice = ice
	s.mu.Unlock()
}

func (s *Server) iceServers() []protocol.ICEServer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ice != nil {
		return s.ice
	}
	return s.cfg.ICE
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
	return &Server{
		cfg:      cfg.withDefaults(),
		log:      log.With("component", "whep"),
		src:      deps.Source,
		events:   deps.Events,
		sessions: map[string]*session{},
	}, nil
}

// Run owns the sessions: Answer works while it runs; when ctx ends it
// closes every session, waits for their goroutines and returns nil. It is
// called once.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.runCtx != nil || s.closing {
		s.mu.Unlock()
		return errors.New("whep: Run called twice")
	}
	s.runCtx = ctx
	s.mu.Unlock()

	<-ctx.Done()

	s.mu.Lock()
	s.closing = true
	all := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.stop("server stopping")
	}
	s.wg.Wait()
	return nil
}

// Sessions is how many viewers are being answered or fed now.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions) + s.reserved
}

// Stop ends a session and returns once it has ended (its Viewing event
// sent).
func (s *Server) Stop(id string) error {
	s.mu.Lock()
	ss := s.sessions[id]
	s.mu.Unlock()
	if ss == nil {
		return fmt.Errorf("whep: stop %q: %w", id, ErrUnknownSession)
	}
	ss.stop("stopped")
	<-ss.done
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
	runCtx, err := s.reserve()
	if err != nil {
		return protocol.WHEPResult{}, fmt.Errorf("whep: answer camera %q: %w", args.Camera, err)
	}
	viewer := args.Viewer
	if viewer == "" {
		viewer = "webrtc"
	}
	// The prefix tells the box's event log that this session's viewing is
	// recorded here (with its bytes), not by the relay.
	sctx, cancel := context.WithCancel(relay.WithReader(runCtx, ReaderPrefix+viewer))
	// While answering, the caller may give up; afterwards only the
	// session's own reasons end it.
	unhook := context.AfterFunc(ctx, cancel)
	ss, answer, err := s.open(sctx, cancel, args.Camera, viewer, args.Offer, offers)
	unhook()
	if err != nil {
		cancel()
		s.unreserve(nil)
		return protocol.WHEPResult{}, fmt.Errorf("whep: answer camera %q: %w", args.Camera, err)
	}
	if ctx.Err() != nil {
		// Given up just as it was answered: nobody gets the answer.
		ss.stop("answer abandoned")
	}
	s.unreserve(ss)
	go ss.run()
	return protocol.WHEPResult{Session: ss.id, Answer: answer}, nil
}

// reserve admits one more session, counted until unreserve.
func (s *Server) reserve() (context.Context, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runCtx == nil || s.closing {
		return nil, ErrNotRunning
	}
	if len(s.sessions)+s.reserved >= s.cfg.MaxSessions {
		return nil, fmt.Errorf("%w (%d)", ErrTooManySessions, s.cfg.MaxSessions)
	}
	s.reserved++
	s.wg.Add(1)
	return s.runCtx, nil
}

// unreserve turns a reservation into ss, or gives it back if ss is nil.
func (s *Server) unreserve(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reserved--
	if ss == nil {
		s.wg.Done()
		return
	}
	s.sessions[ss.id] = ss
	if s.closing {
		// Run is past collecting sessions: this one ends at once.
		ss.stop("server closing")
	}
}

// open subscribes, negotiates and gathers; on error nothing is left.
func (s *Server) open(ctx context.Context, cancel context.CancelFunc, camera, viewer, rawOffer string, offers []offered) (*session, string, error) {
	desc, pkts, release, err := s.src.Subscribe(ctx, camera)
	if err != nil {
		return nil, "", fmt.Errorf("subscribe: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			release()
		}
	}()
	h264, err := videoFormat(desc)
	if err != nil {
		return nil, "", err
	}
	sps, pps := h264.SafeParams()
	camProfile, err := spsProfile(sps)
	if err != nil {
		s.log.Warn("camera gives no SPS in its description; profile unknown", "camera_id", camera, "error", err)
	}
	pt := choose(camProfile, offers)
	log := s.log.With("camera_id", camera, "viewer", viewer)
	log.Info("answering viewer", "camera_profile", profileString(camProfile), "pt", pt.PT, "fmtp", pt.Fmtp)

	api, err := s.newAPI(pt)
	if err != nil {
		return nil, "", err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: iceServers(s.iceServers())})
	if err != nil {
		return nil, "", fmt.Errorf("peer connection: %w", err)
	}
	defer func() {
		if !ok {
			// A failed answer: nothing was sent yet; wait for pion's
			// goroutines so none outlives the call.
			_ = pc.GracefulClose()
		}
	}()
	id, err := newID()
	if err != nil {
		return nil, "", err
	}
	ss := newSession(ctx, cancel, s, id, camera, viewer, pc, pkts, release, newFeed(sps, pps, s.cfg.MaxPayload), log.With("session", id))

	track, err := webrtc.NewTrackLocalStaticRTP(h264Capability(pt), "video", "dalaba-"+camera)
	if err != nil {
		return nil, "", fmt.Errorf("track: %w", err)
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		return nil, "", fmt.Errorf("add track: %w", err)
	}
	ss.track, ss.sender = track, sender
	pc.OnConnectionStateChange(ss.onState)

	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: rawOffer}); err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	if codecs := sender.GetParameters().Codecs; len(codecs) == 0 || !isH264(codecs[0]) {
		return nil, "", fmt.Errorf("%w: payload type %d not negotiated", ErrNoH264, pt.PT)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return nil, "", fmt.Errorf("create answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return nil, "", fmt.Errorf("set answer: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return nil, "", fmt.Errorf("gathering ICE candidates: %w", context.Cause(ctx))
	}
	ok = true
	return ss, pc.LocalDescription().SDP, nil
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

// newID is a session id no viewer can guess.
func newID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("session id: %w", err)
	}
	return hex.EncodeToString(b), nil
}
