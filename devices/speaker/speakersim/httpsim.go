package speakersim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
)

// Defaults for HTTPConfig.
const (
	// DefaultFetchTimeout bounds the download of one clip, as a real
	// speaker's firmware gives up on a stalled server.
	DefaultFetchTimeout = 10 * time.Second
)

// Bounds of HTTPSim.
const (
	maxControlBody = 64 << 10 // a JSON {"url": ...}
	// playTick is how often Wait looks again while a clip plays: the
	// recording grows with the clock, not with events.
	playTick     = 20 * time.Millisecond
	simShutdown  = time.Second
	simReadLimit = 10 * time.Second
)

// HTTPConfig says where a simulated play-URL speaker listens.
type HTTPConfig struct {
	// Listen is "127.0.0.1:0" (port 0 picks one; see Addr).
	Listen string
	// FetchTimeout bounds the download of a clip; 0 means
	// DefaultFetchTimeout.
	FetchTimeout time.Duration
	// MaxRecord is how much of the latest audio is kept; 0 means
	// DefaultMaxRecord.
	MaxRecord time.Duration
}

// HTTPStats are what a simulated play-URL speaker counted since it
// started.
type HTTPStats struct {
	Plays    int // play requests whose clip was fetched, decoded and started
	Failures int // play requests refused: no URL, fetch failed, not audio
	Stops    int // stop requests
}

// HTTPSim is a simulated play-URL speaker (an IP horn or "云广播"
// speaker told a URL to fetch and play), for tests, demos and
// `dalaba-sim`. GET /api/play?url=... or POST /api/play with the JSON
// {"url": ...} fetches the clip (WAV or MP3), answering 502 if the
// download fails and 415 if it is not audio, and plays it: the recording
// grows in real time, at 8 kHz mono, as a real speaker would sound it. A
// new play replaces the clip playing; GET or POST /api/stop ends it.
type HTTPSim struct {
	ln         net.Listener
	srv        *http.Server
	client     *http.Client
	maxSamples int

	mu      sync.Mutex
	st      HTTPStats
	samples []int16 // what played of earlier clips
	heard   int     // samples heard since the last Reset, including those trimmed
	cur     []int16 // the clip playing, or nil
	start   time.Time
	changed chan struct{} // closed and replaced on every play, stop and refusal
	ran     bool
}

// NewHTTP validates cfg and binds the socket, so Addr is known at once;
// Run serves.
func NewHTTP(cfg HTTPConfig) (*HTTPSim, error) {
	if cfg.FetchTimeout < 0 || cfg.MaxRecord < 0 {
		return nil, errors.New("speakersim: negative fetch timeout or record length")
	}
	if cfg.FetchTimeout == 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.MaxRecord == 0 {
		cfg.MaxRecord = DefaultMaxRecord
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("speakersim: listen %q: %w", cfg.Listen, err)
	}
	s := &HTTPSim{
		ln:         ln,
		client:     &http.Client{Timeout: cfg.FetchTimeout},
		maxSamples: int(cfg.MaxRecord / time.Second * clockHz),
		changed:    make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/play", s.play)
	mux.HandleFunc("POST /api/play", s.play)
	mux.HandleFunc("GET /api/stop", s.stop)
	mux.HandleFunc("POST /api/stop", s.stop)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: simReadLimit}
	return s, nil
}

// Addr is where the speaker listens: the port chosen for ":0".
func (s *HTTPSim) Addr() *net.TCPAddr { return s.ln.Addr().(*net.TCPAddr) }

// PlayURL is the speaker's play endpoint as the template httpspeaker
// takes, with {url} for the clip's URL.
func (s *HTTPSim) PlayURL() string { return "http://" + s.Addr().String() + "/api/play?url={url}" }

// StopURL is the speaker's stop endpoint.
func (s *HTTPSim) StopURL() string { return "http://" + s.Addr().String() + "/api/stop" }

// Run serves until ctx ends (then it returns nil) or serving fails. It is
// called once.
func (s *HTTPSim) Run(ctx context.Context) error {
	s.mu.Lock()
	ran := s.ran
	s.ran = true
	s.mu.Unlock()
	if ran {
		return errors.New("speakersim: Run called twice")
	}
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(s.ln) }()
	select {
	case err := <-served:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("speakersim: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), simShutdown)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		_ = s.srv.Close() // a fetch still in flight is cut off; nothing to report
	}
	<-served
	return nil
}

// Close stops serving at once, for an HTTPSim whose Run never ran or must
// end now.
func (s *HTTPSim) Close() error {
	err := s.srv.Close()
	if lerr := s.ln.Close(); lerr != nil && !errors.Is(lerr, net.ErrClosed) && err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("speakersim: close: %w", err)
	}
	return nil
}

