package httpspeaker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker"
)

// Defaults of Config.
const (
	DefaultRate = 16000 // what play-URL speakers decode everywhere, and twice the telephone band
	// DefaultTimeout bounds one control request. Many speakers fetch the
	// clip before they answer, so it covers a download too.
	DefaultTimeout = 10 * time.Second
	// Placeholder is replaced by the clip's URL, query-escaped, in
	// PlayURL and StopURL.
	Placeholder = "{url}"
)

// drainLimit is how much of a control response is read, so that the
// connection can be reused; speakers answer with a few bytes of JSON.
const drainLimit = 64 << 10

// errClosed is the cause a Play is cancelled with by Close.
var errClosed = errors.New("httpspeaker: speaker closed")

// Config is one play-URL speaker.
type Config struct {
	// Server publishes the clips; one is shared by all speakers.
	Server *Server
	// PlayURL is the speaker's play endpoint as a template in which
	// {url} is replaced by the clip's URL, query-escaped, e.g.
	// "http://10.0.0.7/api/play?url={url}". http or https. For POST the
	// URL travels in the body and {url} may be left out.
	PlayURL string
	// Method is "GET" or "POST"; "" means GET. POST sends the JSON
	// {"url": "<clip URL>"}.
	Method string
	// StopURL is the speaker's stop endpoint, a template like PlayURL
	// ({url} optional), called with Method when Halt or the end of the
	// context cuts a clip short; "" means the speaker has none and plays
	// on, at most to the end of what it already fetched.
	StopURL string
	// Rate is the sample rate of the 16-bit mono WAV the speaker fetches;
	// 0 means DefaultRate.
	Rate int
	// Volume is the initial level, 1-100 percent on the square law of
	// audio.Volume; 0 means 100. SetVolume(0) mutes.
	Volume int
	// Timeout bounds each control request; 0 means DefaultTimeout.
	Timeout time.Duration
	// Client sends the control requests; nil means a client of its own
	// on the default transport.
	Client *http.Client
	// Logger gets health changes; nil discards.
	Logger *slog.Logger
}

// validate reports every problem at once, and the speaker's host for
// logging.
func (c *Config) validate() (host string, err error) {
	var errs []error
	if c.Server == nil {
		errs = append(errs, errors.New("no server to publish clips on"))
	}
	c.Method = strings.ToUpper(c.Method)
	switch c.Method {
	case "":
		c.Method = http.MethodGet
	case http.MethodGet, http.MethodPost:
	default:
		errs = append(errs, fmt.Errorf("method %q: GET or POST", c.Method))
	}
	host, err = checkTemplate(c.PlayURL, c.Method == http.MethodGet)
	if err != nil {
		errs = append(errs, fmt.Errorf("play URL: %w", err))
	}
	if c.StopURL != "" {
		if _, err := checkTemplate(c.StopURL, false); err != nil {
			errs = append(errs, fmt.Errorf("stop URL: %w", err))
		}
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	} else if c.Rate < audio.MinRate || c.Rate > audio.MaxRate {
		errs = append(errs, fmt.Errorf("rate %d: %d-%d Hz", c.Rate, audio.MinRate, audio.MaxRate))
	}
	if c.Volume == 0 {
		c.Volume = 100
	} else if c.Volume < 0 || c.Volume > 100 {
		errs = append(errs, fmt.Errorf("volume %d: 0-100", c.Volume))
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	} else if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s: negative", c.Timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return "", fmt.Errorf("httpspeaker: config: %w", err)
	}
	return host, nil
}

// checkTemplate checks an endpoint template and returns its host.
func checkTemplate(tmpl string, needURL bool) (string, error) {
	if tmpl == "" {
		return "", errors.New("empty")
	}
	if needURL && !strings.Contains(tmpl, Placeholder) {
		return "", fmt.Errorf("%q has no %s for the clip's URL", tmpl, Placeholder)
	}
	u, err := url.Parse(strings.ReplaceAll(tmpl, Placeholder, "x"))
	if err != nil {
		return "", fmt.Errorf("%q: %w", tmpl, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%q: scheme %q, want http or https", tmpl, u.Scheme)
	}
	if u.Host == "" {
		return "", fmt.Errorf("%q: no host", tmpl)
	}
	return u.Host, nil
}

// Speaker tells one play-URL speaker to play clips published on a
// Server. It meets speaker.Speaker and speaker.Volumer.
type Speaker struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client
	turn   *speaker.Turn // held while a Play, or the stop request after it, runs
	vol    *speaker.Level
	// life ends at Close: it bounds the stop requests sent after Play
	// has returned.
	life    context.Context
	endLife context.CancelFunc
	stops   sync.WaitGroup

	mu     sync.Mutex
	cur    *playing // the current Play; Halt and Close cut it short
	status *speaker.Status
	closed bool
}

