package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// SchemaVersion is the layout this package reads and writes. A file with
// a newer version is refused rather than misread; an older one is migrated
// on open (version 2 added the plans and media buckets, version 3 the
// red/black lists' buckets, version 4 the epochs bucket and incarnations,
// see migrate4, version 5 the buckets of community.go, version 6 the
// roster's and boxes' new fields, see migrate6, version 7 the alerting's
// four, version 8 the claim codes' two, version 9 the releases and rollouts
// of software updates, version 10 the townships' bucket and the township
// of boxes, users and claims, which an older reader would drop).
const SchemaVersion = 10

// DefaultTimeout is how long Open waits for the file lock when
// Options.Timeout is zero. bbolt's own zero means forever, which would hang
// a second dalaba-cloud silently instead of telling the operator.
const DefaultTimeout = time.Second

// Sentinel errors of Open.
var (
	ErrInUse  = errors.New("store in use by a running dalaba-cloud")
	ErrSchema = errors.New("unsupported store schema")
)

// Options tune Open.
type Options struct {
	// Timeout bounds the wait for the file lock another process holds;
	// zero means DefaultTimeout.
	Timeout time.Duration
}

var (
	bucketMeta     = []byte("meta")
	bucketBoxes    = []byte("boxes")
	bucketDesired  = []byte("desired")
	bucketEvents   = []byte("events")
	bucketUsers    = []byte("users")
	bucketSessions = []byte("sessions")
	bucketPlans    = []byte("plans")
	bucketMedia    = []byte("media")
	bucketHouses   = []byte("households")
	bucketPersons  = []byte("persons")
	bucketCats     = []byte("categories")
	bucketEntries  = []byte("entries")
	bucketAudit    = []byte("audit")
	bucketEpochs   = []byte("epochs")
	keySchema      = []byte("schema")

	bucketAlertConf    = []byte("alertconf")
	bucketIncidents    = []byte("incidents")
	bucketAlerts       = []byte("alerts")
	bucketAlertPending = []byte("alertpending")
)

func buckets() [][]byte {
	return append([][]byte{bucketMeta, bucketBoxes, bucketDesired, bucketEvents, bucketUsers, bucketSessions, bucketPlans, bucketMedia,
		bucketHouses, bucketPersons, bucketCats, bucketEntries, bucketAudit, bucketEpochs,
		bucketAlertConf, bucketIncidents, bucketAlerts, bucketAlertPending, bucketClaims, bucketClaimKeys, bucketReleases, bucketRollouts, bucketTownships}, communityBuckets()...)
}

// addedIn lists the buckets each schema version added, for migration.
var addedIn = map[uint64][][]byte{
	2:  {bucketPlans, bucketMedia},
	3:  {bucketHouses, bucketPersons, bucketCats, bucketEntries, bucketAudit},
	4:  {bucketEpochs},
	5:  communityBuckets(),
	7:  {bucketAlertConf, bucketIncidents, bucketAlerts, bucketAlertPending},
	8:  {bucketClaims, bucketClaimKeys},
	9:  {bucketReleases, bucketRollouts},
	10: {bucketTownships},
}

// migrations are what a schema version changed beyond adding buckets, run
// after its buckets are made, in the same transaction as the whole
// migration.
var migrations = map[uint64]func(*bolt.Tx) error{
	4: migrate4,
	6: migrate6,
}

// migrate6 writes every stored person's status as active. Version 6 adds
// fields to boxes (place, retired_at), households (group, updated_*) and
// persons (phone, id_last4, status, updated_*), which a version 5 reader
// would drop when it rewrote a record: hence a new version, so that an
// older dalaba-cloud refuses the file instead. Absent fields read as
// empty, so only the status is written out.
func migrate6(tx *bolt.Tx) error {
	return tx.Bucket(bucketPersons).ForEachBucket(func(village []byte) error {
		b := tx.Bucket(bucketPersons).Bucket(village)
		type kv struct{ k, v []byte }
		var out []kv // bbolt forbids writing a bucket while walking it
		err := b.ForEach(func(k, v []byte) error {
			var r personRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("person %q of %q: decode: %w", k, village, err)
			}
			if r.Status != "" {
				return nil
			}
			r.Status = string(store.PersonActive)
			nv, err := json.Marshal(r)
			if err != nil {
				return fmt.Errorf("person %q of %q: encode: %w", k, village, err)
			}
			out = append(out, kv{append([]byte(nil), k...), nv})
			return nil
		})
		if err != nil {
			return err
		}
		for _, x := range out {
			if err := b.Put(x.k, x.v); err != nil {
				return err
			}
		}
		return nil
	})
}

