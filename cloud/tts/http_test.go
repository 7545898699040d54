package tts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
)

// tone is d of a 440 Hz tone at about -12 dBFS as WAV.
func tone(t testing.TB, d time.Duration) []byte {
	t.Helper()
	const rate = 22050
	p := audio.PCM{Rate: rate, Channels: 1, Samples: make([]int16, int(d.Seconds()*rate))}
	for i := range p.Samples {
		p.Samples[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/rate))
	}
	var b bytes.Buffer
	if err := audio.EncodeWAV(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestHTTPEngine(t *testing.T) {
	wav := tone(t, time.Second)
	silent := new(bytes.Buffer)
	if err := audio.EncodeWAV(silent, audio.Silence(16000, 1, time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		cfg     HTTPConfig // URL filled in
		handler http.HandlerFunc
		want    error  // errors.Is; nil with text "" = success
		text    string // in the error
	}{
		{
			name: "wav",
			cfg:  HTTPConfig{Voice: "zh-CN-female", Header: map[string]string{"Authorization": "Bearer s3cret"}},
			handler: func(w http.ResponseWriter, r *http.Request) {
				var req struct{ Text, Voice string }
				if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" ||
					r.Header.Get("Authorization") != "Bearer s3cret" {
					http.Error(w, "bad request shape", http.StatusBadRequest)
					return
				}
				if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Text != sentence || req.Voice != "zh-CN-female" {
					http.Error(w, "bad body", http.StatusBadRequest)
					return
				}
				w.Header().Set("Content-Type", "audio/wav")
				w.Write(wav)
			},
		},
		{
			name: "server error",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "model not loaded", http.StatusInternalServerError)
			},
			text: "tts http: server answered 500: model not loaded",
		},
		{
			name: "html",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.Write([]byte("<html><body>登录</body></html>"))
			},
			want: ErrNotWAV, text: "not WAV",
		},
		{
			name: "truncated wav",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Write(wav[:len(wav)/2])
			},
			want: ErrNotWAV, text: "truncated",
		},
		{
			name: "silence",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Write(silent.Bytes())
			},
			want: ErrNoSpeech, text: "no speech",
		},
		{
			name: "oversize with length",
			cfg:  HTTPConfig{MaxBytes: 10000},
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(wav)))
				w.Write(wav)
			},
			text: "more than max_bytes 10000",
		},
		{
			name: "oversize streamed",
			cfg:  HTTPConfig{MaxBytes: 10000},
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Write(wav[:4096])
				w.(http.Flusher).Flush() // no Content-Length: chunked
				w.Write(wav[4096:])
			},
			text: "longer than max_bytes 10000",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()

			cfg := tc.cfg
			cfg.URL = srv.URL + "/api/tts?token=query-secret"
			e, err := NewHTTP(cfg)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			b, err := e.Synthesize(t.Context(), sentence)
			if tc.want == nil && tc.text == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(b, wav) {
					t.Fatalf("got %d bytes, want the server's %d", len(b), len(wav))
				}
				return
			}
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.text)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error leaks a secret: %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

func TestHTTPSlowServerTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices the client hanging up only once the body is
		// read; release ends the handler if that never comes.
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	e, err := NewHTTP(HTTPConfig{URL: srv.URL, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = e.Synthesize(t.Context(), sentence)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "tts http: post to 127.0.0.1") {
		t.Fatalf("err = %v, want a deadline posting", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("returned after %v, want about the 200 ms timeout", d)
	}
}

func TestHTTPRefusesBadTextBeforeAsking(t *testing.T) {
	var asked atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { asked.Store(true) }))
	defer srv.Close()
	e, err := NewHTTP(HTTPConfig{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Synthesize(t.Context(), "  "); !errors.Is(err, ErrBadText) {
		t.Fatalf("err = %v, want ErrBadText", err)
	}
	if asked.Load() {
		t.Fatal("the server was asked")
	}
}

func TestNewHTTP(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  HTTPConfig
		want string
	}{
		{"empty", HTTPConfig{}, "url is empty"},
		{"scheme", HTTPConfig{URL: "ftp://tts.example/"}, `scheme "ftp"`},
		{"no host", HTTPConfig{URL: "http:///x"}, "no host"},
		{"header", HTTPConfig{URL: "http://tts.example/", Header: map[string]string{"X": "a\r\nHost: evil"}}, "header"},
		{"negative", HTTPConfig{URL: "http://tts.example/", Timeout: -1, MaxBytes: -1}, "max_bytes -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewHTTP(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
