// Package fleet is the township's view of its boxes: registering them with
// their MQTT credentials, compiling, signing and publishing each box's
// desired state, taking in what boxes publish (presence, reported state,
// events, command results) and sending signed commands. It knows the store
// through cloud/store and MQTT only through a Publisher.
package fleet

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/dalaba/dalaba/cloud/broker"
	"github.com/dalaba/dalaba/cloud/ingest"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// ErrInvalid marks bad input (an invalid id or name).
var ErrInvalid = errors.New("invalid")

// Publisher is the MQTT side the fleet needs.
type Publisher interface {
	Publish(ctx context.Context, topic string, retained bool, payload []byte) error
	PublishAsync(topic string, retained bool, payload []byte)
}

// Config is how the fleet signs and what it tells boxes.
type Config struct {
	Validity  time.Duration // of a signed desired state
	BrokerURL string        // what boxes connect to, written into their configs
}

// Deps are what the fleet uses.
type Deps struct {
	Logger    *slog.Logger
	Store     store.Store
	Key       ed25519.PrivateKey
	Publisher Publisher
	Now       func() time.Time
}

// Fleet holds the live state of the boxes.
type Fleet struct {
	cfg    Config
	log    *slog.Logger
	st     store.Store
	key    ed25519.PrivateKey
	pub    Publisher
	now    func() time.Time
	ingest *ingest.Ingester

	mu       sync.Mutex
	rejected map[string]uint64
	waiters  map[string]chan protocol.CommandResult
}

