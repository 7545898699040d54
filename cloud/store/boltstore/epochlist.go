package boltstore

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/dalaba/dalaba/cloud/store/storecopy"
)

// The store can be copied whole (dalaba-cloud migrate).
var _ storecopy.Source = (*Store)(nil)

// ListEpochs lists every box's epochs, by box and epoch: what a copy of
// the store needs beyond the store interfaces.
func (s *Store) ListEpochs(ctx context.Context) ([]storecopy.Epoch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []storecopy.Epoch
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketEpochs).ForEachBucket(func(box []byte) error {
			return tx.Bucket(bucketEpochs).Bucket(box).ForEach(func(k, v []byte) error {
				var r epochRecord
				if err := json.Unmarshal(v, &r); err != nil {
					return fmt.Errorf("epoch %s of box %s: decode: %w", k, box, err)
				}
				out = append(out, storecopy.Epoch{BoxID: string(box), Epoch: string(k), Incarnation: r.Incarnation,
					Watermark: r.Watermark, Diverged: r.Diverged})
				return nil
			})
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list epochs: %w", err)
	}
	return out, nil
}
