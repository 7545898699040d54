package httpspeaker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
)

// Bounds of the clip server.
const (
	// shutdownGrace is how long Run lets fetches in flight finish once
	// its context ends; a speaker still downloading a clip nobody plays
	// any more is then cut off.
	shutdownGrace = 2 * time.Second
	// readHeaderTimeout keeps a half-open connection from holding a
	// goroutine forever; speakers send their request at once.
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = time.Minute
	tokenBytes        = 16 // 128 bits: not guessable while a clip lives
)

// ServerConfig is the clip server of the box.
type ServerConfig struct {
	// Listen is the address to serve on: "0.0.0.0:8090" for the LAN,
	// "127.0.0.1:0" in tests (port 0 picks one; see Addr).
	Listen string
	// AdvertiseHost is the host name or IP address the speakers reach
	// the box at, put into clip URLs. It may be empty only when Listen
	// names one address, which is then used.
	AdvertiseHost string
	// Logger gets fetches and serving errors; nil discards.
	Logger *slog.Logger
}

// Server serves published clips to the speakers of the LAN. It meets no
// interface of package speaker: one Server is shared by every Speaker of
// the box.
type Server struct {
	log  *slog.Logger
	ln   net.Listener
	base string // "http://host:port", the prefix of clip URLs
	srv  *http.Server

	mu     sync.Mutex
	clips  map[string]clip // by token
	ran    bool
	closed bool
}

// clip is one published WAV file.
type clip struct {
	wav  []byte
	made time.Time // Last-Modified, so If-Range works
}

// NewServer validates cfg and binds the listening socket, so Addr and
// clip URLs are known at once; Run serves.
func NewServer(cfg ServerConfig) (*Server, error) {
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("httpspeaker: server: listen address %q: %w", cfg.Listen, err)
	}
	adv := cfg.AdvertiseHost
	if adv == "" {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			return nil, fmt.Errorf("httpspeaker: server: listening on all interfaces (%q) needs an advertise host for the speakers", cfg.Listen)
		}
		adv = host
	}
	if strings.ContainsAny(adv, "/?#@[] \t") {
		return nil, fmt.Errorf("httpspeaker: server: advertise host %q: want a bare host name or IP address", adv)
	}
	if _, _, err := net.SplitHostPort(adv); err == nil {
		return nil, fmt.Errorf("httpspeaker: server: advertise host %q: without a port, which is the one listened on", adv)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("httpspeaker: server: listen %s: %w", cfg.Listen, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	s := &Server{
		log:   log.With("component", "httpspeaker-server", "addr", ln.Addr().String()),
		ln:    ln,
		base:  "http://" + net.JoinHostPort(adv, strconv.Itoa(port)),
		clips: make(map[string]clip),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /clips/{file}", s.serveClip)
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Addr is where the server listens: the port chosen for ":0".
func (s *Server) Addr() *net.TCPAddr { return s.ln.Addr().(*net.TCPAddr) }

// Run serves until ctx ends, then lets fetches in flight finish for a
// moment and returns nil; it returns an error if serving fails. It is
// called once.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	ran := s.ran
	s.ran = true
	s.mu.Unlock()
	if ran {
		return errors.New("httpspeaker: server: Run called twice")
	}
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(s.ln) }()
	select {
	case err := <-served:
		if errors.Is(err, http.ErrServerClosed) { // Close
			return nil
		}
		return fmt.Errorf("httpspeaker: server: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.log.Warn("clip fetches cut off at shutdown", "err", err)
		_ = s.srv.Close() // Shutdown's error is the one logged
	}
	<-served // Serve returns at once when Shutdown begins
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// Close stops serving at once, for a Server whose Run never ran or must
// end now; Run then returns nil.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	err := s.srv.Close()
	// Serve never ran: the listener is still ours to close.
	if lerr := s.ln.Close(); lerr != nil && !errors.Is(lerr, net.ErrClosed) && err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("httpspeaker: server: close: %w", err)
	}
	return nil
}

// Publish stores pcm as a 16-bit WAV file (at its own rate and channels:
// the Speaker converts it first) and returns the URL speakers fetch it
// at, valid until release is called. release may be called more than
// once.
func (s *Server) Publish(pcm audio.PCM) (url string, release func(), err error) {
	var b bytes.Buffer
	b.Grow(44 + 2*len(pcm.Samples))
	if err := audio.EncodeWAV(&b, pcm); err != nil {
		return "", nil, fmt.Errorf("httpspeaker: publish: %w", err)
	}
	var r [tokenBytes]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	token := base64.RawURLEncoding.EncodeToString(r[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", nil, errors.New("httpspeaker: publish: server closed")
	}
	s.clips[token] = clip{wav: b.Bytes(), made: time.Now()}
	var once sync.Once
	release = func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.clips, token)
			s.mu.Unlock()
		})
	}
	return s.base + "/clips/" + token + ".wav", release, nil
}

// Published is the number of clips published and not yet released.
func (s *Server) Published() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clips)
}

// serveClip answers GET and HEAD of /clips/<token>.wav. http.ServeContent
// does ranges and conditional requests: some speakers stream a file in
// pieces rather than download it whole.
func (s *Server) serveClip(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	token, ok := strings.CutSuffix(file, ".wav")
	s.mu.Lock()
	c, found := s.clips[token]
	s.mu.Unlock()
	if !ok || !found {
		s.log.Debug("unknown clip asked for", "remote", r.RemoteAddr)
		http.NotFound(w, r)
		return
	}
	s.log.Debug("clip fetched", "remote", r.RemoteAddr, "range", r.Header.Get("Range"))
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Cache-Control", "no-store") // the URL dies with the clip
	http.ServeContent(w, r, file, c.made, bytes.NewReader(c.wav))
}
