// Package media is the box's content-addressed audio cache. Announcements
// reach the box as sha256 references in the signed desired state; the
// cache downloads each from the township over HTTP (resuming an interrupted
// download), refuses bytes that do not hash to the reference, keeps what is
// scheduled pinned and evicts the least recently used rest past a size cap.
// It knows nothing of MQTT, schedules or the protocol.
package media

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Errors callers branch on.
var (
	ErrHashMismatch = errors.New("media: content does not match its sha256")
	ErrNotCached    = errors.New("media: not in the cache")
	ErrBadHash      = errors.New("media: not a sha256 (64 lowercase hex digits)")
)

var bucket = []byte("media")

// Config locates the cache and the township.
type Config struct {
	Dir      string
	MaxBytes int64  // default 512 MiB
	BaseURL  string // the file is BaseURL + hex sha256
	Username string // HTTP basic auth to the township
	Password string
	Client   *http.Client
}

// Deps are what the cache uses.
type Deps struct {
	Logger *slog.Logger
	DB     *bolt.DB // the box's bbolt file; the index lives in bucket "media"
	Now    func() time.Time
}

// Cache is the cache.
type Cache struct {
	cfg Config
	d   Deps
	log *slog.Logger

	mu       sync.Mutex
	pinned   map[string]bool
	inflight map[string]*call
}

type call struct {
	done chan struct{}
	err  error
}

// record is the index entry: size and last use, 16 bytes.
type record struct {
	size int64
	used int64 // Unix nanoseconds
}

func (r record) bytes() []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(r.size)), uint64(r.used))
}

func parse(v []byte) record {
	if len(v) != 16 {
		return record{}
	}
	return record{int64(binary.BigEndian.Uint64(v[:8])), int64(binary.BigEndian.Uint64(v[8:]))}
}

// New opens the cache and reconciles the index with the files: entries
// whose file is gone are dropped, files nobody indexed are removed
// (partial downloads are kept, to resume).
func New(cfg Config, deps Deps) (*Cache, error) {
	if cfg.Dir == "" || deps.DB == nil {
		return nil, errors.New("media: dir and db are required")
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 512 << 20
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Minute}
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "tmp"), 0o750); err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	c := &Cache{cfg: cfg, d: deps, log: deps.Logger.With("component", "media"), pinned: map[string]bool{}, inflight: map[string]*call{}}
	err := deps.DB.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		var gone [][]byte
		b.ForEach(func(k, v []byte) error {
			if st, err := os.Stat(c.path(string(k))); err != nil || st.Size() != parse(v).size {
				gone = append(gone, slices.Clone(k))
			}
			return nil
		})
		for _, k := range gone {
			os.Remove(c.path(string(k)))
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("media: index: %w", err)
	}
	return c, nil
}

// ValidHash checks a sha256 reference.
func ValidHash(sha string) error {
	if len(sha) != 64 {
		return ErrBadHash
	}
	for _, r := range sha {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return ErrBadHash
		}
	}
	return nil
}

func (c *Cache) path(sha string) string { return filepath.Join(c.cfg.Dir, sha[:2], sha) }
func (c *Cache) part(sha string) string { return filepath.Join(c.cfg.Dir, "tmp", sha+".part") }

// Has reports whether sha is cached.
func (c *Cache) Has(sha string) bool {
	if ValidHash(sha) != nil {
		return false
	}
	found := false
	c.d.DB.View(func(tx *bolt.Tx) error { found = tx.Bucket(bucket).Get([]byte(sha)) != nil; return nil })
	return found
}

