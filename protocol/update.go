package protocol

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Software updates. The township signs one manifest per release and
// architecture with its own key, the one the box already pins for desired
// state and commands: a second key would be a second secret to guard and
// provision, and it would guard nothing the township key does not (whoever
// holds that key can already make a village speak). The manifest is signed
// on its own, apart from the command that carries it, so that the box can
// check what it staged against it again before every switch.
//
// The update reaches the box as the command CmdUpdateInstall (UpdateArgs:
// the signed manifest and where to fetch the binary), on the slow lane, so
// an emergency play still cuts in while a box downloads. The box answers
// once the binary is verified and staged in its idle slot, then restarts
// into it; what happens next it tells in Reported.Update.

// CmdUpdateInstall stages a release in the box's idle slot and restarts
// into it on trial (UpdateArgs); the result is UpdateStaged.
const CmdUpdateInstall = "update.install"

// KindRelease is the signing domain of a release manifest. It is not a
// topic: manifests travel inside CmdUpdateInstall.
const KindRelease Kind = "release"

// Architectures a release carries a binary for, as Debian names them.
const (
	ArchAMD64 = "amd64"
	ArchARM64 = "arm64"
	ArchARMHF = "armhf" // 32-bit ARMv7 with hardware floating point
)

// Arches lists the architectures a release may carry.
func Arches() []string { return []string{ArchAMD64, ArchARM64, ArchARMHF} }

// GoArch maps a Go GOARCH (and GOARM) to a release architecture, "" when
// the pair is not one of Arches.
func GoArch(goarch string) string {
	switch goarch {
	case "amd64":
		return ArchAMD64
	case "arm64":
		return ArchARM64
	case "arm":
		return ArchARMHF
	}
	return ""
}

// MaxReleaseSize bounds a release binary: a box's disk is an SD card.
const MaxReleaseSize = 256 << 20

var versionRe = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+~_-]{0,63}$`)

// ValidateVersion checks a release version: 1-64 of letters, digits and
// . + ~ _ -, starting with a letter or digit (safe in a file name and a
// URL path).
func ValidateVersion(v string) error {
	if !versionRe.MatchString(v) {
		return fmt.Errorf("version %q: 1-64 of letters, digits and . + ~ _ -, starting with a letter or digit", v)
	}
	return nil
}

// Manifest is what the township vouches for about one binary of a release.
type Manifest struct {
	V        int       `json:"v"`
	Version  string    `json:"version"`
	Arch     string    `json:"arch"`
	SHA256   string    `json:"sha256"` // lower-case hex
	Size     int64     `json:"size"`
	IssuedAt time.Time `json:"issued_at"`
}

// Validate checks the manifest on its own.
func (m Manifest) Validate() error {
	var errs []error
	if err := ValidateVersion(m.Version); err != nil {
		errs = append(errs, err)
	}
	switch m.Arch {
	case ArchAMD64, ArchARM64, ArchARMHF:
	default:
		errs = append(errs, fmt.Errorf("arch %q: want amd64, arm64 or armhf", m.Arch))
	}
	if b, err := hex.DecodeString(m.SHA256); err != nil || len(b) != 32 || hex.EncodeToString(b) != m.SHA256 {
		errs = append(errs, fmt.Errorf("sha256 %q: want 64 lower-case hex digits", m.SHA256))
	}
	if m.Size <= 0 || m.Size > MaxReleaseSize {
		errs = append(errs, fmt.Errorf("size %d: want 1-%d bytes", m.Size, MaxReleaseSize))
	}
	return errors.Join(errs...)
}

// SignManifest validates m and returns its signed envelope. m.V is set to
// Version.
func SignManifest(key ed25519.PrivateKey, m Manifest) ([]byte, error) {
	m.V = Version
	if err := m.Validate(); err != nil {
		return nil, reject(KindRelease, ReasonInvalid, err)
	}
	return seal(key, KindRelease, "", m)
}

// OpenManifest verifies a signed manifest with the township's public key
// and decodes it strictly.
func OpenManifest(pub ed25519.PublicKey, payload []byte) (Manifest, error) {
	var m Manifest
	if err := open(pub, KindRelease, "", payload, &m); err != nil {
		return Manifest{}, err
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, reject(KindRelease, ReasonInvalid, err)
	}
	return m, nil
}

// UpdateArgs are CmdUpdateInstall's arguments.
type UpdateArgs struct {
	// Manifest is the signed manifest (SignManifest) of the binary for
	// the box's architecture.
	Manifest json.RawMessage `json:"manifest"`
	// URL is where the box downloads the binary, with Range, under its
	// own credentials. It is not trusted: the bytes must match the
	// manifest.
	URL string `json:"url"`
	// Rollout names the rollout this install belongs to, for the box's
	// report; "" for none.
	Rollout string `json:"rollout,omitempty"`
}

// Validate checks the arguments on their own (the signature is the box's
// to check, with its pinned key).
func (a UpdateArgs) Validate() error {
	var errs []error
	if len(a.Manifest) == 0 {
		errs = append(errs, errors.New("manifest: missing"))
	}
	if a.URL == "" || len(a.URL) > 1024 {
		errs = append(errs, errors.New("url: want 1-1024 bytes"))
	}
	if len(a.Rollout) > MaxNameLen {
		errs = append(errs, fmt.Errorf("rollout: longer than %d bytes", MaxNameLen))
	}
	return errors.Join(errs...)
}

// UpdateStaged answers CmdUpdateInstall: the binary is verified and in the
// idle slot, and the box restarts into it on trial.
type UpdateStaged struct {
	Version string `json:"version"`
	Slot    string `json:"slot"`
	// Already: the box runs this version and has committed it; nothing
	// was done.
	Already bool `json:"already,omitempty"`
}

// Codes of a refused CmdUpdateInstall, beside the generic ones.
const (
	CodeUpdateSignature = "update_signature" // the manifest is not signed by the pinned key
	CodeUpdateArch      = "update_arch"      // the binary is for another architecture
	CodeUpdateDigest    = "update_digest"    // the downloaded bytes do not match sha256 or size
	CodeUpdateDisk      = "update_disk"      // not enough free disk for the download with room to spare
	CodeUpdateOnAir     = "update_on_air"    // a broadcast or a page is on the air; try later
	CodeUpdateTrial     = "update_trial"     // the box is still on trial with an earlier update
)

// Phases of UpdateStatus.
const (
	UpdateTrial      = "trial"       // running a new slot that has not proved itself yet
	UpdateCommitted  = "committed"   // the running slot proved itself (or was never on trial)
	UpdateRolledBack = "rolled_back" // went back to the last good slot; Reason says why
)

// Reasons of a roll-back (UpdateStatus.Reason, RolledBack.Reason).
const (
	RollbackCrashLoop    = "crash_loop"    // the new slot exited before proving itself, too many times
	RollbackWatchdog     = "watchdog"      // the new slot stopped answering the service manager's watchdog
	RollbackNoConnection = "no_connection" // the new slot did not reach the township and apply its state in time
)

// UpdateStatus is the box's software slot as it reports it
// (Reported.Update).
type UpdateStatus struct {
	Slot    string `json:"slot"`    // the running slot, a or b
	Arch    string `json:"arch"`    // the box's architecture, one of Arches: the township picks the binary by it
	Phase   string `json:"phase"`   // one of the Update* phases
	Version string `json:"version"` // the running version
	// From and Reason, after a roll-back: the version that failed and why.
	From   string `json:"from,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Rollout is the rollout of the latest install, as the command named it.
	Rollout string `json:"rollout,omitempty"`
}
