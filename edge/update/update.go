package update

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
	"strconv"
	"syscall"
	"time"

	"github.com/dalaba/dalaba/edge/clock"
	"github.com/dalaba/dalaba/edge/command"
	"github.com/dalaba/dalaba/edge/slot"
	"github.com/dalaba/dalaba/protocol"
)

// Config is where updates go and how a trial is judged.
type Config struct {
	Dir   string   // downloads: <data_dir>/update
	Slots slot.Dir // the slots; a box started without them refuses updates
	Arch  string   // the box's architecture (protocol.GoArch)
	// CommitAfter is how long the box must stay connected with its
	// desired state applied before a trial slot is committed.
	CommitAfter time.Duration
	// TrialTimeout is how long a trial slot has to get there.
	TrialTimeout time.Duration
	// MinFree is the free disk a download must leave.
	MinFree uint64
	// Username and Password are the box's credentials for the download.
	Username, Password string
}

// Deps are what the updater reads and does.
type Deps struct {
	Logger  *slog.Logger
	Clock   clock.Clock
	Key     ed25519.PublicKey // the township's, pinned
	Version string            // the running software's
	Record  command.Recorder
	// OnAir: a broadcast or a page is on the air now.
	OnAir func() bool
	// Healthy: connected to the township with the desired state applied.
	Healthy func() bool
	// Restart is told the id of the install command carried out: the
	// assembly stops the box once its answer is on its way.
	Restart func(commandID, reason string)
	// Changed is told when the reported status changed (a commit).
	Changed func()
	Client  *http.Client // nil: a client with a 30s dial and header timeout
}

// Updater answers update.install and runs a trial. Make it with New.
type Updater struct {
	cfg Config
	d   Deps
	log *slog.Logger
}

// New checks cfg and deps; it starts nothing.
func New(cfg Config, deps Deps) (*Updater, error) {
	var errs []error
	if cfg.Dir == "" {
		errs = append(errs, errors.New("no download directory"))
	}
	if cfg.CommitAfter <= 0 || cfg.TrialTimeout <= cfg.CommitAfter {
		errs = append(errs, fmt.Errorf("commit after %s, trial timeout %s: want 0 < commit after < trial timeout", cfg.CommitAfter, cfg.TrialTimeout))
	}
	if len(deps.Key) != ed25519.PublicKeySize {
		errs = append(errs, errors.New("no township key"))
	}
	if deps.Clock == nil || deps.Record == nil || deps.OnAir == nil || deps.Healthy == nil || deps.Restart == nil {
		errs = append(errs, errors.New("Deps.Clock, Record, OnAir, Healthy and Restart are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Changed == nil {
		deps.Changed = func() {}
	}
	if deps.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ResponseHeaderTimeout = 30 * time.Second
		deps.Client = &http.Client{Transport: tr}
	}
	return &Updater{cfg: cfg, d: deps, log: deps.Logger.With("component", "update")}, nil
}

// Register makes the runner answer update.install on the slow lane.
func (u *Updater) Register(r *command.Runner) {
	command.Register(r, protocol.CmdUpdateInstall, command.Slow, u.install)
}

// Status is the slot as the box reports it; nil for a box without slots.
func (u *Updater) Status() *protocol.UpdateStatus {
	s, err := u.cfg.Slots.Load()
	if err != nil {
		return nil
	}
	st := &protocol.UpdateStatus{Slot: s.Active, Arch: u.cfg.Arch, Phase: protocol.UpdateCommitted, Version: s.Version(), Rollout: s.Rollout}
	switch {
	case s.Trial:
		st.Phase = protocol.UpdateTrial
	case s.Rollback != nil:
		st.Phase, st.From, st.Reason = protocol.UpdateRolledBack, s.Rollback.From, s.Rollback.Reason
	}
	return st
}

// coded is an install refusal with its result code.
type coded struct {
	code string
	err  error
}

func (c *coded) Error() string      { return c.err.Error() }
func (c *coded) Unwrap() error      { return c.err }
func (c *coded) ResultCode() string { return c.code }

func refuse(code, format string, a ...any) error {
	return &coded{code: code, err: fmt.Errorf("update: "+format, a...)}
}

func (u *Updater) install(ctx context.Context, c protocol.Command, a protocol.UpdateArgs) (any, error) {
	m, err := protocol.OpenManifest(u.d.Key, a.Manifest)
	if err != nil {
		return nil, refuse(protocol.CodeUpdateSignature, "manifest refused: %v", err)
	}
	if m.Arch != u.cfg.Arch {
		return nil, refuse(protocol.CodeUpdateArch, "release %s is for %s, this box is %s", m.Version, m.Arch, u.cfg.Arch)
	}
	s, err := u.cfg.Slots.Load()
	if err != nil {
		return nil, fmt.Errorf("update: this box was not started through its slots (dalaba-edge slot boot): %w", err)
	}
	if s.Trial {
		return nil, refuse(protocol.CodeUpdateTrial, "version %s is still on trial", s.Version())
	}
	if s.Version() == m.Version && u.d.Version == m.Version {
		return protocol.UpdateStaged{Version: m.Version, Slot: s.Active, Already: true}, nil
	}
	if u.d.OnAir() {
		return nil, refuse(protocol.CodeUpdateOnAir, "a broadcast or a page is on the air")
	}
	path, err := u.fetch(ctx, m, a.URL)
	if err != nil {
		return nil, err
	}
	if u.d.OnAir() {
		return nil, refuse(protocol.CodeUpdateOnAir, "a broadcast or a page went on the air during the download")
	}
	if err := command.Commit(ctx); err != nil {
		return nil, err
	}
	ns, err := u.cfg.Slots.Stage(path, m.Version, a.Rollout)
	if err != nil {
		return nil, fmt.Errorf("update: stage %s: %w", m.Version, err)
	}
	if err := os.Remove(path); err != nil {
		u.log.Warn("removing the staged download", "err", err)
	}
	u.log.Info("update staged; restarting into it", "version", m.Version, "slot", ns.Active, "command_id", c.ID)
	u.d.Restart(c.ID, "update to "+m.Version)
	return protocol.UpdateStaged{Version: m.Version, Slot: ns.Active}, nil
}

// fetch downloads the binary of m into Dir, resuming what an earlier try
// left, and verifies it; it returns the verified file's path.
func (u *Updater) fetch(ctx context.Context, m protocol.Manifest, url string) (string, error) {
	if err := os.MkdirAll(u.cfg.Dir, 0o750); err != nil {
		return "", fmt.Errorf("update: %w", err)
	}
	path := filepath.Join(u.cfg.Dir, m.SHA256+".part")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return "", fmt.Errorf("update: %w", err)
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return "", fmt.Errorf("update: %w", err)
	}
	if have > m.Size {
		// Not this manifest's bytes: start over.
		if err := truncate(f); err != nil {
			return "", err
		}
		have = 0
	}
	if free, err := freeBytes(u.cfg.Dir); err == nil && free < uint64(m.Size-have)+u.cfg.MinFree {
		return "", refuse(protocol.CodeUpdateDisk, "%d bytes to download, %d free, %d must stay free", m.Size-have, free, u.cfg.MinFree)
	}
	if have < m.Size {
		if err := u.download(ctx, f, have, m, url); err != nil {
			return "", err
		}
	}
	if err := verify(f, m); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("update: %w", err)
	}
	return path, nil
}