// played is how many samples of the current clip have sounded by now.
// The caller holds mu.
func (s *HTTPSim) played(now time.Time) int {
	if s.cur == nil {
		return 0
	}
	return min(len(s.cur), int(now.Sub(s.start)*clockHz/time.Second))
}

// end moves what played of the current clip into the recording and
// forgets the rest. The caller holds mu.
func (s *HTTPSim) end(now time.Time) {
	n := s.played(now)
	s.samples = append(s.samples, s.cur[:n]...)
	s.heard += n
	if len(s.samples) > s.maxSamples {
		s.samples = append([]int16(nil), s.samples[len(s.samples)-s.maxSamples:]...)
	}
	s.cur = nil
}

func (s *HTTPSim) update(f func(now time.Time)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(time.Now())
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *HTTPSim) play(w http.ResponseWriter, r *http.Request) {
	clip, status, err := s.fetch(r)
	if err != nil {
		s.update(func(time.Time) { s.st.Failures++ })
		http.Error(w, err.Error(), status)
		return
	}
	s.update(func(now time.Time) {
		s.end(now)
		s.cur, s.start = clip.Samples, now
		s.st.Plays++
	})
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{ // the client is gone if this fails
		"status": "playing", "seconds": clip.Duration().Seconds(),
	})
}

// fetch downloads and decodes the clip a play request names, and says
// which status answers a failure.
func (s *HTTPSim) fetch(r *http.Request) (audio.PCM, int, error) {
	clipURL := r.URL.Query().Get("url")
	if r.Method == http.MethodPost && clipURL == "" {
		var body struct {
			URL string `json:"url"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, maxControlBody)).Decode(&body); err != nil {
			return audio.PCM{}, http.StatusBadRequest, fmt.Errorf("body: %w", err)
		}
		clipURL = body.URL
	}
	if clipURL == "" {
		return audio.PCM{}, http.StatusBadRequest, errors.New("no url to play")
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, clipURL, nil)
	if err != nil {
		return audio.PCM{}, http.StatusBadRequest, fmt.Errorf("url: %w", err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return audio.PCM{}, http.StatusBadGateway, fmt.Errorf("fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return audio.PCM{}, http.StatusBadGateway, fmt.Errorf("fetch: %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, audio.DefaultMaxBytes+1))
	if err != nil {
		return audio.PCM{}, http.StatusBadGateway, fmt.Errorf("fetch: %w", err)
	}
	p, err := audio.Decode(b, audio.Limits{})
	if err == nil {
		p, err = audio.Convert(p, clockHz, 1)
	}
	if err != nil {
		return audio.PCM{}, http.StatusUnsupportedMediaType, err
	}
	return p, 0, nil
}

func (s *HTTPSim) stop(w http.ResponseWriter, _ *http.Request) {
	s.update(func(now time.Time) {
		s.end(now)
		s.st.Stops++
	})
	w.WriteHeader(http.StatusOK)
}

// Stats returns what was counted so far.
func (s *HTTPSim) Stats() HTTPStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// Plays is the number of clips started.
func (s *HTTPSim) Plays() int { return s.Stats().Plays }

// Audio returns what was heard since the last Reset (at most MaxRecord of
// the latest), as 8 kHz mono: the part of each clip that played before
// the next play or a stop, back to back, and the clip playing so far.
func (s *HTTPSim) Audio() audio.PCM {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := append(append([]int16(nil), s.samples...), s.cur[:s.played(time.Now())]...)
	return audio.PCM{Rate: clockHz, Channels: 1, Samples: all[max(0, len(all)-s.maxSamples):]}
}

// Heard is the number of samples (at 8 kHz) heard since the last Reset.
func (s *HTTPSim) Heard() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.heard + s.played(time.Now())
}

// Reset forgets the audio heard so far, including the clip playing now,
// which plays on; the statistics stay.
func (s *HTTPSim) Reset() {
	s.update(func(now time.Time) {
		s.samples, s.heard = nil, 0
		if s.cur != nil { // the rest of the clip is heard from now
			s.cur = s.cur[s.played(now):]
			s.start = now
		}
	})
}

// Wait blocks until cond holds or ctx ends. cond is called, with the
// statistics and the number of samples heard since the last Reset, at
// once, after every request and every 20 ms while a clip plays; it must
// not block.
func (s *HTTPSim) Wait(ctx context.Context, cond func(st HTTPStats, samples int) bool) error {
	tick := time.NewTicker(playTick)
	defer tick.Stop()
	for {
		s.mu.Lock()
		now := time.Now()
		n := s.played(now)
		ok, ch, playing := cond(s.st, s.heard+n), s.changed, n < len(s.cur)
		s.mu.Unlock()
		if ok {
			return nil
		}
		var next <-chan time.Time
		if playing {
			next = tick.C
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("speakersim: wait: %w", ctx.Err())
		case <-ch:
		case <-next:
		}
	}
}