// playing is one Play in progress, compared by pointer: the stop request
// of a Play cut short gives the turn away before that Play has cleared
// itself out.
type playing struct{ halt context.CancelCauseFunc }

var _ interface {
	speaker.Speaker
	speaker.Volumer
} = (*Speaker)(nil)

// New validates cfg; nothing is sent until Play.
func New(cfg Config) (*Speaker, error) {
	host, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{}
	}
	life, endLife := context.WithCancel(context.Background())
	log = log.With("component", "httpspeaker", "speaker_id", host)
	return &Speaker{
		cfg:     cfg,
		log:     log,
		client:  client,
		turn:    speaker.NewTurn(),
		vol:     speaker.NewLevel(cfg.Volume),
		life:    life,
		endLife: endLife,
		status:  speaker.NewStatus(log),
	}, nil
}

// Close cuts short what is playing, waits for a stop request in flight
// and makes Play fail from then on. It leaves the Server alone.
func (s *Speaker) Close() error {
	s.mu.Lock()
	s.closed = true
	if s.cur != nil {
		s.cur.halt(errClosed)
	}
	s.mu.Unlock()
	s.endLife()
	s.stops.Wait()
	return nil
}

// SetVolume sets the level of the clips played from now on, 0-100 on the
// square law of audio.Volume. The clip is scaled before it is published:
// play-URL speakers have no common volume API.
func (s *Speaker) SetVolume(percent int) error {
	if err := s.vol.Set(percent); err != nil {
		return fmt.Errorf("httpspeaker: %w", err)
	}
	return nil
}

// Halt stops the clip playing now; Play returns speaker.ErrHalted at once
// and the stop request goes out behind it. A Play waiting for its turn is
// not affected.
func (s *Speaker) Halt() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		s.cur.halt(speaker.ErrHalted)
	}
	return nil
}

// Health reports the outcome of the latest control request: a refused
// connection, a timeout or an answer other than 2xx makes the speaker
// unreachable, the next 2xx reachable again.
func (s *Speaker) Health() speaker.Health { return s.status.Health() }

func (s *Speaker) failed(err error) { s.status.Failed(err) }

func (s *Speaker) answered() { s.status.Reached() }

// Play converts pcm to mono at the configured rate and volume, publishes
// it, tells the speaker to play its URL and waits for the clip's length:
// the speaker plays in real time and there is no standard way to learn
// when it is done. On ctx's end or Halt it returns at once; the stop
// request (if there is a StopURL) goes out after it, and the next Play
// waits for it, so that the stop cannot cut the next clip. Plays take
// turns; a Play waiting for its turn gives up when ctx ends.
func (s *Speaker) Play(ctx context.Context, pcm audio.PCM) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("httpspeaker: play: %w", err)
	}
	if err := pcm.Validate(); err != nil {
		return fmt.Errorf("httpspeaker: play: %w", err)
	}
	if err := s.turn.Take(ctx); err != nil {
		return fmt.Errorf("httpspeaker: play: waiting for the previous clip: %w", err)
	}
	handedOver := false // to the stop request, which gives the turn back
	defer func() {
		if !handedOver {
			s.turn.Give()
		}
	}()
	playCtx, halt := context.WithCancelCause(ctx)
	defer halt(nil)
	me := &playing{halt: halt}
	s.mu.Lock()
	closed, vol := s.closed, s.vol.Get()
	s.cur = me // from here on Halt applies to this clip
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.cur == me {
			s.cur = nil
		}
		s.mu.Unlock()
	}()
	if closed {
		return errClosed
	}
	mono, err := audio.Convert(pcm, s.cfg.Rate, 1)
	if err != nil {
		return fmt.Errorf("httpspeaker: play: %w", err)
	}
	clip := audio.Volume(mono, vol)
	if playCtx.Err() != nil { // during the conversion: the speaker was never told
		return cutShort(ctx, playCtx)
	}
	clipURL, release, err := s.cfg.Server.Publish(clip)
	if err != nil {
		return err
	}

	// The clip is released when Play is done with it: at the end, or,
	// cut short, once the stop request is answered. Without a stop
	// endpoint, releasing it is all that can stop a speaker that streams.
	reqCtx, cancel := context.WithTimeout(playCtx, s.cfg.Timeout)
	err = s.control(reqCtx, s.cfg.PlayURL, clipURL)
	cancel()
	if err != nil && playCtx.Err() == nil {
		release()
		s.failed(err)
		return fmt.Errorf("httpspeaker: control request: %w", err)
	}
	if err == nil {
		s.answered()
		end := time.NewTimer(clip.Duration())
		defer end.Stop()
		select {
		case <-end.C:
			release()
			return nil
		case <-playCtx.Done():
		}
	}
	// Cut short, perhaps while the speaker was still being told to play.
	handedOver = s.stopLater(clipURL, release)
	return cutShort(ctx, playCtx)
}

