package cloud

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/config"
	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/media"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Files in the data directory.
const (
	storeFile = "cloud.db"
	keyFile   = "township.key"
)

// ErrRunning is returned by AddBox and AddUser when a running dalaba-cloud
// holds the store.
var ErrRunning = errors.New("the township service is running")

// loadKey reads the township signing key from dataDir, creating it on
// first use.
func loadKey(dataDir string, log *slog.Logger) (ed25519.PrivateKey, error) {
	path := filepath.Join(dataDir, keyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := protocol.ParsePrivateKey(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("cloud: township key %s: %w", path, err)
		}
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			log.Warn("the township key is readable by others; chmod 600 it", "path", path, "mode", fi.Mode().Perm().String())
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("cloud: township key: %w", err)
	}
	k, err := protocol.GenerateKey()
	if err != nil {
		return nil, err
	}
	if err := writeSynced(path, []byte(protocol.EncodePrivateKey(k)+"\n"), 0o600); errors.Is(err, os.ErrExist) {
		// Another replica sharing the data directory made it first.
		return loadKey(dataDir, log)
	} else if err != nil {
		return nil, fmt.Errorf("cloud: township key: %w", err)
	}
	log.Info("township key created", "path", path, "public_key", protocol.EncodePublicKey(k.Public().(ed25519.PublicKey)))
	return k, nil
}

// writeSynced writes a new file durably: a temporary file, fsync, rename,
// fsync of the directory, so a crash never leaves half a key that would
// lock every box out. It refuses to replace an existing file.
func writeSynced(path string, data []byte, mode os.FileMode) error {
	// A temporary file of its own, so processes racing never write one file.
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := f.Chmod(mode); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp) // the chmod error is the one to report
		return err
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(tmp) // the write error is the one to report
		return werr
	}
	// Link, not rename: two processes racing to create the key cannot both
	// win.
	if err := os.Link(tmp, path); err != nil {
		_ = os.Remove(tmp) // the link error is the one to report
		return err
	}
	if err := os.Remove(tmp); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// bootstrapAdmin creates the first user, admin, when there is none, with
// DALABA_ADMIN_PASSWORD or a generated password printed once on out.
func bootstrapAdmin(ctx context.Context, au *auth.Auth, out io.Writer, log *slog.Logger) error {
	given := os.Getenv(config.EnvAdminPassword)
	created, pw, err := au.Bootstrap(ctx, given)
	if err != nil {
		return fmt.Errorf("cloud: first admin (%s): %w", config.EnvAdminPassword, err)
	}
	if !created {
		return nil
	}
	if given != "" {
		log.Info("first user created", "user", "admin", "password_from", config.EnvAdminPassword)
		return nil
	}
	log.Info("first user created", "user", "admin", "password_from", "generated, printed on stdout")
	fmt.Fprintf(out, "dalaba-cloud first start: user admin, password %s (shown only this once)\n", pw)
	return nil
}

// nowhere is the fleet's publisher while the service is stopped: desired
// state is stored, and the service publishes it when it starts.
type nowhere struct{}

func (nowhere) PublishDesired(context.Context, string, []byte) error { return nil }

// AddBox registers box id with the service stopped (`dalaba-cloud box
// add`): it stores the box and its signed desired state rev 1 and returns
// the box's ready edge config. brokerURL "" = the configured public broker
// URL; township "" = the county's own, else a township that exists. While
// the service runs the store is locked: ErrRunning, and POST
// /api/v1/boxes does the same job.
func AddBox(ctx context.Context, cfg config.Config, id, name, township, brokerURL string) (string, error) {
	if brokerURL == "" {
		brokerURL = cfg.PublicBrokerURL("")
	}
	if err := config.ValidateBrokerURL(brokerURL); err != nil {
		return "", fmt.Errorf("cloud: add box: broker URL: %w", err)
	}
	st, err := openStore(ctx, cfg)
	if errors.Is(err, ErrRunning) {
		return "", fmt.Errorf("%w: add the box with POST /api/v1/boxes instead", err)
	}
	if err != nil {
		return "", err
	}
	defer st.Close() // commits are durable already; Close releases the file lock
	log := slog.New(slog.DiscardHandler)
	key, err := loadKey(cfg.DataDir, log)
	if err != nil {
		return "", err
	}
	fl, err := fleet.New(fleet.Config{Validity: cfg.Desired.Validity, BrokerURL: brokerURL, MediaURL: cfg.PublicHTTPURL("") + media.BoxPrefix, CloudUser: cfg.MQTT.Username},
		fleet.Deps{Logger: log, Store: st, Key: key, Publisher: nowhere{}})
	if err != nil {
		return "", err
	}
	if township != "" {
		if _, err := st.GetTownship(ctx, township); err != nil {
			return "", fmt.Errorf("cloud: add box: township %q: %w (dalaba-cloud township add makes one)", township, err)
		}
	}
	b, secret, err := fl.Register(ctx, fleet.NewBox{ID: id, Name: name, Township: township})
	if err != nil {
		return "", err
	}
	after := map[string]string{"id": id, "name": name}
	if township != "" {
		after["township"] = township
	}
	if err := auditCLI(ctx, st, "box add", id, "box/"+id, after); err != nil {
		return "", err
	}
	out, err := fl.EdgeConfig(b, secret)
	if err != nil {
		return "", err
	}
	return out, nil
}

