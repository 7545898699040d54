package release

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// BoxPrefix is the path boxes download binaries under.
const BoxPrefix = "/releases/"

// Sentinel errors.
var (
	// ErrInvalid: a release the township refuses (version, architecture,
	// a file that is not a program for it, none at all); nothing stored.
	ErrInvalid = errors.New("release: invalid")
	// ErrTooLarge: a binary over Config.MaxBytes.
	ErrTooLarge = errors.New("release: binary too large")
	// ErrBusy: too many uploads at once for UploadWait.
	ErrBusy = errors.New("release: too many uploads at once")
)

// Config is where binaries live and how many may be uploaded at once.
type Config struct {
	Dir        string
	MaxBytes   int64         // per binary; 0: protocol.MaxReleaseSize
	MaxUploads int           // 0: 2
	UploadWait time.Duration // 0: 10s
}

// BoxAuth checks a box's credentials and returns its id.
type BoxAuth func(ctx context.Context, user, password string) (box string, ok bool)

// Deps are what the library uses.
type Deps struct {
	Logger  *slog.Logger
	Store   store.Updates
	Key     ed25519.PrivateKey // the township's
	BoxAuth BoxAuth
	Now     func() time.Time
}

// Library is the township's releases. Make it with New.
type Library struct {
	cfg   Config
	d     Deps
	log   *slog.Logger
	slots chan struct{}
}

// New checks cfg and deps and makes the directory.
func New(cfg Config, deps Deps) (*Library, error) {
	if cfg.Dir == "" || deps.Store == nil || len(deps.Key) != ed25519.PrivateKeySize || deps.BoxAuth == nil {
		return nil, errors.New("release: Config.Dir, Deps.Store, Key and BoxAuth are required")
	}
	if cfg.MaxBytes <= 0 || cfg.MaxBytes > protocol.MaxReleaseSize {
		cfg.MaxBytes = protocol.MaxReleaseSize
	}
	if cfg.MaxUploads <= 0 {
		cfg.MaxUploads = 2
	}
	if cfg.UploadWait <= 0 {
		cfg.UploadWait = 10 * time.Second
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "tmp"), 0o750); err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	return &Library{cfg: cfg, d: deps, log: deps.Logger.With("component", "release"), slots: make(chan struct{}, cfg.MaxUploads)}, nil
}

// MaxBytes is the largest binary the library takes.
func (l *Library) MaxBytes() int64 { return l.cfg.MaxBytes }

// Upload is one release being uploaded: Add each binary as it streams in,
// then Finish, or Abort. It holds an upload slot until then.
type Upload struct {
	l       *Library
	done    func()
	spooled []spooled
}

type spooled struct {
	arch, tmp, sha string
	size           int64
}

