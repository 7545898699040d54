// Package store is the village box's one bbolt file: the schema version,
// the applied desired state, the ids of commands already run, and the
// clock's last-trusted-time floor. Other edge packages (the outbox, later
// the media index) keep their own buckets in the same file through DB(), so
// the box has one file to fsync and one to check after a crash. It knows
// nothing of MQTT or of what the desired state means.
//
// Costs: every write here is one bbolt commit, two fdatasyncs; they are rare
// (a new desired state, a command, a floor raise once a health interval).
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout this code reads and writes.
const SchemaVersion = 1

// ErrStale is returned for a desired state at or below the stored rev.
var ErrStale = errors.New("store: rev is not newer than the stored one")

var (
	bucketMeta     = []byte("meta")
	bucketCommands = []byte("commands")
	bucketFired    = []byte("fired")

	keySchema     = []byte("schema")
	keyDesiredRev = []byte("desired_rev")
	keyDesired    = []byte("desired")
	keyTimeFloor  = []byte("time_floor")
	keyContact    = []byte("last_contact")
)

// Options tune Open.
type Options struct {
	Timeout time.Duration // waiting for the file lock; default 1 s
	NoSync  bool          // tests only: skips fsync, loses durability
}

// Store is the open file.
type Store struct {
	db *bolt.DB
}

// Open opens or creates the file at path.
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout == 0 {
		opts.Timeout = time.Second
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: opts.Timeout,
		NoSync:  opts.NoSync,
		// The freelist is rebuilt on open rather than written on every
		// commit: one page less per commit, which on an SD card at a
		// trickle of events is a good share of the wear.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		// Used only when the file is created. A commit writes whole pages:
		// at least the leaf it changed, the branches above it and a meta
		// page. Small pages make a single event's commit a few KiB instead
		// of tens; the cost, deeper trees for big buckets, is small at a
		// village box's sizes.
		PageSize: 1024,
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{db: db}
	if err := db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketCommands); err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketFired); err != nil {
			return err
		}
		if v := meta.Get(keySchema); v != nil {
			if got := binary.BigEndian.Uint64(v); got != SchemaVersion {
				return fmt.Errorf("file has schema version %d, this build reads %d: upgrade dalaba-edge", got, SchemaVersion)
			}
			return nil
		}
		return meta.Put(keySchema, u64(SchemaVersion))
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	return s, nil
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// DB is the bbolt handle for packages that keep their own buckets here.
func (s *Store) DB() *bolt.DB { return s.db }

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Check runs bbolt's consistency check over the whole file.
func (s *Store) Check() error {
	return s.db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// AppliedDesired returns the stored desired state (0, nil when none).
func (s *Store) AppliedDesired() (rev uint64, payload []byte, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if v := m.Get(keyDesiredRev); v != nil {
			rev = binary.BigEndian.Uint64(v)
			payload = append([]byte(nil), m.Get(keyDesired)...)
		}
		return nil
	})
	return rev, payload, err
}

// SaveDesired stores a desired state; it returns after fsync. ErrStale if
// rev is not above the stored one.
func (s *Store) SaveDesired(rev uint64, payload []byte) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if v := m.Get(keyDesiredRev); v != nil && rev <= binary.BigEndian.Uint64(v) {
			return ErrStale
		}
		if err := m.Put(keyDesired, payload); err != nil {
			return err
		}
		return m.Put(keyDesiredRev, u64(rev))
	})
	if err != nil && !errors.Is(err, ErrStale) {
		return fmt.Errorf("store: save desired rev %d: %w", rev, err)
	}
	return err
}

// RememberCommand records a command id until it expires. It returns false
// if the id was seen before (a replay). Expired ids are pruned on the way:
// the protocol refuses an expired command anyway, so the set stays small.
func (s *Store) RememberCommand(id string, expires, now time.Time) (fresh bool, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCommands)
		if b.Get([]byte(id)) != nil {
			return nil
		}
		fresh = true
		var old [][]byte
		if err := b.ForEach(func(k, v []byte) error {
			if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < now.UnixNano() {
				old = append(old, append([]byte(nil), k...))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return b.Put([]byte(id), u64(uint64(expires.UnixNano())))
	})
	if err != nil {
		return false, fmt.Errorf("store: remember command %s: %w", id, err)
	}
	return fresh, nil
}

// TimeFloor returns the last trusted time (zero when none).
func (s *Store) TimeFloor() (time.Time, error) {
	var t time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyTimeFloor); v != nil {
			t = time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
		}
		return nil
	})
	return t, err
}

// RaiseTimeFloor moves the floor up to t; it never lowers it.
func (s *Store) RaiseTimeFloor(t time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if v := m.Get(keyTimeFloor); v != nil && int64(binary.BigEndian.Uint64(v)) >= t.UnixNano() {
			return nil
		}
		return m.Put(keyTimeFloor, u64(uint64(t.UnixNano())))
	})
}

// LastContact is when the box was last known connected to the township,
// zero if never: list announcements are played only while it is recent.
func (s *Store) LastContact() (time.Time, error) {
	var t time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyContact); len(v) == 8 {
			t = time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
		}
		return nil
	})
	return t, err
}

// SetLastContact records t as the last contact.
func (s *Store) SetLastContact(t time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyContact, u64(uint64(t.UnixNano())))
	})
}

// LastFired returns when schedule id last fired (or was skipped), zero if
// never: the broadcast scheduler counts from it, so a clock jumping back
// never plays an occurrence twice.
func (s *Store) LastFired(id string) (time.Time, error) {
	var t time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketFired).Get([]byte(id)); len(v) == 8 {
			t = time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
		}
		return nil
	})
	return t, err
}

// SetLastFired records that schedule id's occurrence at t was handled.
func (s *Store) SetLastFired(id string, t time.Time) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFired).Put([]byte(id), u64(uint64(t.UnixNano())))
	})
	if err != nil {
		return fmt.Errorf("store: record schedule %s: %w", id, err)
	}
	return nil
}
