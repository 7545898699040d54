package speakersim

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
)

func startHTTP(t *testing.T, cfg HTTPConfig) *HTTPSim {
	t.Helper()
	s, err := NewHTTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return s
}

// files serves name -> content on loopback, as the box's clip server
// would.
func files(t *testing.T, content map[string][]byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := content[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func wav(t *testing.T, p audio.PCM) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := audio.EncodeWAV(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// tone is d of a 16 kHz stereo tone, so the simulator has to convert it.
func tone(d time.Duration) audio.PCM {
	p := audio.PCM{Rate: 16000, Channels: 2}
	for i := range int(d * 16000 / time.Second) {
		v := int16(8000 * ((i % 32) - 16) / 16)
		p.Samples = append(p.Samples, v, v)
	}
	return p
}

func get(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func playURL(s *HTTPSim, clip string) string {
	return strings.ReplaceAll(s.PlayURL(), "{url}", url.QueryEscape(clip))
}

func waitHTTP(t *testing.T, s *HTTPSim, what string, cond func(HTTPStats, int) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Wait(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v; stats %+v, heard %d", what, err, s.Stats(), s.Heard())
	}
}

func TestHTTPPlaysInRealTimeAndStops(t *testing.T) {
	s := startHTTP(t, HTTPConfig{Listen: "127.0.0.1:0"})
	clip := files(t, map[string][]byte{"/a.wav": wav(t, tone(5*time.Second))})
	start := time.Now()
	if code := get(t, playURL(s, clip.URL+"/a.wav")); code != http.StatusOK {
		t.Fatalf("play answered %d", code)
	}
	waitHTTP(t, s, "audio", func(st HTTPStats, n int) bool { return st.Plays == 1 && n >= 800 })
	// It plays with the clock: nowhere near the whole 5 s clip yet.
	if n, took := s.Heard(), time.Since(start); time.Duration(n)*time.Second/clockHz > took+100*time.Millisecond {
		t.Errorf("heard %d samples %s after the play request", n, took)
	}
	if code := get(t, s.StopURL()); code != http.StatusOK {
		t.Fatalf("stop answered %d", code)
	}
	n := s.Heard()
	time.Sleep(100 * time.Millisecond) // the recording must not grow after the stop
	if s.Heard() != n || len(s.Audio().Samples) != n {
		t.Errorf("heard %d, then %d (%d recorded) after the stop", n, s.Heard(), len(s.Audio().Samples))
	}
	if st := s.Stats(); st != (HTTPStats{Plays: 1, Stops: 1}) {
		t.Errorf("stats %+v", st)
	}
	got := s.Audio()
	if got.Rate != clockHz || got.Channels != 1 {
		t.Errorf("recording at %d Hz, %d channels", got.Rate, got.Channels)
	}
	s.Reset()
	if s.Heard() != 0 || len(s.Audio().Samples) != 0 || s.Plays() != 1 {
		t.Error("Reset must forget the audio and keep the statistics")
	}
}

func TestHTTPPostAndReplace(t *testing.T) {
	s := startHTTP(t, HTTPConfig{Listen: "127.0.0.1:0", MaxRecord: time.Second})
	clip := files(t, map[string][]byte{
		"/long.wav":  wav(t, tone(10*time.Second)),
		"/short.wav": wav(t, tone(200*time.Millisecond)),
	})
	if code := get(t, playURL(s, clip.URL+"/long.wav")); code != http.StatusOK {
		t.Fatalf("play answered %d", code)
	}
	waitHTTP(t, s, "the long clip", func(_ HTTPStats, n int) bool { return n > 0 })
	resp, err := http.Post("http://"+s.Addr().String()+"/api/play", "application/json",
		strings.NewReader(`{"url": "`+clip.URL+`/short.wav"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST play answered %s", resp.Status)
	}
	// The short clip replaced the long one, which had played for well
	// under a second, and plays to its end.
	waitHTTP(t, s, "the short clip", func(st HTTPStats, _ int) bool { return st.Plays == 2 })
	time.Sleep(300 * time.Millisecond) // the 200 ms clip is over
	n := s.Heard()
	time.Sleep(100 * time.Millisecond)
	if s.Heard() != n || n < 1600 || n > 1600+8000 {
		t.Errorf("heard %d samples, then %d: the long clip went on", n, s.Heard())
	}
	if got := len(s.Audio().Samples); got > clockHz {
		t.Errorf("kept %d samples, over MaxRecord", got)
	}
}

func TestHTTPRefuses(t *testing.T) {
	s := startHTTP(t, HTTPConfig{Listen: "127.0.0.1:0", FetchTimeout: 2 * time.Second})
	clip := files(t, map[string][]byte{"/text.wav": []byte("not audio at all, just text")})
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + closed.Addr().String() + "/a.wav"
	closed.Close()
	cases := []struct {
		name string
		url  string
		want int
	}{
		{"no URL", "http://" + s.Addr().String() + "/api/play", http.StatusBadRequest},
		{"not found", playURL(s, clip.URL+"/missing.wav"), http.StatusBadGateway},
		{"refused", playURL(s, refused), http.StatusBadGateway},
		{"not audio", playURL(s, clip.URL+"/text.wav"), http.StatusUnsupportedMediaType},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if code := get(t, c.url); code != c.want {
				t.Errorf("answered %d, want %d", code, c.want)
			}
			if st := s.Stats(); st.Failures != i+1 || st.Plays != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
	if s.Heard() != 0 {
		t.Errorf("heard %d samples of nothing", s.Heard())
	}
}

func TestNewHTTPRefuses(t *testing.T) {
	for _, cfg := range []HTTPConfig{
		{Listen: "nowhere"},
		{Listen: "127.0.0.1:0", FetchTimeout: -time.Second},
		{Listen: "127.0.0.1:0", MaxRecord: -time.Second},
		{Listen: "192.0.2.254:0"}, // not an address of this host
	} {
		if s, err := NewHTTP(cfg); err == nil {
			s.Close()
			t.Errorf("%+v accepted", cfg)
		}
	}
}