// migrate4 makes every box's events its first incarnation. Their keys do
// not move: the first incarnation's positions are its seqs. What needs
// care is what no box ever sent but an older store accepted: seqs above
// protocol.MaxSeq, which now read as later incarnations (the box's count
// then starts above them, so no new incarnation lands on them), and a
// watermark above MaxSeq, which is lowered to it.
func migrate4(tx *bolt.Tx) error {
	var ids []string // bbolt forbids writing a bucket while walking it
	if err := tx.Bucket(bucketBoxes).ForEach(func(k, _ []byte) error { ids = append(ids, string(k)); return nil }); err != nil {
		return err
	}
	for _, id := range ids {
		evb, r, err := eventsOf(tx, id)
		if err != nil {
			return err
		}
		changed := false
		if last, _ := evb.Cursor().Last(); last != nil {
			if inc, _ := store.SplitPosition(binary.BigEndian.Uint64(last)); inc > 1 {
				r.Incarnation, r.Watermark, changed = inc, 0, true
			}
		}
		if r.Watermark > protocol.MaxSeq {
			r.Watermark, changed = protocol.MaxSeq, true
		}
		if changed {
			if err := putBox(tx, id, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// Store is a store.Store on one bbolt file. Its methods are safe for
// concurrent use; writes are serialised by bbolt.
type Store struct {
	db *bolt.DB
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the store file at path (mode 0600) and checks its
// schema version.
func Open(path string, opts Options) (*Store, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("boltstore: open %s: %w (no file lock within %s: %w)", path, ErrInUse, timeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	if err := db.Update(initSchema); err != nil {
		_ = db.Close() // the schema error is the one to report
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// initSchema writes the layout into a new file, or checks an existing one.
func initSchema(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil }) // the callback never fails
		if !empty {
			return fmt.Errorf("%w: the file has no schema version; it is not a dalaba-cloud store", ErrSchema)
		}
		for _, name := range buckets() {
			if _, err := tx.CreateBucket(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, u64(SchemaVersion))
	}
	v := meta.Get(keySchema)
	if len(v) != 8 {
		return fmt.Errorf("%w: unreadable schema version %x", ErrSchema, v)
	}
	got := binary.BigEndian.Uint64(v)
	if got == 0 || got > SchemaVersion {
		return fmt.Errorf("%w: the file has version %d, this dalaba-cloud reads up to %d", ErrSchema, got, SchemaVersion)
	}
	// An older file is brought up to date in this same transaction: all
	// of it or none.
	for ver := got + 1; ver <= SchemaVersion; ver++ {
		for _, name := range addedIn[ver] {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("migrate to schema %d: create bucket %s: %w", ver, name, err)
			}
		}
		if m := migrations[ver]; m != nil {
			if err := m(tx); err != nil {
				return fmt.Errorf("migrate to schema %d: %w", ver, err)
			}
		}
	}
	if got != SchemaVersion {
		if err := meta.Put(keySchema, u64(SchemaVersion)); err != nil {
			return fmt.Errorf("migrate to schema %d: %w", SchemaVersion, err)
		}
	}
	for _, name := range buckets() {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("%w: bucket %s is missing", ErrSchema, name)
		}
	}
	return nil
}

// Close releases the file and its lock.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close: %w", err)
	}
	return nil
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// boxRecord is the stored form of a store.Box; its JSON names are the file
// format, so they change only with SchemaVersion.
type boxRecord struct {
	Name          string    `json:"name"`
	Place         string    `json:"place,omitempty"`
	Township      string    `json:"township,omitempty"`
	RetiredAt     time.Time `json:"retired_at,omitzero"`
	SecretHash    []byte    `json:"secret_hash"`
	CreatedAt     time.Time `json:"created_at"`
	Online        bool      `json:"online"`
	LastSeen      time.Time `json:"last_seen"`
	AppliedRev    uint64    `json:"applied_rev"`
	OutboxBacklog uint64    `json:"outbox_backlog"`
	ReportedAt    time.Time `json:"reported_at"`
	DesiredRev    uint64    `json:"desired_rev"`
	// Epoch, Incarnation and Watermark are the current incarnation's;
	// Incarnation 0 (a record from before schema 4) is the first.
	Epoch       string `json:"epoch,omitempty"`
	Incarnation uint32 `json:"incarnation,omitempty"`
	Watermark   uint64 `json:"watermark"`
	// Events counts the box's stored events, so CountEvents need not walk
	// them.
	Events uint64 `json:"events"`
	// The latest box.health event. Soft state: a reader without these
	// fields drops them on rewrite and the box's next report restores
	// them, so they need no schema version of their own.
	HealthPos  uint64          `json:"health_pos,omitempty"`
	HealthTime time.Time       `json:"health_time,omitzero"`
	HealthData json.RawMessage `json:"health_data,omitempty"`
}

func (r boxRecord) incarnation() uint32 { return max(r.Incarnation, 1) }

func toRecord(b store.Box, events uint64) boxRecord {
	return boxRecord{
		Name: b.Name, Place: b.Place, Township: b.Township, RetiredAt: b.RetiredAt, SecretHash: b.SecretHash, CreatedAt: b.CreatedAt,
		Online: b.Online, LastSeen: b.LastSeen, AppliedRev: b.AppliedRev,
		OutboxBacklog: b.OutboxBacklog, ReportedAt: b.ReportedAt,
		DesiredRev: b.DesiredRev, Epoch: b.Epoch, Incarnation: b.Incarnation, Watermark: b.Watermark, Events: events,
		HealthPos: b.Health.Position, HealthTime: b.Health.Time, HealthData: b.Health.Data,
	}
}

func (r boxRecord) box(id string) store.Box {
	return store.Box{
		ID: id, Name: r.Name, Place: r.Place, Township: r.Township, RetiredAt: r.RetiredAt, SecretHash: r.SecretHash, CreatedAt: r.CreatedAt,
		Online: r.Online, LastSeen: r.LastSeen, AppliedRev: r.AppliedRev,
		OutboxBacklog: r.OutboxBacklog, ReportedAt: r.ReportedAt,
		DesiredRev: r.DesiredRev, Epoch: r.Epoch, Incarnation: r.incarnation(), Watermark: r.Watermark,
		Health: store.Health{Position: r.HealthPos, Time: r.HealthTime, Data: r.HealthData},
	}
}

// getBox reads box id's record; ErrNotFound if there is none.
func getBox(tx *bolt.Tx, id string) (boxRecord, error) {
	v := tx.Bucket(bucketBoxes).Get([]byte(id))
	if v == nil {
		return boxRecord{}, fmt.Errorf("box %q: %w", id, store.ErrNotFound)
	}
	var r boxRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return boxRecord{}, fmt.Errorf("box %q: decode: %w", id, err)
	}
	return r, nil
}

func putBox(tx *bolt.Tx, id string, r boxRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("box %q: encode: %w", id, err)
	}
	return tx.Bucket(bucketBoxes).Put([]byte(id), v)
}

// CreateBox registers b with its events bucket; ErrExists if the id is
// taken.
func (s *Store) CreateBox(ctx context.Context, b store.Box) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.ID == "" {
		return errors.New("boltstore: create box: empty id")
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketBoxes).Get([]byte(b.ID)) != nil {
			return fmt.Errorf("box %q: %w", b.ID, store.ErrExists)
		}
		if _, err := tx.Bucket(bucketEvents).CreateBucketIfNotExists([]byte(b.ID)); err != nil {
			return fmt.Errorf("box %q: events bucket: %w", b.ID, err)
		}
		return putBox(tx, b.ID, toRecord(b, 0))
	})
	if err != nil {
		return fmt.Errorf("boltstore: create box: %w", err)
	}
	return nil
}