// Begin takes an upload slot, waiting up to UploadWait (ErrBusy) or ctx.
func (l *Library) Begin(ctx context.Context) (*Upload, error) {
	select {
	case l.slots <- struct{}{}:
		return &Upload{l: l, done: func() { <-l.slots }}, nil
	default:
	}
	wait := time.NewTimer(l.cfg.UploadWait)
	defer wait.Stop()
	select {
	case l.slots <- struct{}{}:
		return &Upload{l: l, done: func() { <-l.slots }}, nil
	case <-wait.C:
		return nil, fmt.Errorf("%w: %d uploads for %s", ErrBusy, cap(l.slots), l.cfg.UploadWait)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// machines are the ELF machines of the release architectures.
var machines = map[string]elf.Machine{
	protocol.ArchAMD64: elf.EM_X86_64,
	protocol.ArchARM64: elf.EM_AARCH64,
	protocol.ArchARMHF: elf.EM_ARM,
}

// Add streams arch's binary from r to a temporary file and checks it.
func (u *Upload) Add(arch string, r io.Reader) error {
	want, ok := machines[arch]
	if !ok {
		return fmt.Errorf("%w: architecture %q: want amd64, arm64 or armhf", ErrInvalid, arch)
	}
	if slices.ContainsFunc(u.spooled, func(s spooled) bool { return s.arch == arch }) {
		return fmt.Errorf("%w: two binaries for %s", ErrInvalid, arch)
	}
	f, err := os.CreateTemp(filepath.Join(u.l.cfg.Dir, "tmp"), arch+"-*")
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	keep := false
	defer func() {
		f.Close()
		if !keep {
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, u.l.cfg.MaxBytes+1))
	if err != nil {
		return fmt.Errorf("release: receive the %s binary: %w", arch, err)
	}
	if n > u.l.cfg.MaxBytes {
		return fmt.Errorf("%w: the %s binary is over %d bytes", ErrTooLarge, arch, u.l.cfg.MaxBytes)
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return fmt.Errorf("%w: the %s file is not a Linux program: %v", ErrInvalid, arch, err)
	}
	if ef.Machine != want {
		return fmt.Errorf("%w: the %s file is a program for %s", ErrInvalid, arch, ef.Machine)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	keep = true
	u.spooled = append(u.spooled, spooled{arch: arch, tmp: f.Name(), sha: hex.EncodeToString(h.Sum(nil)), size: n})
	return nil
}

// Abort drops what was spooled and frees the slot.
func (u *Upload) Abort() {
	for _, s := range u.spooled {
		os.Remove(s.tmp)
	}
	u.spooled = nil
	if u.done != nil {
		u.done()
		u.done = nil
	}
}

// Finish signs a manifest per binary, moves the binaries into place and
// stores the release. It frees the slot whatever happens.
func (u *Upload) Finish(ctx context.Context, version, notes, by string) (store.Release, error) {
	defer u.Abort()
	if err := protocol.ValidateVersion(version); err != nil {
		return store.Release{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(notes) > 4000 {
		return store.Release{}, fmt.Errorf("%w: release notes over 4000 bytes", ErrInvalid)
	}
	if len(u.spooled) == 0 {
		return store.Release{}, fmt.Errorf("%w: no binary (upload amd64, arm64 or armhf)", ErrInvalid)
	}
	now := u.l.d.Now().UTC()
	r := store.Release{Version: version, Notes: strings.TrimSpace(notes), UploadedBy: by, UploadedAt: now}
	for _, s := range u.spooled {
		m, err := protocol.SignManifest(u.l.d.Key, protocol.Manifest{Version: version, Arch: s.arch, SHA256: s.sha, Size: s.size, IssuedAt: now})
		if err != nil {
			return store.Release{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		r.Binaries = append(r.Binaries, store.ReleaseBinary{Arch: s.arch, SHA256: s.sha, Size: s.size, Manifest: m})
	}
	slices.SortFunc(r.Binaries, func(a, b store.ReleaseBinary) int { return strings.Compare(a.Arch, b.Arch) })
	if _, err := u.l.d.Store.GetRelease(ctx, version); err == nil {
		return store.Release{}, fmt.Errorf("release %s: %w", version, store.ErrExists)
	}
	for _, s := range u.spooled {
		if err := os.Rename(s.tmp, u.l.path(s.sha)); err != nil {
			return store.Release{}, fmt.Errorf("release: place %s: %w", s.arch, err)
		}
	}
	if err := u.l.d.Store.PutRelease(ctx, r); err != nil {
		return store.Release{}, fmt.Errorf("release %s: %w", version, err)
	}
	u.spooled = nil
	u.l.log.Info("release stored", "version", version, "binaries", len(r.Binaries), "user", by)
	return r, nil
}

func (l *Library) path(sha string) string { return filepath.Join(l.cfg.Dir, sha) }

// BoxHandler serves GET and HEAD BoxPrefix<sha256> to boxes (basic auth
// with the box's id and MQTT secret), with Range.
func (l *Library) BoxHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		user, pass, ok := r.BasicAuth()
		box := ""
		if ok {
			box, ok = l.d.BoxAuth(r.Context(), user, pass)
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="dalaba releases"`)
			http.Error(w, "box credentials required", http.StatusUnauthorized)
			return
		}
		sha := strings.TrimPrefix(r.URL.Path, BoxPrefix)
		if b, err := hex.DecodeString(sha); err != nil || len(b) != sha256.Size || hex.EncodeToString(b) != sha {
			http.NotFound(w, r)
			return
		}
		f, err := os.Open(l.path(sha))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		l.log.Debug("release download", "box_id", box, "sha256", sha, "range", r.Header.Get("Range"))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("ETag", `"`+sha+`"`)
		http.ServeContent(w, r, "", st.ModTime(), f)
	})
}

// Releases lists every release, newest first.
func (l *Library) Releases(ctx context.Context) ([]store.Release, error) {
	return l.d.Store.ListReleases(ctx)
}