// Fetch makes sha present and returns its path. Concurrent fetches of one
// sha share one download.
func (c *Cache) Fetch(ctx context.Context, sha string) (string, error) {
	if err := ValidHash(sha); err != nil {
		return "", err
	}
	if c.Has(sha) {
		c.touch(sha)
		return c.path(sha), nil
	}
	c.mu.Lock()
	if cl, ok := c.inflight[sha]; ok {
		c.mu.Unlock()
		select {
		case <-cl.done:
			if cl.err != nil {
				return "", cl.err
			}
			return c.path(sha), nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	cl := &call{done: make(chan struct{})}
	c.inflight[sha] = cl
	c.mu.Unlock()
	cl.err = c.download(ctx, sha)
	c.mu.Lock()
	delete(c.inflight, sha)
	c.mu.Unlock()
	close(cl.done)
	if cl.err != nil {
		return "", cl.err
	}
	c.evict()
	return c.path(sha), nil
}

// download fetches into the partial file, resuming from its length, then
// verifies, fsyncs and renames into place.
func (c *Cache) download(ctx context.Context, sha string) error {
	part := c.part(sha)
	f, err := os.OpenFile(part, os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.cfg.BaseURL+sha, nil)
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	if c.cfg.Username != "" {
		req.SetBasicAuth(c.cfg.Username, c.cfg.Password)
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := c.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("media: download %s: %w", sha[:12], err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
	case resp.StatusCode == http.StatusOK:
		// A server that ignores Range sends it all: start over.
		if err := f.Truncate(0); err != nil {
			return fmt.Errorf("media: %w", err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("media: %w", err)
		}
	default:
		return fmt.Errorf("media: download %s: HTTP %s", sha[:12], resp.Status)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		// The partial file stays; the next Fetch resumes it.
		return fmt.Errorf("media: download %s: %w", sha[:12], err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("media: %w", err)
	}
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	if hex.EncodeToString(h.Sum(nil)) != sha {
		f.Close()
		os.Remove(part)
		return fmt.Errorf("%w: %s", ErrHashMismatch, sha[:12])
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("media: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(c.path(sha)), 0o750); err != nil {
		return fmt.Errorf("media: %w", err)
	}
	if err := os.Rename(part, c.path(sha)); err != nil {
		return fmt.Errorf("media: %w", err)
	}
	return c.d.DB.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Put([]byte(sha), record{size, c.d.Now().UnixNano()}.bytes())
	})
}

func (c *Cache) touch(sha string) {
	c.d.DB.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		r := parse(b.Get([]byte(sha)))
		r.used = c.d.Now().UnixNano()
		return b.Put([]byte(sha), r.bytes())
	})
}

// Open reads a cached file, checking its size against the index. The full
// hash was checked when it arrived; the card is trusted after that.
func (c *Cache) Open(sha string) (io.ReadCloser, error) {
	if err := ValidHash(sha); err != nil {
		return nil, err
	}
	var r record
	c.d.DB.View(func(tx *bolt.Tx) error { r = parse(tx.Bucket(bucket).Get([]byte(sha))); return nil })
	if r.size == 0 {
		return nil, ErrNotCached
	}
	f, err := os.Open(c.path(sha))
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	if st, err := f.Stat(); err != nil || st.Size() != r.size {
		f.Close()
		return nil, fmt.Errorf("%w: %s changed on disk", ErrHashMismatch, sha[:12])
	}
	c.touch(sha)
	return f, nil
}

// Pin makes shas exactly the pinned set: never evicted while scheduled.
func (c *Cache) Pin(shas []string) {
	c.mu.Lock()
	c.pinned = map[string]bool{}
	for _, s := range shas {
		c.pinned[s] = true
	}
	c.mu.Unlock()
	c.evict()
}

// Remove deletes sha now, pinned or not: a revoked announcement leaves the
// box as soon as the box hears of it.
func (c *Cache) Remove(sha string) error {
	if err := ValidHash(sha); err != nil {
		return err
	}
	c.mu.Lock()
	delete(c.pinned, sha)
	c.mu.Unlock()
	os.Remove(c.part(sha))
	if err := os.Remove(c.path(sha)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("media: remove %s: %w", sha[:12], err)
	}
	return c.d.DB.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Delete([]byte(sha)) })
}

// Stats counts the cache.
type Stats struct {
	Items, Pinned int
	Bytes         int64
}

// Stats reads the index.
func (c *Cache) Stats() Stats {
	var s Stats
	c.mu.Lock()
	pinned := maps.Clone(c.pinned)
	c.mu.Unlock()
	c.d.DB.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			s.Items++
			s.Bytes += parse(v).size
			if pinned[string(k)] {
				s.Pinned++
			}
			return nil
		})
	})
	return s
}

// evict removes least recently used unpinned items until under the cap.
func (c *Cache) evict() {
	c.mu.Lock()
	pinned := maps.Clone(c.pinned)
	c.mu.Unlock()
	type item struct {
		sha string
		record
	}
	var items []item
	var total int64
	c.d.DB.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			r := parse(v)
			total += r.size
			if !pinned[string(k)] {
				items = append(items, item{string(k), r})
			}
			return nil
		})
	})
	slices.SortFunc(items, func(a, b item) int { return cmp.Compare(a.used, b.used) })
	for _, it := range items {
		if total <= c.cfg.MaxBytes {
			return
		}
		if err := c.Remove(it.sha); err != nil {
			c.log.Error("evicting", "sha256", it.sha, "err", err)
			continue
		}
		total -= it.size
		c.log.Info("evicted", "sha256", it.sha, "bytes", it.size)
	}
	if total > c.cfg.MaxBytes {
		c.log.Warn("pinned media alone exceed the cache cap", "bytes", total, "cap", c.cfg.MaxBytes)
	}
}