// GetBox returns box id; ErrNotFound if unknown.
func (s *Store) GetBox(ctx context.Context, id string) (store.Box, error) {
	if err := ctx.Err(); err != nil {
		return store.Box{}, err
	}
	var b store.Box
	err := s.db.View(func(tx *bolt.Tx) error {
		r, err := getBox(tx, id)
		b = r.box(id)
		return err
	})
	if err != nil {
		return store.Box{}, fmt.Errorf("boltstore: get box: %w", err)
	}
	return b, nil
}

// ListBoxes returns every box ordered by id (bbolt keys are sorted).
func (s *Store) ListBoxes(ctx context.Context) ([]store.Box, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []store.Box
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBoxes).ForEach(func(k, v []byte) error {
			var r boxRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("box %q: decode: %w", k, err)
			}
			out = append(out, r.box(string(k)))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list boxes: %w", err)
	}
	return out, nil
}

// UpdateBox runs fn on box id in one write transaction. Changes fn makes to
// ID, SecretHash, CreatedAt, RetiredAt, Epoch, Incarnation and Watermark
// are ignored; if fn fails nothing is written.
func (s *Store) UpdateBox(ctx context.Context, id string, fn func(*store.Box) error) error {
	return s.updateBox(ctx, id, false, fn)
}

