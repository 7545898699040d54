package httpspeaker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker"
	"github.com/dalaba/dalaba/devices/speaker/speakersim"
	"github.com/dalaba/dalaba/devices/speaker/speakertest"
)

// server starts a clip server on loopback for the length of the test.
func server(t *testing.T) *Server {
	t.Helper()
	s, err := NewServer(ServerConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return s
}

// sim starts a simulated play-URL speaker for the length of the test.
func sim(t *testing.T, listen string) *speakersim.HTTPSim {
	t.Helper()
	s, err := speakersim.NewHTTP(speakersim.HTTPConfig{Listen: listen})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("speakersim: %v", err)
		}
	})
	return s
}

func newSpeaker(t *testing.T, cfg Config) *Speaker {
	t.Helper()
	sp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sp.Close(); err != nil {
			t.Error(err)
		}
	})
	return sp
}

// simConfig is a speaker driving s by GET or POST, stopping it too.
func simConfig(srv *Server, s *speakersim.HTTPSim, method string) Config {
	cfg := Config{Server: srv, PlayURL: s.PlayURL(), Method: method, StopURL: s.StopURL()}
	if method == http.MethodPost {
		cfg.PlayURL = strings.TrimSuffix(cfg.PlayURL, "?url={url}") // the URL goes in the body
	}
	return cfg
}

func heard(s *speakersim.HTTPSim) func() time.Duration {
	return func() time.Duration { return time.Duration(s.Heard()) * time.Second / 8000 }
}

func TestConformance(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			speakertest.Run(t, func(t *testing.T) speakertest.Subject {
				srv, s := server(t), sim(t, "127.0.0.1:0")
				sp := newSpeaker(t, simConfig(srv, s, method))
				return speakertest.Subject{Speaker: sp, Heard: heard(s)}
			})
		})
	}
}

// speech is a voice-like test signal at 44.1 kHz stereo: a gliding
// fundamental with harmonics under a syllable-rate envelope, and energy
// above 4 kHz that resampling to 8 kHz has to remove.
func speech() audio.PCM {
	const rate = 44100
	p := audio.PCM{Rate: rate, Channels: 2}
	for i := range rate {
		t := float64(i) / rate
		env := 0.55 + 0.45*math.Sin(2*math.Pi*4*t)
		phase := 2 * math.Pi * (140*t - 60/(2*math.Pi*1.3)*math.Cos(2*math.Pi*1.3*t))
		v := 0.0
		for h := 1; h <= 12; h++ {
			v += math.Sin(float64(h)*phase) / float64(h)
		}
		v = env*5000*v + 1500*math.Sin(2*math.Pi*6500*t)
		p.Samples = append(p.Samples, int16(v), int16(0.8*v))
	}
	return p
}

// correlation is the normalised correlation of a and b over their common
// length: 1 for the same waveform at any level.
func correlation(a, b []int16) float64 {
	n := min(len(a), len(b))
	var ab, aa, bb float64
	for i := range n {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

func rms(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(s)))
}

func TestAudioSurvivesTheRoundTrip(t *testing.T) {
	mp3, err := os.ReadFile("../../audio/testdata/voice.mp3")
	if err != nil {
		t.Fatal(err)
	}
	voice, err := audio.Decode(mp3, audio.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		src    audio.PCM
		rate   int
		volume int
		method string
	}{
		{"44.1 kHz stereo at 16 kHz by GET", speech(), 0, 0, http.MethodGet},
		{"44.1 kHz stereo at 8 kHz by POST", speech(), 8000, 0, http.MethodPost},
		{"MP3 voice at 22.05 kHz", voice, 22050, 0, http.MethodGet},
		{"44.1 kHz stereo at volume 50", speech(), 0, 50, http.MethodGet},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, s := server(t), sim(t, "127.0.0.1:0")
			cfg := simConfig(srv, s, c.method)
			cfg.Rate, cfg.Volume = c.rate, c.volume
			sp := newSpeaker(t, cfg)
			if err := sp.Play(t.Context(), c.src); err != nil {
				t.Fatal(err)
			}
			want, err := audio.Convert(c.src, 8000, 1)
			if err != nil {
				t.Fatal(err)
			}
			// Play waited the clip's length from the speaker's answer, and
			// the speaker began before it answered: all of it has played.
			got := s.Audio()
			if d := len(got.Samples) - len(want.Samples); d < -8 || d > 8 {
				t.Fatalf("heard %d samples, want %d", len(got.Samples), len(want.Samples))
			}
			r := correlation(want.Samples, got.Samples)
			t.Logf("normalised correlation %.4f", r)
			if r < 0.95 {
				t.Errorf("normalised correlation %.4f, want at least 0.95", r)
			}
			gain := rms(got.Samples) / rms(want.Samples)
			wantGain := 1.0
			if c.volume != 0 {
				wantGain = float64(c.volume*c.volume) / 1e4 // the square law
			}
			if math.Abs(gain/wantGain-1) > 0.1 {
				t.Errorf("level %.3f of the source, want %.3f", gain, wantGain)
			}
			if st := s.Stats(); st.Plays != 1 || st.Failures != 0 || st.Stops != 0 {
				t.Errorf("speaker stats %+v", st)
			}
			if n := srv.Published(); n != 0 {
				t.Errorf("%d clips still published after Play", n)
			}
		})
	}
}

