package fleet

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/dalaba/dalaba/cloud/ingest"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// ErrInvalid marks bad input from a caller (an id or name the fleet
// refuses); nothing was changed.
var ErrInvalid = errors.New("fleet: invalid")

// Publisher publishes a box's signed desired state, retained: the downlink.
type Publisher interface {
	PublishDesired(ctx context.Context, box string, payload []byte) error
}

// Config is how the fleet signs and what it tells boxes.
type Config struct {
	// Validity of a signed desired state; re-signed after half of it.
	Validity time.Duration
	// BrokerURL is what boxes connect to, written into their edge configs.
	BrokerURL string
	// MediaURL is where boxes download clips, <url><sha256>, with their
	// broker credentials; written into edge configs as media.url when set.
	MediaURL string
	// CloudUser is the service's own MQTT user name, which no box may take.
	CloudUser string
}

// Deps are what the fleet uses.
type Deps struct {
	Logger    *slog.Logger
	Store     store.Store
	Key       ed25519.PrivateKey // the township key
	Publisher Publisher
	// Presence is told of what boxes publish; nil: presence is not kept
	// (tools that only register boxes), and Link reads the store.
	Presence *Presence
	// Kicker ends a box's live MQTT session when its credentials change
	// or go (the embedded broker); nil with an external broker, whose
	// sessions end when the box next signs in.
	Kicker Kicker
	Now    func() time.Time // nil = time.Now
	// Stored is told of each event batch once it is stored (see
	// ingest.Deps.Stored); nil: nobody.
	Stored func(box string, got store.Appended, evs []store.Event)
	// Reported is told of each box's reported state once recorded (the
	// rollouts follow the boxes' versions by it); nil: nobody.
	Reported func(box string, r protocol.Reported)
}

// Timings.
const (
	// RefreshEvery is how often desired states are checked for age.
	RefreshEvery = time.Hour
	// seenGranularity coalesces LastSeen writes: a box sending a batch a
	// second costs one extra store write per this interval, not one each.
	// Presence keeps the exact time in memory.
	seenGranularity = 10 * time.Second
	// warnEvery folds messages from an unregistered box into one Warn line
	// per interval.
	warnEvery = time.Minute
)

// Fleet holds the box registry's live side.
type Fleet struct {
	cfg    Config
	log    *slog.Logger
	st     store.Store
	key    ed25519.PrivateKey
	pub    Publisher
	kick   Kicker
	now    func() time.Time
	ingest *ingest.Ingester
	// presence hears every message; nil: none kept.
	presence *Presence

	// signMu serialises signing, so two revs of one box are never made
	// from the same previous rev.
	signMu sync.Mutex

	mu      sync.Mutex
	unknown map[string]time.Time // last Warn per unregistered box id

	onReported func(box string, r protocol.Reported) // Deps.Reported; nil: none
}

// New validates cfg and deps; it starts nothing.
func New(cfg Config, deps Deps) (*Fleet, error) {
	var errs []error
	if cfg.Validity < time.Hour {
		errs = append(errs, fmt.Errorf("validity %s: at least 1h", cfg.Validity))
	}
	if cfg.BrokerURL == "" {
		errs = append(errs, errors.New("no broker URL for edge configs"))
	}
	if cfg.CloudUser == "" {
		errs = append(errs, errors.New("no cloud MQTT user name"))
	}
	if deps.Logger == nil {
		errs = append(errs, errors.New("no Deps.Logger"))
	}
	if deps.Store == nil {
		errs = append(errs, errors.New("no Deps.Store"))
	}
	if deps.Publisher == nil {
		errs = append(errs, errors.New("no Deps.Publisher"))
	}
	if len(deps.Key) != ed25519.PrivateKeySize {
		errs = append(errs, errors.New("no township key in Deps.Key"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("fleet: new: %w", err)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	in, err := ingest.New(ingest.Deps{Logger: deps.Logger, Store: deps.Store, Now: deps.Now, Stored: deps.Stored})
	if err != nil {
		return nil, fmt.Errorf("fleet: new: %w", err)
	}
	return &Fleet{
		cfg: cfg, log: deps.Logger.With("component", "fleet"), st: deps.Store, key: deps.Key,
		pub: deps.Publisher, kick: deps.Kicker, now: deps.Now, ingest: in, presence: deps.Presence, unknown: map[string]time.Time{},
		onReported: deps.Reported,
	}, nil
}

// Run re-signs ageing desired states every RefreshEvery until ctx ends.
func (f *Fleet) Run(ctx context.Context) error {
	t := time.NewTicker(RefreshEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			f.Refresh(ctx)
		}
	}
}

// ValidateName checks a box's display name: 1-64 characters, no control
// characters (it lands in configs, logs and the console).
func ValidateName(name string) error {
	n := utf8.RuneCountInString(name)
	if n < 1 || n > 64 || !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return fmt.Errorf("%w: box name must be 1-64 printable characters", ErrInvalid)
	}
	return nil
}

// AddBox is Register with the id and name alone.
func (f *Fleet) AddBox(ctx context.Context, id, name string) (store.Box, string, error) {
	return f.Register(ctx, NewBox{ID: id, Name: name})
}

// NewBox is what registering a box takes.
type NewBox struct {
	ID, Name string
	Place    string // where the village lies in the township; optional
	// Township is the unit the box belongs to ("" = the county's own);
	// the caller checked it exists and that its user may put a box there.
	Township string
}

// Register registers box nb.ID with a new MQTT secret, signs, stores and
// publishes its first desired state (rev 1), and returns the box and its
// secret: the only time the secret exists outside the box, since the
// store keeps its sha256 alone. An id that is not a valid box id or is
// the service's own MQTT user name, or a bad name or place, is
// ErrInvalid; a taken id store.ErrExists.
func (f *Fleet) Register(ctx context.Context, nb NewBox) (store.Box, string, error) {
	var errs []error
	if err := protocol.ValidateBoxID(nb.ID); err != nil {
		errs = append(errs, fmt.Errorf("%w: %v", ErrInvalid, err))
	} else if nb.ID == f.cfg.CloudUser {
		errs = append(errs, fmt.Errorf("%w: box id %q is the township service's own MQTT user name", ErrInvalid, nb.ID))
	}
	if err := ValidateName(nb.Name); err != nil {
		errs = append(errs, err)
	}
	if err := ValidatePlace(nb.Place); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return store.Box{}, "", err
	}
	secret := newSecret()
	b := store.Box{ID: nb.ID, Name: nb.Name, Place: nb.Place, Township: nb.Township, SecretHash: SecretHash(secret), CreatedAt: f.now()}
	if err := f.st.CreateBox(ctx, b); err != nil {
		return store.Box{}, "", fmt.Errorf("fleet: add box %s: %w", nb.ID, err)
	}
	d, err := f.signNext(ctx, nb.ID, nil)
	if err != nil {
		// The box exists without a desired state; the next Refresh signs
		// one, so the id is not lost.
		return store.Box{}, "", err
	}
	b.DesiredRev = d.Rev
	f.log.Info("box added", "box_id", nb.ID, "rev", d.Rev)
	f.publish(ctx, d)
	return b, secret, nil
}

