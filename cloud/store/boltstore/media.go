package boltstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dalaba/dalaba/cloud/store"
)

// mediaRecord is the stored form of a store.MediaInfo.
type mediaRecord struct {
	Name       string    `json:"name"`
	Format     string    `json:"format"`
	Size       int64     `json:"size"`
	DurationMS int64     `json:"duration_ms"`
	UploadedBy string    `json:"uploaded_by"`
	UploadedAt time.Time `json:"uploaded_at"`
}

func (r mediaRecord) info(sha string) store.MediaInfo {
	return store.MediaInfo{SHA256: sha, Name: r.Name, Format: r.Format, Size: r.Size, DurationMS: r.DurationMS, UploadedBy: r.UploadedBy, UploadedAt: r.UploadedAt}
}

// PutMedia indexes m unless its sha256 is indexed already.
func (s *Store) PutMedia(ctx context.Context, m store.MediaInfo) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.SHA256 == "" {
		return errors.New("boltstore: put media: empty sha256")
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMedia)
		if b.Get([]byte(m.SHA256)) != nil {
			return nil
		}
		v, err := json.Marshal(mediaRecord{Name: m.Name, Format: m.Format, Size: m.Size, DurationMS: m.DurationMS, UploadedBy: m.UploadedBy, UploadedAt: m.UploadedAt})
		if err != nil {
			return err
		}
		return b.Put([]byte(m.SHA256), v)
	})
	if err != nil {
		return fmt.Errorf("boltstore: put media %s: %w", m.SHA256, err)
	}
	return nil
}

// GetMedia returns the clip indexed under sha; ErrNotFound if none.
func (s *Store) GetMedia(ctx context.Context, sha string) (store.MediaInfo, error) {
	if err := ctx.Err(); err != nil {
		return store.MediaInfo{}, err
	}
	var m store.MediaInfo
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMedia).Get([]byte(sha))
		if v == nil {
			return fmt.Errorf("media %q: %w", sha, store.ErrNotFound)
		}
		var r mediaRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("media %q: decode: %w", sha, err)
		}
		m = r.info(sha)
		return nil
	})
	if err != nil {
		return store.MediaInfo{}, fmt.Errorf("boltstore: get media: %w", err)
	}
	return m, nil
}

// ListMedia returns every indexed clip, newest upload first.
func (s *Store) ListMedia(ctx context.Context) ([]store.MediaInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []store.MediaInfo
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMedia).ForEach(func(k, v []byte) error {
			var r mediaRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("media %q: decode: %w", k, err)
			}
			out = append(out, r.info(string(k)))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list media: %w", err)
	}
	slices.SortStableFunc(out, func(a, b store.MediaInfo) int {
		return cmp.Or(b.UploadedAt.Compare(a.UploadedAt), cmp.Compare(a.SHA256, b.SHA256))
	})
	return out, nil
}
