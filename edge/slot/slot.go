package slot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Names in the slots directory.
const (
	A         = "a"
	B         = "b"
	Binary    = "dalaba-edge" // the binary's name inside a slot
	Current   = "current"     // the link the service manager execs through
	StateFile = "state.json"
)

// DefaultMaxAttempts is how many times a trial slot may be booted before
// Boot goes back to the good slot.
const DefaultMaxAttempts = 3

// Exit results the service manager reports ($SERVICE_RESULT in
// ExecStopPost) that Boot tells apart.
const ResultWatchdog = "watchdog"

// Rollback records a return to the good slot, kept until reported.
type Rollback struct {
	From     string    `json:"from"` // the version that failed
	To       string    `json:"to"`   // the version running again
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
	Reported bool      `json:"reported,omitempty"`
}

// State is the slots' state file.
type State struct {
	Active   string            `json:"active"`   // the slot to boot
	Good     string            `json:"good"`     // the last committed slot
	Versions map[string]string `json:"versions"` // slot → version it holds
	// Trial: Active holds an update that has not proved itself.
	Trial    bool   `json:"trial,omitempty"`
	Attempts int    `json:"attempts,omitempty"` // boots of the trial slot so far
	LastExit string `json:"last_exit,omitempty"`
	// Rollout is the rollout of the latest staged update, "" for none.
	Rollout string `json:"rollout,omitempty"`
	// Package is the version of the packaged binary (/usr/bin) last taken
	// into a slot: a Debian package upgrade shows as another version.
	Package  string    `json:"package,omitempty"`
	Rollback *Rollback `json:"rollback,omitempty"`
}

// Idle is the slot that is not active.
func (s State) Idle() string {
	if s.Active == A {
		return B
	}
	return A
}

// Version is the active slot's version.
func (s State) Version() string { return s.Versions[s.Active] }

func (s State) validate() error {
	if (s.Active != A && s.Active != B) || (s.Good != A && s.Good != B) {
		return fmt.Errorf("active %q, good %q: want a or b", s.Active, s.Good)
	}
	if !s.Trial && s.Active != s.Good {
		return errors.New("active is not the good slot, yet not on trial")
	}
	return nil
}

// ErrNoSlots: the directory has no state file; the box was not started
// through its slots.
var ErrNoSlots = errors.New("slot: no slots here")

// Dir is a slots directory.
type Dir struct{ Path string }

// Binary is the path of slot s's binary.
func (d Dir) Binary(s string) string { return filepath.Join(d.Path, s, Binary) }

