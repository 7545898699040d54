package cloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/dalaba/dalaba/cloud/config"
	"github.com/dalaba/dalaba/cloud/lease"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/cloud/store/pgstore"
)

// openStore opens the store cfg.Store chooses: the bbolt file in the data
// directory (ErrRunning while a dalaba-cloud holds it), or the PostgreSQL
// database, which several dalaba-cloud share.
func openStore(ctx context.Context, cfg config.Config) (store.Store, error) {
	if cfg.Store.Kind == config.StorePostgres {
		st, err := pgstore.Open(ctx, cfg.Store.DSN)
		if err != nil {
			return nil, fmt.Errorf("cloud: %w", err)
		}
		if !cfg.Clustered() {
			st.QuietFleet() // no other replica listens
		}
		return st, nil
	}
	return openBolt(cfg.DataDir)
}

func openBolt(dataDir string) (*boltstore.Store, error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("cloud: data dir: %w", err)
	}
	st, err := boltstore.Open(filepath.Join(dataDir, storeFile), boltstore.Options{})
	if errors.Is(err, boltstore.ErrInUse) {
		return nil, fmt.Errorf("cloud: %w (%w)", ErrRunning, err)
	}
	return st, err
}

// replication is what a replica does through the PostgreSQL store that a
// service alone on its store does not: take the periodic jobs' lease (lock;
// nil runs them at once) and hear the other replicas' changes to the fleet
// (watch; nil hears nothing).
type replication struct {
	lock  lease.Locker
	watch func(ctx context.Context, changed func()) error
}

func replicationOf(st store.Store, cfg config.Config, log *slog.Logger) replication {
	pg, ok := st.(*pgstore.Store)
	if !cfg.Clustered() || !ok {
		return replication{}
	}
	return replication{
		lock: func(ctx context.Context, name string) (lease.Held, error) {
			l, err := pg.TryLease(ctx, name)
			if l == nil || err != nil {
				return nil, err // a nil *Lease must not become a non-nil Held
			}
			return l, nil
		},
		watch: func(ctx context.Context, changed func()) error { return pg.WatchFleet(ctx, log, changed) },
	}
}