// New validates cfg and deps.
func New(cfg Config, deps Deps) (*Fleet, error) {
	var errs []error
	if cfg.Validity < time.Hour {
		errs = append(errs, fmt.Errorf("validity %s: at least 1h", cfg.Validity))
	}
	if deps.Store == nil || deps.Publisher == nil {
		errs = append(errs, errors.New("store and publisher are required"))
	}
	if len(deps.Key) != ed25519.PrivateKeySize {
		errs = append(errs, errors.New("no signing key"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	in, err := ingest.New(ingest.Deps{Logger: deps.Logger, Store: deps.Store, Now: deps.Now})
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	return &Fleet{
		cfg: cfg, log: deps.Logger.With("component", "fleet"), st: deps.Store, key: deps.Key,
		pub: deps.Publisher, now: deps.Now, ingest: in,
		rejected: map[string]uint64{}, waiters: map[string]chan protocol.CommandResult{},
	}, nil
}

// ValidateName checks a box's display name: 1-64 characters, no control
// characters (it lands in configs and the console).
func ValidateName(name string) error {
	n := utf8.RuneCountInString(name)
	if n < 1 || n > 64 || !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return fmt.Errorf("%w: box name must be 1-64 printable characters", ErrInvalid)
	}
	return nil
}

// Provision registers box id with a new MQTT secret and signs its first
// desired state (rev 1), all in the store. It works with the service
// stopped (the `box add` command) as well as from a running fleet.
func Provision(ctx context.Context, st store.Store, key ed25519.PrivateKey, validity time.Duration, now time.Time, id, name string) (store.Box, string, store.Desired, error) {
	if err := protocol.ValidateBoxID(id); err != nil {
		return store.Box{}, "", store.Desired{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := ValidateName(name); err != nil {
		return store.Box{}, "", store.Desired{}, err
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw) // crypto/rand.Read never fails on Linux
	secret := base64.RawURLEncoding.EncodeToString(raw)
	h := sha256.Sum256([]byte(secret))
	b := store.Box{ID: id, Name: name, SecretHash: h[:], CreatedAt: now}
	if err := st.CreateBox(ctx, b); err != nil {
		return store.Box{}, "", store.Desired{}, fmt.Errorf("fleet: add box %s: %w", id, err)
	}
	d, err := signNext(ctx, st, key, validity, now, id, 0, json.RawMessage(`{}`))
	if err != nil {
		return store.Box{}, "", store.Desired{}, err
	}
	b.DesiredRev = d.Rev
	return b, secret, d, nil
}

// signNext signs spec as rev prev+1 and stores it.
func signNext(ctx context.Context, st store.Store, key ed25519.PrivateKey, validity time.Duration, now time.Time, id string, prev uint64, spec json.RawMessage) (store.Desired, error) {
	payload, err := protocol.SignDesired(key, protocol.Desired{BoxID: id, Rev: prev + 1, IssuedAt: now, ExpiresAt: now.Add(validity), Spec: spec})
	if err != nil {
		return store.Desired{}, fmt.Errorf("fleet: sign desired for %s: %w", id, err)
	}
	d := store.Desired{BoxID: id, Rev: prev + 1, Payload: payload}
	if err := st.PutDesired(ctx, d); err != nil {
		return store.Desired{}, fmt.Errorf("fleet: store desired for %s: %w", id, err)
	}
	return d, nil
}

// EdgeConfig renders a ready dalaba-edge config for a provisioned box.
func EdgeConfig(b store.Box, secret, brokerURL string, pub ed25519.PublicKey) (string, error) {
	type brokerCfg struct {
		URL      string `yaml:"url"`
		Username string `yaml:"username"`
		Password string `yaml:"password"`
	}
	out, err := yaml.Marshal(struct {
		BoxID       string    `yaml:"box_id"`
		TownshipKey string    `yaml:"township_key"`
		Broker      brokerCfg `yaml:"broker"`
		DataDir     string    `yaml:"data_dir"`
	}{b.ID, protocol.EncodePublicKey(pub), brokerCfg{brokerURL, b.ID, secret}, "/var/lib/dalaba"})
	if err != nil {
		return "", fmt.Errorf("fleet: render edge config: %w", err)
	}
	head := fmt.Sprintf("# dalaba-edge config for box %s, made by dalaba-cloud.\n# It holds the box's MQTT password: keep it at mode 0600.\n# Name: %s\n", b.ID, b.Name)
	return head + string(out), nil
}

// AddBox provisions a box, publishes its desired state and returns its
// edge config.
func (f *Fleet) AddBox(ctx context.Context, id, name string) (store.Box, string, error) {
	b, secret, d, err := Provision(ctx, f.st, f.key, f.cfg.Validity, f.now(), id, name)
	if err != nil {
		return store.Box{}, "", err
	}
	f.publishDesired(ctx, d)
	cfg, err := EdgeConfig(b, secret, f.cfg.BrokerURL, f.key.Public().(ed25519.PublicKey))
	return b, cfg, err
}

// SetSpec signs spec as the box's next desired state and publishes it.
func (f *Fleet) SetSpec(ctx context.Context, id string, spec json.RawMessage) (uint64, error) {
	b, err := f.st.GetBox(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("fleet: set spec of %s: %w", id, err)
	}
	d, err := signNext(ctx, f.st, f.key, f.cfg.Validity, f.now(), id, b.DesiredRev, spec)
	if err != nil {
		return 0, err
	}
	f.publishDesired(ctx, d)
	return d.Rev, nil
}

func (f *Fleet) publishDesired(ctx context.Context, d store.Desired) {
	if err := f.pub.Publish(ctx, protocol.Topic(d.BoxID, protocol.KindDesired), true, d.Payload); err != nil {
		// Not lost: it is stored and republished on the next connect.
		f.log.Warn("desired state not published yet", "box_id", d.BoxID, "rev", d.Rev, "err", err)
	}
}

// RepublishAll publishes every box's stored desired state, retained: after
// a (re)connect, since an embedded broker forgets retained messages when it
// restarts. Desired states past half their validity are re-signed first.
func (f *Fleet) RepublishAll(ctx context.Context) {
	boxes, err := f.st.ListBoxes(ctx)
	if err != nil {
		f.log.Error("listing boxes to republish", "err", err)
		return
	}
	for _, b := range boxes {
		d, err := f.st.GetDesired(ctx, b.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			f.log.Error("reading desired state", "box_id", b.ID, "err", err)
			continue
		}
		if fresh, err := f.refreshIfOld(ctx, b.ID, d); err != nil {
			f.log.Error("re-signing desired state", "box_id", b.ID, "err", err)
		} else {
			d = fresh
		}
		f.publishDesired(ctx, d)
	}
}

// refreshIfOld re-signs d with rev+1 when half its validity has passed.
func (f *Fleet) refreshIfOld(ctx context.Context, id string, d store.Desired) (store.Desired, error) {
	var env protocol.Envelope
	var body protocol.Desired
	if err := json.Unmarshal(d.Payload, &env); err != nil {
		return d, fmt.Errorf("stored desired state of %s: %w", id, err)
	}
	if err := json.Unmarshal(env.Body, &body); err != nil {
		return d, fmt.Errorf("stored desired state of %s: %w", id, err)
	}
	now := f.now()
	if now.Sub(body.IssuedAt) < f.cfg.Validity/2 {
		return d, nil
	}
	return signNext(ctx, f.st, f.key, f.cfg.Validity, now, id, d.Rev, body.Spec)
}

// Run re-signs ageing desired states every hour until ctx ends.
func (f *Fleet) Run(ctx context.Context) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			f.RepublishAll(ctx)
		}
	}
}

// Handle takes one message a box published. It runs on the MQTT client's
// goroutine, in order, so it never waits on a publish.
func (f *Fleet) Handle(box string, k protocol.Kind, payload []byte) {
	ctx := context.Background()
	var err error
	switch k {
	case protocol.KindEvents:
		err = f.handleEvents(ctx, box, payload)
	case protocol.KindStatus:
		err = f.handleStatus(ctx, box, payload)
	case protocol.KindReported:
		err = f.handleReported(ctx, box, payload)
	case protocol.KindCmdResult:
		err = f.handleResult(box, payload)
	default:
		return // the cloud's own publications echoed back
	}
	if err == nil {
		return
	}
	if errors.Is(err, store.ErrNotFound) {
		f.log.Warn("message from an unregistered box", "box_id", box, "topic", protocol.Topic(box, k))
		return
	}
	if re, ok := errors.AsType[*protocol.RejectError](err); ok {
		f.mu.Lock()
		f.rejected[box]++
		f.mu.Unlock()
		f.log.Warn("message rejected", "box_id", box, "topic", protocol.Topic(box, k), "reason", re.Reason, "err", err)
		return
	}
	f.log.Error("handling a box message", "box_id", box, "topic", protocol.Topic(box, k), "err", err)
}

func (f *Fleet) handleEvents(ctx context.Context, box string, payload []byte) error {
	ack, err := f.ingest.Handle(ctx, box, payload)
	if err != nil {
		return err
	}
	f.pub.PublishAsync(protocol.Topic(box, protocol.KindEventsAck), false, ack)
	return nil
}

func (f *Fleet) handleStatus(ctx context.Context, box string, payload []byte) error {
	s, err := protocol.DecodeStatus(box, payload)
	if err != nil {
		return err
	}
	now := f.now()
	err = f.st.UpdateBox(ctx, box, func(b *store.Box) error {
		b.Online = s.Online
		b.LastSeen = now
		return nil
	})
	if err == nil {
		f.log.Info("box presence", "box_id", box, "online", s.Online)
	}
	return err
}

func (f *Fleet) handleReported(ctx context.Context, box string, payload []byte) error {
	r, err := protocol.DecodeReported(box, payload)
	if err != nil {
		return err
	}
	now := f.now()
	return f.st.UpdateBox(ctx, box, func(b *store.Box) error {
		b.AppliedRev = r.AppliedRev
		b.OutboxBacklog = r.OutboxBacklog
		b.ReportedAt = now
		b.LastSeen = now
		return nil
	})
}

func (f *Fleet) handleResult(box string, payload []byte) error {
	r, err := protocol.DecodeCommandResult(box, payload)
	if err != nil {
		return err
	}
	f.mu.Lock()
	ch, ok := f.waiters[box+"/"+r.ID]
	f.mu.Unlock()
	if ok {
		select {
		case ch <- r:
		default: // a duplicate delivery of a result already taken
		}
	}
	return nil
}

// Rejected counts malformed messages from box since the service started.
func (f *Fleet) Rejected(box string) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rejected[box]
}