// Load reads the state file; ErrNoSlots when there is none.
func (d Dir) Load() (State, error) {
	b, err := os.ReadFile(filepath.Join(d.Path, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, ErrNoSlots
	}
	if err != nil {
		return State{}, fmt.Errorf("slot: read state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("slot: decode state: %w", err)
	}
	if err := s.validate(); err != nil {
		return State{}, fmt.Errorf("slot: state: %w", err)
	}
	return s, nil
}

// Save replaces the state file atomically.
func (d Dir) Save(s State) error {
	if err := s.validate(); err != nil {
		return fmt.Errorf("slot: state: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("slot: encode state: %w", err)
	}
	return writeAtomic(filepath.Join(d.Path, StateFile), append(b, '\n'), 0o644)
}

// Update loads the state, lets fn change it and saves it.
func (d Dir) Update(fn func(*State) error) (State, error) {
	s, err := d.Load()
	if err != nil {
		return State{}, err
	}
	if err := fn(&s); err != nil {
		return State{}, err
	}
	return s, d.Save(s)
}

// Seed makes the slots from exe (the binary the package installed, of
// version) when there are none: slot a, good. When the package was
// upgraded since (another version than the one last taken), it stages the
// packaged binary on trial like any update, so that a bad package goes
// back to the slot that ran before it; on trial already, it waits for the
// trial to end.
func (d Dir) Seed(exe, version string) error {
	s, err := d.Load()
	if errors.Is(err, ErrNoSlots) {
		if err := d.install(A, exe); err != nil {
			return err
		}
		return d.Save(State{Active: A, Good: A, Versions: map[string]string{A: version}, Package: version})
	}
	if err != nil || s.Trial || s.Package == version {
		return err
	}
	if s.Version() == version {
		_, err = d.Update(func(s *State) error { s.Package = version; return nil })
		return err
	}
	if _, err := d.Stage(exe, version, ""); err != nil {
		return err
	}
	_, err = d.Update(func(s *State) error { s.Package = version; return nil })
	return err
}

// Boot counts a boot and decides the slot to run: the active one, unless
// it is on trial and was booted maxAttempts times already, in which case
// the state goes back to the good slot with the reason (crash_loop, or
// watchdog if the last exit was the watchdog's). It points Current at the
// slot and returns it and its binary's path. reasons maps the two causes
// to the protocol's words.
func (d Dir) Boot(maxAttempts int, crashLoop, watchdog string, now time.Time) (State, error) {
	if maxAttempts <= 0 {
		maxAttempts = DefaultMaxAttempts
	}
	s, err := d.Update(func(s *State) error {
		if !s.Trial {
			return nil
		}
		if s.Attempts >= maxAttempts {
			reason := crashLoop
			if s.LastExit == ResultWatchdog {
				reason = watchdog
			}
			s.back(reason, now)
			return nil
		}
		s.Attempts++
		return nil
	})
	if err != nil {
		return State{}, err
	}
	return s, d.link(s.Active)
}

// back returns the state to the good slot, recording why.
func (s *State) back(reason string, now time.Time) {
	s.Rollback = &Rollback{From: s.Versions[s.Active], To: s.Versions[s.Good], Reason: reason, At: now}
	s.Active, s.Trial, s.Attempts, s.LastExit = s.Good, false, 0, ""
}

// Exited records how the daemon last ended ($SERVICE_RESULT); Boot reads
// it when it gives up on a trial slot.
func (d Dir) Exited(result string) error {
	_, err := d.Update(func(s *State) error {
		if s.Trial {
			s.LastExit = result
		}
		return nil
	})
	return err
}

// ErrTrial: the active slot is still on trial; a new update waits until it
// is committed or rolled back.
var ErrTrial = errors.New("slot: the running update is still on trial")

// Stage copies the verified binary src (of version) into the idle slot and
// switches the state to it, on trial. The binary is complete and synced
// before the state names it.
func (d Dir) Stage(src, version, rollout string) (State, error) {
	s, err := d.Load()
	if err != nil {
		return State{}, err
	}
	if s.Trial {
		return State{}, ErrTrial
	}
	idle := s.Idle()
	if err := d.install(idle, src); err != nil {
		return State{}, err
	}
	return d.Update(func(s *State) error {
		if s.Trial || s.Idle() != idle {
			return ErrTrial
		}
		s.Versions[idle] = version
		s.Active, s.Trial, s.Attempts, s.LastExit, s.Rollout = idle, true, 0, "", rollout
		s.Rollback = nil // told already (Run reports it at start); this update is another story
		return nil
	})
}

// Commit makes the active trial slot the good one.
func (d Dir) Commit() (State, error) {
	return d.Update(func(s *State) error {
		s.Good, s.Trial, s.Attempts, s.LastExit = s.Active, false, 0, ""
		return nil
	})
}

// Abandon leaves the trial slot for the good one with reason, as Boot does
// after too many boots; the daemon calls it when the trial slot does not
// prove itself in time, then exits so that Boot starts the good slot.
func (d Dir) Abandon(reason string, now time.Time) (State, error) {
	return d.Update(func(s *State) error {
		if s.Trial {
			s.back(reason, now)
		}
		return nil
	})
}

// Reported marks the recorded roll-back as told to the township.
func (d Dir) Reported() error {
	_, err := d.Update(func(s *State) error {
		if s.Rollback != nil {
			s.Rollback.Reported = true
		}
		return nil
	})
	return err
}

// install copies src into slot s's binary: a temporary file, synced,
// made executable and renamed.
func (d Dir) install(s, src string) error {
	dir := filepath.Join(d.Path, s)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("slot: %w", err)
	}
	// A copy a kill cut short left its temporary file: drop it.
	if old, _ := filepath.Glob(filepath.Join(dir, "."+Binary+".*")); len(old) > 0 {
		for _, f := range old {
			_ = os.Remove(f)
		}
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("slot: install into %s: %w", s, err)
	}
	defer in.Close()
	return writeFileAtomic(d.Binary(s), 0o755, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// link points Current at slot s: a new link renamed over the old one.
func (d Dir) link(s string) error {
	cur := filepath.Join(d.Path, Current)
	if t, err := os.Readlink(cur); err == nil && t == s {
		return nil
	}
	tmp := cur + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(s, tmp); err != nil {
		return fmt.Errorf("slot: link %s: %w", s, err)
	}
	if err := os.Rename(tmp, cur); err != nil {
		return fmt.Errorf("slot: link %s: %w", s, err)
	}
	return syncDir(d.Path)
}

func writeAtomic(path string, b []byte, mode os.FileMode) error {
	return writeFileAtomic(path, mode, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

func writeFileAtomic(path string, mode os.FileMode, fill func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("slot: write %s: %w", path, err)
	}
	tmp := f.Name()
	err = fill(f)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("slot: write %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("slot: sync %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("slot: sync %s: %w", dir, err)
	}
	return nil
}
