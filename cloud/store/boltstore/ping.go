package boltstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dalaba/dalaba/cloud/store"
)

// MinFree is the free space, in bytes, below which Ping calls the disk
// full. bbolt rewrites small changes into pages it has freed, so a tiny
// write still succeeds on a full disk while the next batch of events,
// which grows the file, fails: the write alone cannot tell.
const MinFree = 8 << 20

// keyPing is where Ping writes, in the meta bucket.
var keyPing = []byte("ping")

// errNoStatfs is a platform where the free space cannot be read; Ping
// then relies on its write alone.
var errNoStatfs = errors.New("free space unknown on this platform")

// Ping checks the free space of the file's disk, then writes the time
// into the file and waits for it to be synced, as every write does.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: ping: %w", err)
	}
	dir := filepath.Dir(s.db.Path())
	free, err := freeBytes(dir)
	switch {
	case errors.Is(err, errNoStatfs):
	case err != nil:
		return fmt.Errorf("boltstore: ping: free space of %s: %w", dir, err)
	case free < MinFree:
		return fmt.Errorf("boltstore: ping: %s: %w: %d bytes free, under %d", dir, store.ErrFull, free, MinFree)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyPing, u64(uint64(time.Now().UnixNano())))
	})
	if err != nil {
		return fmt.Errorf("boltstore: ping: write: %w", err)
	}
	return nil
}