// UpdateBoxCredentials is UpdateBox where fn may also change SecretHash
// and RetiredAt.
func (s *Store) UpdateBoxCredentials(ctx context.Context, id string, fn func(*store.Box) error) error {
	return s.updateBox(ctx, id, true, fn)
}

func (s *Store) updateBox(ctx context.Context, id string, credentials bool, fn func(*store.Box) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error { return updateIn(tx, id, credentials, fn) })
	if err != nil {
		return fmt.Errorf("boltstore: update box %s: %w", id, err)
	}
	return nil
}

// updateIn runs fn on box id within tx; see UpdateBox.
func updateIn(tx *bolt.Tx, id string, credentials bool, fn func(*store.Box) error) error {
	r, err := getBox(tx, id)
	if err != nil {
		return err
	}
	b := r.box(id)
	// fn gets its own copy of the hash, so it cannot alias the record.
	b.SecretHash = append([]byte(nil), r.SecretHash...)
	if err := fn(&b); err != nil {
		return err
	}
	b.ID, b.CreatedAt = id, r.CreatedAt
	if !credentials {
		b.SecretHash, b.RetiredAt = r.SecretHash, r.RetiredAt
	}
	b.Epoch, b.Incarnation, b.Watermark = r.Epoch, r.Incarnation, r.Watermark
	b.Health = store.Health{Position: r.HealthPos, Time: r.HealthTime, Data: r.HealthData}
	return putBox(tx, id, toRecord(b, r.Events))
}

// UpdateBoxes runs each fn on its box in one write transaction, in id
// order (neighbouring keys share pages); see store.Boxes.
func (s *Store) UpdateBoxes(ctx context.Context, fns map[string]func(*store.Box) error) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ids := slices.Sorted(maps.Keys(fns))
	var missing []string
	err := s.db.Update(func(tx *bolt.Tx) error {
		missing = missing[:0]
		for _, id := range ids {
			err := updateIn(tx, id, false, fns[id])
			if errors.Is(err, store.ErrNotFound) {
				missing = append(missing, id)
				continue
			}
			if err != nil {
				return fmt.Errorf("box %s: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: update %d boxes: %w", len(ids), err)
	}
	return missing, nil
}

// PutDesired stores d if its rev is above the stored one and records the
// rev in the box; ErrExists otherwise, ErrNotFound for an unknown box.
func (s *Store) PutDesired(ctx context.Context, d store.Desired) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		r, err := getBox(tx, d.BoxID)
		if err != nil {
			return err
		}
		bucket := tx.Bucket(bucketDesired)
		if old := bucket.Get([]byte(d.BoxID)); len(old) >= 8 {
			if rev := binary.BigEndian.Uint64(old); d.Rev <= rev {
				return fmt.Errorf("rev %d of box %q is not above the stored rev %d: %w", d.Rev, d.BoxID, rev, store.ErrExists)
			}
		}
		v := append(u64(d.Rev), d.Payload...)
		if err := bucket.Put([]byte(d.BoxID), v); err != nil {
			return err
		}
		r.DesiredRev = d.Rev
		return putBox(tx, d.BoxID, r)
	})
	if err != nil {
		return fmt.Errorf("boltstore: put desired: %w", err)
	}
	return nil
}

// GetDesired returns the last desired state stored for boxID.
func (s *Store) GetDesired(ctx context.Context, boxID string) (store.Desired, error) {
	if err := ctx.Err(); err != nil {
		return store.Desired{}, err
	}
	var d store.Desired
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketDesired).Get([]byte(boxID))
		if v == nil {
			return fmt.Errorf("desired state of box %q: %w", boxID, store.ErrNotFound)
		}
		if len(v) < 8 {
			return fmt.Errorf("desired state of box %q: %d bytes, too short", boxID, len(v))
		}
		d = store.Desired{BoxID: boxID, Rev: binary.BigEndian.Uint64(v), Payload: append([]byte(nil), v[8:]...)}
		return nil
	})
	if err != nil {
		return store.Desired{}, fmt.Errorf("boltstore: get desired: %w", err)
	}
	return d, nil
}