// freePort is a loopback address nobody listens on, for now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func short() audio.PCM { return audio.Silence(16000, 1, 100*time.Millisecond) }

func TestUnreachableThenBack(t *testing.T) {
	srv := server(t)
	addr := freePort(t)
	sp := newSpeaker(t, Config{Server: srv, PlayURL: "http://" + addr + "/api/play?url={url}"})
	start := time.Now()
	err := sp.Play(t.Context(), short())
	if err == nil || !strings.Contains(err.Error(), "httpspeaker: control request") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Play to a closed port: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Play to a closed port took %s", took)
	}
	h := sp.Health()
	if h.Reachable || !strings.Contains(h.LastError, "refused") {
		t.Errorf("health %+v after a refused connection", h)
	}
	if srv.Published() != 0 {
		t.Error("the clip of a failed Play is still published")
	}
	// The speaker comes up on that port.
	sim(t, addr)
	if err := sp.Play(t.Context(), short()); err != nil {
		t.Fatalf("Play once the speaker is up: %v", err)
	}
	if h := sp.Health(); !h.Reachable || h.LastError != "" || !h.Since.After(start) {
		t.Errorf("health %+v after a successful Play", h)
	}
}

func TestBadAnswers(t *testing.T) {
	var healthy atomic.Bool
	var mode atomic.Value // of string: how the device misbehaves
	dev := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case healthy.Load():
		case mode.Load() == "503":
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case mode.Load() == "404":
			http.NotFound(w, r)
		case mode.Load() == "slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}
	}))
	t.Cleanup(dev.Close)
	srv := server(t)
	cases := []struct {
		mode    string
		timeout time.Duration
		want    string
	}{
		{"503", 0, "503 Service Unavailable"},
		{"404", 0, "404 Not Found"},
		{"slow", 200 * time.Millisecond, "deadline exceeded"},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			mode.Store(c.mode)
			healthy.Store(false)
			sp := newSpeaker(t, Config{Server: srv, PlayURL: dev.URL + "/play?u={url}", Timeout: c.timeout})
			start := time.Now()
			err := sp.Play(t.Context(), short())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Play: %v, want an error naming %q", err, c.want)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("failing took %s", took)
			}
			if h := sp.Health(); h.Reachable || !strings.Contains(h.LastError, c.want) {
				t.Errorf("health %+v", h)
			}
			healthy.Store(true)
			if err := sp.Play(t.Context(), short()); err != nil {
				t.Fatal(err)
			}
			if h := sp.Health(); !h.Reachable || h.LastError != "" {
				t.Errorf("health %+v after a success", h)
			}
		})
	}
}

