package boltstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dalaba/dalaba/cloud/store"
)

// Releases are keyed by version, rollouts by id; both in JSON with names
// of their own (schema 9).

var (
	bucketReleases = []byte("releases")
	bucketRollouts = []byte("rollouts")
)

type releaseRecord struct {
	Version    string         `json:"version"`
	Notes      string         `json:"notes,omitempty"`
	Binaries   []binaryRecord `json:"binaries"`
	UploadedBy string         `json:"uploaded_by"`
	UploadedAt time.Time      `json:"uploaded_at"`
}

type binaryRecord struct {
	Arch     string `json:"arch"`
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
	Manifest []byte `json:"manifest"`
}

type rolloutRecord struct {
	ID          string             `json:"id"`
	Version     string             `json:"version"`
	Waves       []int              `json:"waves"`
	MaxFailures int                `json:"max_failures"`
	State       string             `json:"state"`
	Wave        int                `json:"wave"`
	Reason      string             `json:"reason,omitempty"`
	Boxes       []rolloutBoxRecord `json:"boxes"`
	CreatedBy   string             `json:"created_by"`
	CreatedAt   time.Time          `json:"created_at"`
	UpdatedAt   time.Time          `json:"updated_at"`
}

type rolloutBoxRecord struct {
	BoxID  string    `json:"box_id"`
	Wave   int       `json:"wave"`
	State  string    `json:"state"`
	Code   string    `json:"code,omitempty"`
	Detail string    `json:"detail,omitempty"`
	SentAt time.Time `json:"sent_at,omitzero"`
	DoneAt time.Time `json:"done_at,omitzero"`
	Tries  int       `json:"tries,omitempty"`
}

func toReleaseRecord(r store.Release) releaseRecord {
	out := releaseRecord{Version: r.Version, Notes: r.Notes, UploadedBy: r.UploadedBy, UploadedAt: r.UploadedAt, Binaries: []binaryRecord{}}
	for _, b := range r.Binaries {
		out.Binaries = append(out.Binaries, binaryRecord(b))
	}
	return out
}

func (r releaseRecord) release() store.Release {
	out := store.Release{Version: r.Version, Notes: r.Notes, UploadedBy: r.UploadedBy, UploadedAt: r.UploadedAt}
	for _, b := range r.Binaries {
		out.Binaries = append(out.Binaries, store.ReleaseBinary(b))
	}
	return out
}

func toRolloutRecord(r store.Rollout) rolloutRecord {
	out := rolloutRecord{ID: r.ID, Version: r.Version, Waves: slices.Clone(r.Waves), MaxFailures: r.MaxFailures, State: r.State, Wave: r.Wave,
		Reason: r.Reason, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Boxes: []rolloutBoxRecord{}}
	for _, b := range r.Boxes {
		out.Boxes = append(out.Boxes, rolloutBoxRecord(b))
	}
	return out
}

func (r rolloutRecord) rollout() store.Rollout {
	out := store.Rollout{ID: r.ID, Version: r.Version, Waves: r.Waves, MaxFailures: r.MaxFailures, State: r.State, Wave: r.Wave,
		Reason: r.Reason, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	for _, b := range r.Boxes {
		out.Boxes = append(out.Boxes, store.RolloutBox(b))
	}
	return out
}

// PutRelease implements store.Updates.
func (s *Store) PutRelease(ctx context.Context, r store.Release) error {
	return s.update(ctx, "put release", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReleases)
		if b.Get([]byte(r.Version)) != nil {
			return fmt.Errorf("release %q: %w", r.Version, store.ErrExists)
		}
		return putJSON(b, []byte(r.Version), toReleaseRecord(r))
	})
}

// GetRelease implements store.Updates.
func (s *Store) GetRelease(ctx context.Context, version string) (store.Release, error) {
	var rec releaseRecord
	err := s.view(ctx, "get release", func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bucketReleases), []byte(version), "release "+version, &rec)
	})
	return rec.release(), err
}

// ListReleases implements store.Updates.
func (s *Store) ListReleases(ctx context.Context) ([]store.Release, error) {
	var out []store.Release
	err := s.view(ctx, "list releases", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketReleases).ForEach(func(k, _ []byte) error {
			var rec releaseRecord
			if err := getJSON(tx.Bucket(bucketReleases), k, "release "+string(k), &rec); err != nil {
				return err
			}
			out = append(out, rec.release())
			return nil
		})
	})
	slices.SortStableFunc(out, func(a, b store.Release) int {
		if c := b.UploadedAt.Compare(a.UploadedAt); c != 0 {
			return c
		}
		return compareStrings(b.Version, a.Version)
	})
	return out, err
}

// CreateRollout implements store.Updates.
func (s *Store) CreateRollout(ctx context.Context, r store.Rollout) error {
	return s.update(ctx, "create rollout", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRollouts)
		if b.Get([]byte(r.ID)) != nil {
			return fmt.Errorf("rollout %q: %w", r.ID, store.ErrExists)
		}
		return putJSON(b, []byte(r.ID), toRolloutRecord(r))
	})
}

// GetRollout implements store.Updates.
func (s *Store) GetRollout(ctx context.Context, id string) (store.Rollout, error) {
	var rec rolloutRecord
	err := s.view(ctx, "get rollout", func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bucketRollouts), []byte(id), "rollout "+id, &rec)
	})
	return rec.rollout(), err
}

// ListRollouts implements store.Updates.
func (s *Store) ListRollouts(ctx context.Context) ([]store.Rollout, error) {
	var out []store.Rollout
	err := s.view(ctx, "list rollouts", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRollouts).ForEach(func(k, _ []byte) error {
			var rec rolloutRecord
			if err := getJSON(tx.Bucket(bucketRollouts), k, "rollout "+string(k), &rec); err != nil {
				return err
			}
			out = append(out, rec.rollout())
			return nil
		})
	})
	slices.SortStableFunc(out, func(a, b store.Rollout) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return compareStrings(b.ID, a.ID)
	})
	return out, err
}

// UpdateRollout implements store.Updates.
func (s *Store) UpdateRollout(ctx context.Context, id string, fn func(*store.Rollout) error) error {
	return s.update(ctx, "update rollout", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRollouts)
		var rec rolloutRecord
		if err := getJSON(b, []byte(id), "rollout "+id, &rec); err != nil {
			return err
		}
		r := rec.rollout()
		if err := fn(&r); err != nil {
			return err
		}
		r.ID = id
		return putJSON(b, []byte(id), toRolloutRecord(r))
	})
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