func (u *Updater) download(ctx context.Context, f *os.File, have int64, m protocol.Manifest, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	if u.cfg.Username != "" {
		req.SetBasicAuth(u.cfg.Username, u.cfg.Password)
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := u.d.Client.Do(req)
	if err != nil {
		return fmt.Errorf("update: download %s: %w", m.Version, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		u.log.Info("resuming the download", "version", m.Version, "from", have)
	case resp.StatusCode == http.StatusOK:
		if err := truncate(f); err != nil {
			return err
		}
		have = 0
	default:
		return fmt.Errorf("update: download %s: HTTP %s", m.Version, resp.Status)
	}
	// Never more than the manifest's size: a server sending more cannot
	// fill the disk.
	n, err := io.Copy(f, io.LimitReader(resp.Body, m.Size-have+1))
	if err != nil {
		// The partial file stays; the next try resumes it.
		return fmt.Errorf("update: download %s: %w", m.Version, err)
	}
	if have+n > m.Size {
		return refuse(protocol.CodeUpdateDigest, "the download of %s is longer than its %d bytes", m.Version, m.Size)
	}
	return nil
}

func truncate(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	return nil
}

// machines are the ELF machines of the release architectures.
var machines = map[string]elf.Machine{
	protocol.ArchAMD64: elf.EM_X86_64,
	protocol.ArchARM64: elf.EM_AARCH64,
	protocol.ArchARMHF: elf.EM_ARM,
}

// verify checks the whole file against the manifest: size, sha256 and the
// ELF machine.
func verify(f *os.File, m protocol.Manifest) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	if n != m.Size || hex.EncodeToString(h.Sum(nil)) != m.SHA256 {
		return refuse(protocol.CodeUpdateDigest, "the download of %s is %d bytes with another sha256 than its manifest's", m.Version, n)
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return refuse(protocol.CodeUpdateArch, "release %s is not a program this box can run: %v", m.Version, err)
	}
	if ef.Machine != machines[m.Arch] {
		return refuse(protocol.CodeUpdateArch, "release %s is built for %s, its manifest says %s", m.Version, ef.Machine, m.Arch)
	}
	return nil
}

func freeBytes(dir string) (uint64, error) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return 0, err
	}
	return fs.Bavail * uint64(fs.Bsize), nil
}
