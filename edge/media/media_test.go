package media

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dalaba/dalaba/edge/store"
)

func hash(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// township serves files by sha256 with Range support (http.ServeContent);
// cut makes the first request stop after that many bytes.
type township struct {
	mu     sync.Mutex
	files  map[string][]byte
	cut    int
	ranges []string
	gets   atomic.Int32
	plain  bool // ignore Range, answer 200
}

func (tw *township) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tw.gets.Add(1)
	if u, p, ok := r.BasicAuth(); !ok || u != "village-1" || p != "pw" {
		http.Error(w, "who are you", http.StatusUnauthorized)
		return
	}
	sha := strings.TrimPrefix(r.URL.Path, "/media/")
	tw.mu.Lock()
	b, ok := tw.files[sha]
	cut := tw.cut
	tw.cut = 0
	tw.ranges = append(tw.ranges, r.Header.Get("Range"))
	plain := tw.plain
	tw.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if plain {
		r.Header.Del("Range")
	}
	if cut > 0 {
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.Write(b[:cut])
		hj, _ := w.(http.Hijacker)
		conn, _, _ := hj.Hijack()
		conn.Close() // the 4G link drops mid-file
		return
	}
	http.ServeContent(w, r, sha, time.Time{}, bytes.NewReader(b))
}

func newCache(t *testing.T, tw *township, max int64) (*Cache, string, *store.Store) {
	t.Helper()
	srv := httptest.NewServer(tw)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "edge.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c, err := New(Config{Dir: filepath.Join(dir, "media"), MaxBytes: max, BaseURL: srv.URL + "/media/", Username: "village-1", Password: "pw"}, Deps{DB: st.DB()})
	if err != nil {
		t.Fatal(err)
	}
	return c, dir, st
}

func blob(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

func TestFetchVerifyAndResume(t *testing.T) {
	data := blob(300_000, 1)
	sha := hash(data)
	tw := &township{files: map[string][]byte{sha: data}, cut: 100_000}
	c, _, _ := newCache(t, tw, 0)
	if _, err := c.Fetch(t.Context(), sha); err == nil {
		t.Fatal("a cut download reported success")
	}
	p, err := c.Fetch(t.Context(), sha)
	if err != nil {
		t.Fatal(err)
	}
	if tw.ranges[1] != "bytes=100000-" {
		t.Errorf("second request asked for %q, want a resume from 100000", tw.ranges[1])
	}
	rc, err := c.Open(sha)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) || !strings.HasSuffix(p, sha) {
		t.Fatal("cached bytes differ")
	}
	n := tw.gets.Load()
	if _, err := c.Fetch(t.Context(), sha); err != nil || tw.gets.Load() != n {
		t.Error("a cached file was downloaded again")
	}
}

func TestServerIgnoringRangeRestarts(t *testing.T) {
	data := blob(50_000, 2)
	sha := hash(data)
	tw := &township{files: map[string][]byte{sha: data}, cut: 20_000}
	c, _, _ := newCache(t, tw, 0)
	c.Fetch(t.Context(), sha)
	tw.plain = true
	if _, err := c.Fetch(t.Context(), sha); err != nil {
		t.Fatal(err)
	}
	rc, _ := c.Open(sha)
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("restart after a 200 produced wrong bytes")
	}
}

func TestBadContentAndErrors(t *testing.T) {
	data := blob(1000, 3)
	liar := hash([]byte("what the box was promised"))
	tw := &township{files: map[string][]byte{liar: data}}
	c, _, _ := newCache(t, tw, 0)
	if _, err := c.Fetch(t.Context(), liar); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("mismatch: %v", err)
	}
	if c.Has(liar) || c.Stats().Items != 0 {
		t.Fatal("mismatched content was cached")
	}
	if _, err := c.Fetch(t.Context(), hash([]byte("absent"))); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing file: %v", err)
	}
	for _, bad := range []string{"", "../../etc/passwd", strings.Repeat("A", 64), strings.Repeat("a", 63)} {
		if _, err := c.Fetch(t.Context(), bad); !errors.Is(err, ErrBadHash) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestConcurrentFetchDownloadsOnce(t *testing.T) {
	data := blob(200_000, 4)
	sha := hash(data)
	tw := &township{files: map[string][]byte{sha: data}}
	c, _, _ := newCache(t, tw, 0)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Fetch(t.Context(), sha); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := tw.gets.Load(); n != 1 {
		t.Errorf("%d downloads, want 1", n)
	}
}

func TestCapEvictsUnpinnedLRUAndRemoveDeletesPinned(t *testing.T) {
	tw := &township{files: map[string][]byte{}}
	var shas []string
	for i := 0; i < 4; i++ {
		b := blob(40_000, byte(10+i))
		shas = append(shas, hash(b))
		tw.files[hash(b)] = b
	}
	c, _, st := newCache(t, tw, 100_000)
	c.Pin([]string{shas[0]})
	for _, s := range shas {
		if _, err := c.Fetch(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	if s := c.Stats(); s.Bytes > 100_000 || !c.Has(shas[0]) || c.Has(shas[1]) || !c.Has(shas[3]) {
		t.Fatalf("after the cap: %+v, has %v %v %v %v", s, c.Has(shas[0]), c.Has(shas[1]), c.Has(shas[2]), c.Has(shas[3]))
	}
	if err := c.Remove(shas[0]); err != nil || c.Has(shas[0]) {
		t.Fatalf("a pinned item was not removed: %v", err)
	}
	// A new cache on the same files and index keeps what is there.
	c2, err := New(c.cfg, Deps{DB: st.DB()})
	if err != nil {
		t.Fatal(err)
	}
	if !c2.Has(shas[3]) || c2.Has(shas[0]) {
		t.Error("index lost across reopen")
	}
}

func BenchmarkFetchCached(b *testing.B) {
	data := blob(100_000, 9)
	sha := hash(data)
	tw := &township{files: map[string][]byte{sha: data}}
	srv := httptest.NewServer(tw)
	defer srv.Close()
	st, err := store.Open(filepath.Join(b.TempDir(), "edge.db"), store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	c, err := New(Config{Dir: b.TempDir(), BaseURL: srv.URL + "/media/", Username: "village-1", Password: "pw"}, Deps{DB: st.DB()})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if _, err := c.Fetch(b.Context(), sha); err != nil {
			b.Fatal(err)
		}
	}
}