func TestCutShortCallsStop(t *testing.T) {
	cases := []struct {
		name   string
		method string
		halt   bool
		noStop bool
	}{
		{"halt by GET", http.MethodGet, true, false},
		{"cancel by POST", http.MethodPost, false, false},
		{"halt without a stop URL", http.MethodGet, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, s := server(t), sim(t, "127.0.0.1:0")
			cfg := simConfig(srv, s, c.method)
			if c.noStop {
				cfg.StopURL = ""
			}
			sp := newSpeaker(t, cfg)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- sp.Play(ctx, audio.Silence(16000, 1, 30*time.Second)) }()
			wctx, wcancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer wcancel()
			if err := s.Wait(wctx, func(st speakersim.HTTPStats, n int) bool { return st.Plays == 1 && n > 0 }); err != nil {
				t.Fatal(err)
			}
			want := context.Canceled
			if c.halt {
				want = speaker.ErrHalted
				if err := sp.Halt(); err != nil {
					t.Fatal(err)
				}
			} else {
				cancel()
			}
			if err := <-done; !errors.Is(err, want) {
				t.Fatalf("Play: %v, want %v", err, want)
			}
			if c.noStop {
				// The clip is withdrawn at once, the only stop there is.
				if n := srv.Published(); n != 0 {
					t.Errorf("%d clips published after the Play was cut short", n)
				}
				if st := s.Stats(); st.Stops != 0 {
					t.Errorf("stats %+v", st)
				}
				return
			}
			if err := s.Wait(wctx, func(st speakersim.HTTPStats, _ int) bool { return st.Stops == 1 }); err != nil {
				t.Fatalf("the speaker was not stopped: %v", err)
			}
			n := s.Heard()
			// The next Play waits for the stop request, so the stop cannot
			// cut it.
			if err := sp.Play(t.Context(), short()); err != nil {
				t.Fatal(err)
			}
			if st := s.Stats(); st.Plays != 2 || st.Stops != 1 {
				t.Errorf("stats %+v", st)
			}
			if d := s.Heard() - n; d < 760 || d > 840 {
				t.Errorf("heard %d samples of a 100 ms clip after the stop", d)
			}
			if h := sp.Health(); !h.Reachable {
				t.Errorf("health %+v", h)
			}
			if n := srv.Published(); n != 0 {
				t.Errorf("%d clips still published", n)
			}
		})
	}
}

func TestServerServesClips(t *testing.T) {
	srv := server(t)
	clip := audio.Chime(16000)
	u, release, err := srv.Publish(clip)
	if err != nil {
		t.Fatal(err)
	}
	var whole bytes.Buffer
	if err := audio.EncodeWAV(&whole, clip); err != nil {
		t.Fatal(err)
	}
	base := "http://" + srv.Addr().String()
	if !strings.HasPrefix(u, base+"/clips/") || !strings.HasSuffix(u, ".wav") {
		t.Fatalf("clip URL %q", u)
	}
	u2, release2, err := srv.Publish(clip)
	if err != nil {
		t.Fatal(err)
	}
	defer release2()
	if u2 == u {
		t.Fatal("two clips share a URL")
	}
	n := whole.Len()
	cases := []struct {
		name   string
		method string
		url    string
		rng    string
		status int
		body   []byte
	}{
		{"whole", http.MethodGet, u, "", http.StatusOK, whole.Bytes()},
		{"header by range", http.MethodGet, u, "bytes=0-43", http.StatusPartialContent, whole.Bytes()[:44]},
		{"tail by range", http.MethodGet, u, "bytes=1000-", http.StatusPartialContent, whole.Bytes()[1000:]},
		{"last bytes", http.MethodGet, u, "bytes=-10", http.StatusPartialContent, whole.Bytes()[n-10:]},
		{"range past the end", http.MethodGet, u, "bytes=99999999-", http.StatusRequestedRangeNotSatisfiable, nil},
		{"head", http.MethodHead, u, "", http.StatusOK, nil},
		{"unknown token", http.MethodGet, base + "/clips/AAAAAAAAAAAAAAAAAAAAAA.wav", "", http.StatusNotFound, nil},
		{"token without .wav", http.MethodGet, strings.TrimSuffix(u, ".wav"), "", http.StatusNotFound, nil},
		{"elsewhere", http.MethodGet, base + "/", "", http.StatusNotFound, nil},
		{"post", http.MethodPost, u, "", http.StatusMethodNotAllowed, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), c.method, c.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.rng != "" {
				req.Header.Set("Range", c.rng)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != c.status {
				t.Fatalf("status %s, want %d", resp.Status, c.status)
			}
			if c.body != nil && !bytes.Equal(body, c.body) {
				t.Errorf("got %d bytes, not the %d expected", len(body), len(c.body))
			}
			if c.status/100 == 2 && resp.Header.Get("Content-Type") != "audio/wav" {
				t.Errorf("content type %q", resp.Header.Get("Content-Type"))
			}
		})
	}
	release()
	release() // harmless twice
	if resp, err := http.Get(u); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a released clip answers %s", resp.Status)
	}
	if srv.Published() != 1 {
		t.Errorf("%d clips published, want the other one", srv.Published())
	}
}

