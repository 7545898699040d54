package media

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/protocol"
)

// DefaultMaxBytes bounds an upload when Config.MaxBytes is zero: a
// 10-minute announcement is a few MB of MP3 or 19 MB of 16 kHz WAV.
const DefaultMaxBytes = 32 << 20

// Defaults for the upload bound. Uploads stream to disk, so what the
// bound saves is disk bandwidth and the CPU an MP3 check takes, not memory:
// a few at once keep a two-core server answering everything else.
const (
	DefaultMaxUploads = 4
	DefaultUploadWait = 30 * time.Second
)

// Errors callers branch on; nothing was stored when Put returns one.
var (
	ErrInvalid  = errors.New("media: invalid")   // not audio, broken audio, a bad name
	ErrTooLarge = errors.New("media: too large") // over Config.MaxBytes
	// ErrBusy: Config.MaxUploads clips were being stored for all of
	// Config.UploadWait. Try again later (HTTP: 503 with Retry-After).
	ErrBusy = errors.New("media: too many uploads at once")
)

// Config says where clips live, how big one may be and how many are taken
// at once.
type Config struct {
	Dir      string // holds <sha256> files and tmp/
	MaxBytes int64  // of one clip; 0 = DefaultMaxBytes, at most protocol.MaxMediaBytes
	// MaxUploads is how many Puts read, check and write at once; 0 =
	// DefaultMaxUploads. Beyond it a Put waits, reading nothing of its
	// body (TCP holds the client back), for up to UploadWait (0 =
	// DefaultUploadWait) or until its context ends, then returns ErrBusy.
	MaxUploads int
	UploadWait time.Duration
}

// BoxAuth checks a box's MQTT credentials and returns its id.
type BoxAuth func(ctx context.Context, user, password string) (box string, ok bool)

// Plans reads a box's broadcast plan, to see which clips it may download.
type Plans interface {
	GetPlan(ctx context.Context, boxID string) (store.Plan, error)
}

// Deps are what the library uses.
type Deps struct {
	Logger  *slog.Logger
	Index   store.MediaIndex
	Plans   Plans
	BoxAuth BoxAuth
	Now     func() time.Time // nil = time.Now
}

// Library is the clip store on disk and its index.
type Library struct {
	cfg   Config
	log   *slog.Logger
	index store.MediaIndex
	plans Plans
	auth  BoxAuth
	now   func() time.Time

	// slots holds a token per Put in progress, at most MaxUploads.
	slots chan struct{}
	// putMu serialises the check-rename-index of Put, so two uploads of
	// the same bytes never remove each other's file.
	putMu  sync.Mutex
	grants grants
}