// AddUser creates a user with the service stopped (`dalaba-cloud user
// add`) in township ("" = a county user). An empty password is generated
// and returned; a given one is not returned.
func AddUser(ctx context.Context, cfg config.Config, name, role, township, password string) (generated string, err error) {
	st, err := openStore(ctx, cfg)
	if errors.Is(err, ErrRunning) {
		return "", fmt.Errorf("%w: stop it to add a user", err)
	}
	if err != nil {
		return "", err
	}
	defer st.Close() // commits are durable already; Close releases the file lock
	au, err := auth.New(auth.Deps{Logger: slog.New(slog.DiscardHandler), Store: st, BcryptCost: bcrypt.DefaultCost})
	if err != nil {
		return "", err
	}
	if password == "" {
		raw := make([]byte, 12)
		_, _ = rand.Read(raw) // crypto/rand.Read never fails on Linux
		generated = base64.RawURLEncoding.EncodeToString(raw)
		password = generated
	}
	if err := au.AddUserIn(ctx, name, password, store.Role(role), township); err != nil {
		return "", err
	}
	name, _ = auth.CanonicalName(name) // as stored; AddUser accepted it
	after := map[string]string{"name": name, "role": role}
	if township != "" {
		after["township"] = township
	}
	if err := auditCLI(ctx, st, "user add", "", "user/"+name, after); err != nil {
		return "", err
	}
	return generated, nil
}

// AddTownship makes township id named name with the service stopped
// (`dalaba-cloud township add`); POST /api/v1/townships does the same
// while it runs.
func AddTownship(ctx context.Context, cfg config.Config, id, name string) error {
	if !TownshipID(id) || strings.TrimSpace(name) == "" {
		return fmt.Errorf("cloud: add township: id %q: \"t-\" and lowercase letters, digits or dashes (t-dongshan), and a name", id)
	}
	st, err := openStore(ctx, cfg)
	if errors.Is(err, ErrRunning) {
		return fmt.Errorf("%w: add the township with POST /api/v1/townships instead", err)
	}
	if err != nil {
		return err
	}
	defer st.Close() // commits are durable already; Close releases the file lock
	if err := st.CreateTownship(ctx, store.Township{ID: id, Name: strings.TrimSpace(name), CreatedAt: time.Now()}); err != nil {
		return fmt.Errorf("cloud: add township: %w", err)
	}
	return auditCLI(ctx, st, "township add", "", "township/"+id, map[string]string{"id": id, "name": name})
}

// TownshipID reports whether id looks like a township's id: "t-" and a
// lowercase slug (the API holds ids to the same rule).
func TownshipID(id string) bool { return townshipID.MatchString(id) }

var townshipID = regexp.MustCompile(`^t-[a-z0-9][a-z0-9-]{0,38}$`)

// cliActor is who the audit trail names for changes made with the service
// stopped, on the township server itself.
const cliActor = "dalaba-cloud (command line)"

// auditCLI records a change made on the command line, as the API records
// its own. The change is made by then; a refusal says so.
func auditCLI(ctx context.Context, st store.Store, action, village, target string, after any) error {
	b, err := json.Marshal(after)
	if err != nil {
		return fmt.Errorf("cloud: %s: audit record: %w", action, err)
	}
	if _, err := st.AppendAudit(ctx, store.AuditRecord{Time: time.Now(), Actor: cliActor, Action: action,
		Village: village, Target: target, After: b}); err != nil {
		return fmt.Errorf("cloud: %s: done, but the audit trail refused its record: %w", action, err)
	}
	return nil
}