// newSecret is a box's MQTT password: 256 random bits, base64url.
func newSecret() string {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw) // crypto/rand.Read never fails on Linux
	return base64.RawURLEncoding.EncodeToString(raw)
}

// SecretHash is what the store keeps of a box's MQTT secret.
func SecretHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// EdgeConfig renders the box's ready dalaba-edge config with the fleet's
// broker and media URLs and township key.
func (f *Fleet) EdgeConfig(b store.Box, secret string) (string, error) {
	return EdgeConfig(b, secret, f.cfg.BrokerURL, f.cfg.MediaURL, f.key.Public().(ed25519.PublicKey))
}

// EdgeDataDir is the data_dir written into edge configs: dalaba-edge's
// default.
const EdgeDataDir = "/var/lib/dalaba"

// EdgeConfig renders a ready dalaba-edge config for box b: its identity,
// the township's public key, the broker and its credentials (the box id is
// the MQTT user name), the data directory, and where clips are downloaded
// (media.url, left out when mediaURL is empty). The other keys of
// configs/edge.example.yaml keep their defaults.
func EdgeConfig(b store.Box, secret, brokerURL, mediaURL string, pub ed25519.PublicKey) (string, error) {
	type brokerCfg struct {
		URL      string `yaml:"url"`
		Username string `yaml:"username"`
		Password string `yaml:"password"`
	}
	type mediaCfg struct {
		URL string `yaml:"url"`
	}
	var media *mediaCfg
	if mediaURL != "" {
		media = &mediaCfg{URL: mediaURL}
	}
	var body strings.Builder
	enc := yaml.NewEncoder(&body)
	enc.SetIndent(2) // as configs/edge.example.yaml
	err := enc.Encode(struct {
		BoxID       string    `yaml:"box_id"`
		TownshipKey string    `yaml:"township_key"`
		Broker      brokerCfg `yaml:"broker"`
		DataDir     string    `yaml:"data_dir"`
		Media       *mediaCfg `yaml:"media,omitempty"`
	}{b.ID, protocol.EncodePublicKey(pub), brokerCfg{brokerURL, b.ID, secret}, EdgeDataDir, media})
	if err == nil {
		err = enc.Close()
	}
	if err != nil {
		return "", fmt.Errorf("fleet: render edge config of %s: %w", b.ID, err)
	}
	var head strings.Builder
	fmt.Fprintf(&head, "# dalaba-edge config for box %s, made by dalaba-cloud.\n", b.ID)
	// ValidateName refuses control characters, so the name stays on its
	// comment line.
	fmt.Fprintf(&head, "# Village: %s\n", b.Name)
	head.WriteString("# It holds the box's MQTT password, shown only this once: install it as\n" +
		"# /etc/dalaba/edge.yaml, mode 0600. configs/edge.example.yaml lists the other keys.\n")
	return head.String() + body.String(), nil
}