// New checks cfg and deps, creates the directory and removes temporary
// files a crash left behind.
func New(cfg Config, deps Deps) (*Library, error) {
	var errs []error
	if cfg.Dir == "" {
		errs = append(errs, errors.New("no directory"))
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxBytes < 0 || cfg.MaxBytes > protocol.MaxMediaBytes {
		errs = append(errs, fmt.Errorf("max bytes %d: want 1 to %d", cfg.MaxBytes, protocol.MaxMediaBytes))
	}
	if cfg.MaxUploads == 0 {
		cfg.MaxUploads = DefaultMaxUploads
	}
	if cfg.UploadWait == 0 {
		cfg.UploadWait = DefaultUploadWait
	}
	if cfg.MaxUploads < 0 || cfg.UploadWait < 0 {
		errs = append(errs, fmt.Errorf("max uploads %d, upload wait %s: want positive", cfg.MaxUploads, cfg.UploadWait))
	}
	if deps.Logger == nil || deps.Index == nil || deps.Plans == nil || deps.BoxAuth == nil {
		errs = append(errs, errors.New("Deps.Logger, Index, Plans and BoxAuth are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("media: new: %w", err)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	tmp := filepath.Join(cfg.Dir, "tmp")
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("media: new: clear %s: %w", tmp, err)
	}
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return nil, fmt.Errorf("media: new: %w", err)
	}
	return &Library{
		cfg: cfg, log: deps.Logger.With("component", "media"), index: deps.Index, plans: deps.Plans,
		auth: deps.BoxAuth, now: deps.Now, grants: grants{m: map[string]map[string]time.Time{}},
		slots: make(chan struct{}, cfg.MaxUploads),
	}, nil
}

// MaxBytes is the largest clip Put accepts.
func (l *Library) MaxBytes() int64 { return l.cfg.MaxBytes }

func (l *Library) path(sha string) string { return filepath.Join(l.cfg.Dir, sha) }

// ValidateName checks a clip's display name: 1 to protocol.MaxNameLen bytes
// of UTF-8 without control characters (it lands in the desired state, logs
// and the console).
func ValidateName(name string) error {
	if name == "" || len(name) > protocol.MaxNameLen || !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return fmt.Errorf("%w: name %q: want 1 to %d bytes of printable UTF-8", ErrInvalid, name, protocol.MaxNameLen)
	}
	return nil
}

// Put reads a clip from r (at most MaxBytes), checks it decodes as WAV or
// MP3, stores it under its sha256 and indexes it as name, uploaded by by.
// The same bytes again return the clip already stored. It returns after
// the file and the index are durable; on any error nothing is left, no
// temporary file either.
//
// The clip is never held in memory: it streams into a temporary file in
// the library's directory while it is hashed, is checked from that file
// (audio.Probe, which keeps no samples), fsynced and renamed into place.
// At most MaxUploads Puts run at once; see Config.
func (l *Library) Put(ctx context.Context, name string, r io.Reader, by string) (store.MediaInfo, error) {
	name = strings.TrimSpace(name)
	if err := ValidateName(name); err != nil {
		return store.MediaInfo{}, err
	}
	release, err := l.acquire(ctx)
	if err != nil {
		return store.MediaInfo{}, fmt.Errorf("media: put %q: %w", name, err)
	}
	defer release()

	f, err := os.CreateTemp(filepath.Join(l.cfg.Dir, "tmp"), "upload-*")
	if err != nil {
		return store.MediaInfo{}, fmt.Errorf("media: put %q: %w", name, err)
	}
	tmp := f.Name()
	defer func() {
		f.Close() // a second Close after the checked one only errs
		if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
			l.log.Error("temporary upload left on disk", "file", tmp, "err", err)
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, l.cfg.MaxBytes+1))
	if err != nil {
		return store.MediaInfo{}, fmt.Errorf("media: read %q: %w", name, err)
	}
	if n > l.cfg.MaxBytes {
		return store.MediaInfo{}, fmt.Errorf("%w: %q is over %d bytes", ErrTooLarge, name, l.cfg.MaxBytes)
	}
	rf := &readBack{f: f}
	info, err := probe(rf, n, l.cfg.MaxBytes)
	if rf.err != nil { // the disk failed, not the clip
		return store.MediaInfo{}, fmt.Errorf("media: put %q: read back: %w", name, rf.err)
	}
	if err != nil {
		return store.MediaInfo{}, fmt.Errorf("%w: %q: %w", ErrInvalid, name, err)
	}
	if err := f.Sync(); err != nil {
		return store.MediaInfo{}, fmt.Errorf("media: put %q: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return store.MediaInfo{}, fmt.Errorf("media: put %q: %w", name, err)
	}
	m := store.MediaInfo{
		SHA256: hex.EncodeToString(h.Sum(nil)), Name: name, Format: strings.ToLower(info.Format.String()),
		Size: n, DurationMS: info.Duration().Milliseconds(), UploadedBy: by, UploadedAt: l.now(),
	}

	l.putMu.Lock()
	defer l.putMu.Unlock()
	if old, err := l.index.GetMedia(ctx, m.SHA256); err == nil {
		if _, err := os.Stat(l.path(m.SHA256)); err == nil {
			return old, nil
		}
		// Indexed but gone from disk (restored from a backup of the store
		// alone): write it again under its first record.
		m = old
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.MediaInfo{}, fmt.Errorf("media: put %q: %w", name, err)
	}
	_, statErr := os.Stat(l.path(m.SHA256))
	existed := statErr == nil
	if err := l.place(tmp, m.SHA256); err != nil {
		return store.MediaInfo{}, fmt.Errorf("media: put %q: %w", name, err)
	}
	if err := l.index.PutMedia(ctx, m); err != nil {
		if !existed {
			if rerr := os.Remove(l.path(m.SHA256)); rerr != nil {
				l.log.Error("unindexed clip left on disk", "sha256", m.SHA256, "err", rerr)
			}
		}
		return store.MediaInfo{}, fmt.Errorf("media: put %q: %w", name, err)
	}
	l.log.Info("clip stored", "sha256", m.SHA256, "name", name, "format", m.Format, "bytes", m.Size, "duration_ms", m.DurationMS, "user", by)
	return m, nil
}

// acquire takes an upload slot, waiting up to UploadWait or until ctx
// ends. The answer to a client that gave up is its context's error; to one
// still waiting after UploadWait, ErrBusy.
func (l *Library) acquire(ctx context.Context) (release func(), err error) {
	select {
	case l.slots <- struct{}{}:
		return func() { <-l.slots }, nil
	default:
	}
	wait := time.NewTimer(l.cfg.UploadWait)
	defer wait.Stop()
	select {
	case l.slots <- struct{}{}:
		return func() { <-l.slots }, nil
	case <-wait.C:
		return nil, fmt.Errorf("%w: %d being stored for %s", ErrBusy, cap(l.slots), l.cfg.UploadWait)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// probe checks the n bytes in f with the box's decoder rules and says
// plainly what is wrong.
func probe(f io.ReaderAt, n, max int64) (audio.Info, error) {
	if n == 0 {
		return audio.Info{}, errors.New("empty file")
	}
	info, err := audio.Probe(f, n, audio.Limits{MaxBytes: max})
	detail := func(sentinel error) string {
		return strings.TrimPrefix(strings.TrimPrefix(err.Error(), sentinel.Error()), ": ")
	}
	switch {
	case err == nil:
		return info, nil
	case errors.Is(err, audio.ErrUnknownFormat):
		return audio.Info{}, errors.New("not a WAV or MP3 file")
	case errors.Is(err, audio.ErrTruncated):
		return audio.Info{}, fmt.Errorf("truncated: %s", detail(audio.ErrTruncated))
	case errors.Is(err, audio.ErrTooLong):
		return audio.Info{}, fmt.Errorf("too long: %s", detail(audio.ErrTooLong))
	case errors.Is(err, audio.ErrUnsupported):
		return audio.Info{}, fmt.Errorf("unsupported encoding: %s", detail(audio.ErrUnsupported))
	}
	return audio.Info{}, fmt.Errorf("malformed: %s", detail(audio.ErrMalformed))
}

// readBack reads the spooled upload for the check and keeps the first
// error the disk gave, which the decoder would otherwise report as a
// broken clip.
type readBack struct {
	f   io.ReaderAt
	err error
}

func (r *readBack) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.f.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) && r.err == nil {
		r.err = err
	}
	return n, err
}

// place renames the fsynced temporary file tmp to path(sha) and fsyncs the
// directory: a crash leaves the whole clip or none.
func (l *Library) place(tmp, sha string) error {
	if err := os.Rename(tmp, l.path(sha)); err != nil {
		return err
	}
	d, err := os.Open(l.cfg.Dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Open returns the clip sha and its record; store.ErrNotFound when it is
// not a sha256, not indexed or not on disk.
func (l *Library) Open(ctx context.Context, sha string) (*os.File, store.MediaInfo, error) {
	if err := protocol.ValidateSHA256(sha); err != nil {
		return nil, store.MediaInfo{}, fmt.Errorf("media: open: %w: %v", store.ErrNotFound, err)
	}
	m, err := l.index.GetMedia(ctx, sha)
	if err != nil {
		return nil, store.MediaInfo{}, fmt.Errorf("media: open %s: %w", sha, err)
	}
	f, err := os.Open(l.path(sha))
	if errors.Is(err, os.ErrNotExist) {
		l.log.Error("indexed clip missing from disk", "sha256", sha)
		return nil, store.MediaInfo{}, fmt.Errorf("media: open %s: %w: not on disk", sha, store.ErrNotFound)
	}
	if err != nil {
		return nil, store.MediaInfo{}, fmt.Errorf("media: open %s: %w", sha, err)
	}
	return f, m, nil
}