// SendCommand signs a command of type typ for box, publishes it and waits
// for the box's result or ctx. The command expires with ctx's deadline
// (at most protocol.MaxCommandLifetime), so a box offline now never runs
// it late.
func (f *Fleet) SendCommand(ctx context.Context, box, typ string, args json.RawMessage) (protocol.CommandResult, error) {
	now := f.now()
	exp := now.Add(time.Minute)
	if dl, ok := ctx.Deadline(); ok && dl.Before(exp) && dl.After(now) {
		exp = dl
	}
	idb := make([]byte, 12)
	_, _ = rand.Read(idb) // crypto/rand.Read never fails on Linux
	id := hex.EncodeToString(idb)
	payload, err := protocol.SignCommand(f.key, protocol.Command{ID: id, BoxID: box, Type: typ, IssuedAt: now, ExpiresAt: exp, Args: args})
	if err != nil {
		return protocol.CommandResult{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	ch := make(chan protocol.CommandResult, 1)
	key := box + "/" + id
	f.mu.Lock()
	f.waiters[key] = ch
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.waiters, key)
		f.mu.Unlock()
	}()
	if err := f.pub.Publish(ctx, protocol.Topic(box, protocol.KindCmd), false, payload); err != nil {
		return protocol.CommandResult{}, fmt.Errorf("fleet: send %s to %s: %w", typ, box, err)
	}
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		return protocol.CommandResult{}, fmt.Errorf("fleet: %s to %s: %w", typ, box, ctx.Err())
	}
}

// Authenticator admits the service's own client and registered boxes to
// the embedded broker.
type Authenticator struct {
	Store         store.Boxes
	CloudUser     string
	CloudPassword string // made afresh at every start, held only in memory
}

// Authenticate implements broker.Authenticator.
func (a Authenticator) Authenticate(ctx context.Context, username string, password []byte) (broker.Identity, bool) {
	if username == a.CloudUser {
		ok := a.CloudPassword != "" && subtle.ConstantTimeCompare(password, []byte(a.CloudPassword)) == 1
		return broker.Identity{Cloud: ok}, ok
	}
	if protocol.ValidateBoxID(username) != nil {
		return broker.Identity{}, false
	}
	b, err := a.Store.GetBox(ctx, username)
	if err != nil {
		return broker.Identity{}, false
	}
	h := sha256.Sum256(password)
	if subtle.ConstantTimeCompare(h[:], b.SecretHash) != 1 {
		return broker.Identity{}, false
	}
	return broker.Identity{Box: b.ID}, true
}