func TestServerConfig(t *testing.T) {
	s, err := NewServer(ServerConfig{Listen: "127.0.0.1:0", AdvertiseHost: "box.lan"})
	if err != nil {
		t.Fatal(err)
	}
	u, release, err := s.Publish(short())
	if err != nil {
		t.Fatal(err)
	}
	release()
	if want := "http://box.lan:" + strconv.Itoa(s.Addr().Port) + "/clips/"; !strings.HasPrefix(u, want) {
		t.Errorf("URL %q, want it under %q", u, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Publish(short()); err == nil {
		t.Error("a closed server publishes")
	}
	if err := s.Run(t.Context()); err != nil {
		t.Errorf("Run after Close: %v", err)
	}
	for _, c := range []struct {
		cfg  ServerConfig
		want string
	}{
		{ServerConfig{Listen: "nowhere"}, "listen address"},
		{ServerConfig{Listen: "0.0.0.0:0"}, "advertise host"},
		{ServerConfig{Listen: ":0"}, "advertise host"},
		{ServerConfig{Listen: "127.0.0.1:0", AdvertiseHost: "box.lan:8090"}, "without a port"},
		{ServerConfig{Listen: "127.0.0.1:0", AdvertiseHost: "http://box.lan"}, "bare host"},
		{ServerConfig{Listen: "192.0.2.254:0", AdvertiseHost: "box.lan"}, "listen"}, // not an address of this host
	} {
		if s, err := NewServer(c.cfg); err == nil {
			s.Close()
			t.Errorf("%+v accepted", c.cfg)
		} else if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want it to say %q", c.cfg, err, c.want)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	srv := server(t)
	good := Config{Server: srv, PlayURL: "http://10.0.0.7/api/play?url={url}"}
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no server", func(c *Config) { c.Server = nil }, "no server"},
		{"no play URL", func(c *Config) { c.PlayURL = "" }, "play URL: empty"},
		{"no placeholder", func(c *Config) { c.PlayURL = "http://10.0.0.7/api/play" }, "no {url}"},
		{"scheme", func(c *Config) { c.PlayURL = "ftp://10.0.0.7/play?url={url}" }, "http or https"},
		{"no host", func(c *Config) { c.PlayURL = "http:///play?url={url}" }, "no host"},
		{"not a URL", func(c *Config) { c.PlayURL = "http://10.0.0.7:port/?url={url}" }, "play URL"},
		{"stop scheme", func(c *Config) { c.StopURL = "10.0.0.7/stop" }, "stop URL"},
		{"method", func(c *Config) { c.Method = "PUT" }, "GET or POST"},
		{"rate", func(c *Config) { c.Rate = 1000 }, "rate 1000"},
		{"volume", func(c *Config) { c.Volume = 101 }, "volume 101"},
		{"timeout", func(c *Config) { c.Timeout = -time.Second }, "timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			c.edit(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "httpspeaker: config: ") {
				t.Errorf("New: %v, want an error saying %q", err, c.want)
			}
		})
	}
	// POST carries the URL in its body, so the placeholder is optional.
	cfg := good
	cfg.Method, cfg.PlayURL = "post", "https://10.0.0.7/api/play"
	sp, err := New(cfg)
	if err != nil {
		t.Fatalf("POST without a placeholder: %v", err)
	}
	sp.Close()
}

// A speaker that cannot reach the box (a wrong advertise host) refuses
// the clip, and the error says what it said.
func TestSpeakerCannotFetch(t *testing.T) {
	srv, err := NewServer(ServerConfig{Listen: "127.0.0.1:0", AdvertiseHost: "127.0.0.2"}) // nobody there
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	s := sim(t, "127.0.0.1:0")
	sp := newSpeaker(t, simConfig(srv, s, http.MethodGet))
	err = sp.Play(t.Context(), short())
	if err == nil || !strings.Contains(err.Error(), "502 Bad Gateway: fetch:") {
		t.Fatalf("Play: %v, want the speaker's 502 and why", err)
	}
	if h := sp.Health(); h.Reachable || !strings.Contains(h.LastError, "502") {
		t.Errorf("health %+v", h)
	}
	if st := s.Stats(); st.Failures != 1 || st.Plays != 0 {
		t.Errorf("speaker stats %+v", st)
	}
}
