package media

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/protocol"
	"github.com/dalaba/dalaba/protocol/schedule"
)

const testMax = 1 << 20

type env struct {
	lib *Library
	st  store.Store
	dir string
	now time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	authn, err := fleet.NewAuthenticator(st, "dalaba_cloud")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, dir: filepath.Join(t.TempDir(), "media"), now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	e.lib, err = New(Config{Dir: e.dir, MaxBytes: testMax}, Deps{
		Logger: slog.New(slog.DiscardHandler), Index: st, Plans: st, Now: func() time.Time { return e.now },
		BoxAuth: func(ctx context.Context, user, pass string) (string, bool) {
			id, ok := authn.Authenticate(ctx, user, []byte(pass))
			return id.Box, ok && id.Box != ""
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// wav is seconds of a 440 Hz tone, mono 8 kHz, as a WAV file.
func wav(t testing.TB, seconds int) []byte {
	t.Helper()
	p := audio.PCM{Rate: 8000, Channels: 1, Samples: make([]int16, 8000*seconds)}
	for i := range p.Samples {
		p.Samples[i] = int16(8000 * ((i / 9) % 2))
	}
	var b bytes.Buffer
	if err := audio.EncodeWAV(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func shaOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// files lists what is in the media directory, tmp/ included.
func (e *env) files(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(e.dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPutGoodClips(t *testing.T) {
	mp3, err := os.ReadFile("../../devices/audio/testdata/voice.mp3")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, format string
		data         []byte
		minMS, maxMS int64
	}{
		{"早间新闻.wav", "wav", wav(t, 2), 2000, 2000},
		{"防汛通知.mp3", "mp3", mp3, 1, 10 * 60 * 1000},
	}
	e := newEnv(t)
	for _, c := range cases {
		t.Run(c.format, func(t *testing.T) {
			m, err := e.lib.Put(t.Context(), c.name, bytes.NewReader(c.data), "李干事")
			if err != nil {
				t.Fatal(err)
			}
			want := store.MediaInfo{SHA256: shaOf(c.data), Name: c.name, Format: c.format, Size: int64(len(c.data)), DurationMS: m.DurationMS, UploadedBy: "李干事", UploadedAt: e.now}
			if m != want || m.DurationMS < c.minMS || m.DurationMS > c.maxMS {
				t.Fatalf("Put = %+v, want %+v with %d-%d ms", m, want, c.minMS, c.maxMS)
			}
			got, err := os.ReadFile(filepath.Join(e.dir, m.SHA256))
			if err != nil || !bytes.Equal(got, c.data) {
				t.Fatalf("file on disk differs (%v)", err)
			}
			if idx, err := e.st.GetMedia(t.Context(), m.SHA256); err != nil || idx.Name != c.name {
				t.Fatalf("index: %+v, %v", idx, err)
			}
			f, om, err := e.lib.Open(t.Context(), m.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			if om.SHA256 != m.SHA256 {
				t.Fatalf("Open returned %+v", om)
			}
		})
	}
	t.Run("the same bytes again are the first clip", func(t *testing.T) {
		e.now = e.now.Add(time.Hour)
		m, err := e.lib.Put(t.Context(), "again.wav", bytes.NewReader(cases[0].data), "someone")
		if err != nil || m.Name != cases[0].name || m.UploadedBy != "李干事" {
			t.Fatalf("Put again = %+v, %v; want the first record", m, err)
		}
	})
}

func TestPutRefusesBadInput(t *testing.T) {
	good := wav(t, 1)
	random := make([]byte, 4096)
	_, _ = rand.Read(random) // crypto/rand.Read never fails on Linux
	random[0] = 'x'          // not a frame sync by chance
	cases := []struct {
		name     string
		clipName string
		data     []byte
		sentinel error
		msg      string
	}{
		{"truncated WAV", "cut.wav", good[:len(good)/2], ErrInvalid, "truncated"},
		{"random bytes", "noise.bin", random, ErrInvalid, "not a WAV or MP3 file"},
		{"text", "notes.txt", []byte("通知：明天停水"), ErrInvalid, "not a WAV or MP3 file"},
		{"empty", "empty.wav", nil, ErrInvalid, "empty file"},
		{"over the size limit", "big.wav", append(wav(t, 1), make([]byte, testMax)...), ErrTooLarge, fmt.Sprint(testMax)},
		{"no name", "", good, ErrInvalid, "name"},
		{"name too long", strings.Repeat("名", 100), good, ErrInvalid, "name"},
		{"control character in name", "a\nb.wav", good, ErrInvalid, "name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			_, err := e.lib.Put(t.Context(), c.clipName, bytes.NewReader(c.data), "李干事")
			if !errors.Is(err, c.sentinel) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("Put = %v, want %v saying %q", err, c.sentinel, c.msg)
			}
			if f := e.files(t); len(f) != 0 {
				t.Fatalf("a refused upload left %v", f)
			}
			if all, err := e.st.ListMedia(t.Context()); err != nil || len(all) != 0 {
				t.Fatalf("a refused upload was indexed: %v %v", all, err)
			}
		})
	}
}

func TestPutRefusesOverlongAudio(t *testing.T) {
	e := newEnv(t)
	e.lib.cfg.MaxBytes = 8 << 20
	p := audio.PCM{Rate: audio.MinRate, Channels: 1, Samples: make([]int16, audio.MinRate*int(audio.DefaultMaxDuration/time.Second+10))}
	var b bytes.Buffer
	if err := audio.EncodeWAV(&b, p); err != nil {
		t.Fatal(err)
	}
	_, err := e.lib.Put(t.Context(), "long.wav", &b, "x")
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "too long") {
		t.Fatalf("Put = %v, want ErrInvalid saying too long", err)
	}
	if f := e.files(t); len(f) != 0 {
		t.Fatalf("a refused upload left %v", f)
	}
}

// boxServer serves the box handler with box village-1 registered.
func boxServer(t *testing.T, e *env) (url, secret string) {
	t.Helper()
	secret = "village-1-secret"
	if err := e.st.CreateBox(t.Context(), store.Box{ID: "village-1", SecretHash: fleet.SecretHash(secret)}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateBox(t.Context(), store.Box{ID: "village-2", SecretHash: fleet.SecretHash("village-2-secret")}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(BoxPrefix, e.lib.BoxHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + BoxPrefix, secret
}

func get(t *testing.T, url, user, pass string, hdr map[string]string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

func TestBoxDownload(t *testing.T) {
	e := newEnv(t)
	base, secret := boxServer(t, e)
	clip, other, granted := wav(t, 1), wav(t, 2), wav(t, 3)
	for i, b := range [][]byte{clip, other, granted} {
		if _, err := e.lib.Put(t.Context(), fmt.Sprintf("clip-%d.wav", i), bytes.NewReader(b), "x"); err != nil {
			t.Fatal(err)
		}
	}
	chime := wav(t, 4)
	if _, err := e.lib.Put(t.Context(), "chime.wav", bytes.NewReader(chime), "x"); err != nil {
		t.Fatal(err)
	}
	err := e.st.UpdatePlan(t.Context(), "village-1", func(p *store.Plan) error {
		p.Broadcast = protocol.Broadcast{Chime: shaOf(chime), Schedules: []protocol.Schedule{{ID: "morning", Media: []string{shaOf(clip)}, Rule: schedule.Rule{At: []string{"07:30"}}}}}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.lib.Grant("village-1", []string{shaOf(granted)})

	t.Run("whole, then resumed with Range", func(t *testing.T) {
		code, b, h := get(t, base+shaOf(clip), "village-1", secret, nil)
		if code != 200 || !bytes.Equal(b, clip) || h.Get("Content-Type") != "audio/wav" || h.Get("Accept-Ranges") != "bytes" {
			t.Fatalf("GET: %d, %d bytes, %v", code, len(b), h)
		}
		code, b, h = get(t, base+shaOf(clip), "village-1", secret, map[string]string{"Range": "bytes=1000-", "If-Range": h.Get("ETag")})
		if code != http.StatusPartialContent || !bytes.Equal(b, clip[1000:]) {
			t.Fatalf("resume: %d, %d bytes (%s)", code, len(b), h.Get("Content-Range"))
		}
	})
	cases := []struct {
		name, sha, user, pass string
		want                  int
	}{
		{"the chime", shaOf(chime), "village-1", secret, 200},
		{"granted by a play command", shaOf(granted), "village-1", secret, 200},
		{"no credentials", shaOf(clip), "", "", 401},
		{"wrong password", shaOf(clip), "village-1", secret + "x", 401},
		{"another box's password", shaOf(clip), "village-1", "village-2-secret", 401},
		{"unknown box", shaOf(clip), "village-9", secret, 401},
		{"the cloud's own account", shaOf(clip), "dalaba_cloud", "", 401},
		{"not in the plan", shaOf(other), "village-1", secret, 404},
		{"another box's clip", shaOf(clip), "village-2", "village-2-secret", 404},
		{"another box's grant", shaOf(granted), "village-2", "village-2-secret", 404},
		{"not a sha", "..%2f..%2fcloud.db", "village-1", secret, 404},
		{"never uploaded", strings.Repeat("a", 64), "village-1", secret, 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, h := get(t, base+c.sha, c.user, c.pass, nil)
			if code != c.want {
				t.Fatalf("status %d, want %d", code, c.want)
			}
			if code == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic ") {
				t.Fatalf("401 without a Basic challenge: %v", h)
			}
		})
	}
	t.Run("a grant expires", func(t *testing.T) {
		e.now = e.now.Add(GrantTTL)
		if code, _, _ := get(t, base+shaOf(granted), "village-1", secret, nil); code != 404 {
			t.Fatalf("status %d after the grant expired, want 404", code)
		}
	})
}