// cutShort is what a Play cut short returns: speaker.ErrHalted, the
// closed speaker's error or the end of ctx.
func cutShort(ctx, playCtx context.Context) error {
	switch cause := context.Cause(playCtx); {
	case errors.Is(cause, speaker.ErrHalted), errors.Is(cause, errClosed):
		return cause
	default:
		return fmt.Errorf("httpspeaker: play: %w", ctx.Err())
	}
}

// stopLater sends the stop request, if there is a StopURL, in a
// goroutine that then releases the clip and gives the turn back; it
// reports whether it took over the turn. Close waits for it.
func (s *Speaker) stopLater(clipURL string, release func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.StopURL == "" || s.closed {
		release()
		return false
	}
	s.stops.Add(1)
	go func() {
		defer s.stops.Done()
		defer s.turn.Give()
		defer release()
		ctx, cancel := context.WithTimeout(s.life, s.cfg.Timeout)
		defer cancel()
		err := s.control(ctx, s.cfg.StopURL, clipURL)
		switch {
		case err == nil:
			s.answered()
		case s.life.Err() == nil: // not our own Close
			s.failed(fmt.Errorf("stop request: %w", err))
		}
	}()
	return true
}

// control calls one endpoint template with the clip's URL.
func (s *Speaker) control(ctx context.Context, tmpl, clipURL string) error {
	target := strings.ReplaceAll(tmpl, Placeholder, url.QueryEscape(clipURL))
	var body io.Reader
	if s.cfg.Method == http.MethodPost {
		b, err := json.Marshal(struct {
			URL string `json:"url"`
		}{clipURL})
		if err != nil {
			return fmt.Errorf("encode body: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, s.cfg.Method, target, body)
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // its URL carries the clip's, escaped: long and secret-ish
			err = ue.Err
		}
		return fmt.Errorf("%s %s: %w", s.cfg.Method, redact(tmpl), err)
	}
	defer resp.Body.Close()
	// Read for the reuse of the connection, and for what a refusing
	// speaker says: often that it could not fetch the clip, which points
	// at a wrong advertise host.
	said, _ := io.ReadAll(io.LimitReader(resp.Body, drainLimit))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		err := fmt.Errorf("%s %s: speaker answered %s", s.cfg.Method, redact(tmpl), resp.Status)
		if why := excerpt(said); why != "" {
			err = fmt.Errorf("%w: %s", err, why)
		}
		return err
	}
	return nil
}

// excerpt is the start of a response body, on one line, for an error.
func excerpt(b []byte) string {
	const limit = 200
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > limit {
		s = strings.ToValidUTF8(s[:limit], "") + "…"
	}
	return s
}

// redact is a template as it is logged: the clip's URL carries a token
// and is long, and the status is what matters.
func redact(tmpl string) string {
	if i := strings.IndexByte(tmpl, '?'); i >= 0 {
		return tmpl[:i]
	}
	return tmpl
}
