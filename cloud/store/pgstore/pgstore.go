package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dalaba/dalaba/cloud/store"
)

// ErrSchema: the database holds a schema this code does not know (newer,
// or not a dalaba-cloud store at all).
var ErrSchema = errors.New("unsupported store schema")

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one versioned schema change: migrations/NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order; their
// versions run 1, 2, 3, ... without gaps.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, path := range names {
		base := strings.TrimPrefix(path, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name is not NNNN_name.sql", base)
		}
		b, err := migrationFiles.ReadFile(path)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d", m.name, i+1)
		}
	}
	return out, nil
}

// SchemaVersion is the newest schema this code reads and writes.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// Lock keys (pg_advisory_xact_lock) shared by every dalaba-cloud on the
// database.
const (
	lockMigrate = 0x64616c6162610001 // schema changes
	lockWrite   = 0x64616c6162610002 // every write but AppendEvents
)

// Store is a store.Store on a PostgreSQL database. Its methods are safe for
// concurrent use, also by several dalaba-cloud processes on one database.
type Store struct {
	pool  *pgxpool.Pool
	quiet atomic.Bool // QuietFleet: no notifications on FleetChannel
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at dsn and brings its schema up to date;
// a database with a newer schema than this code is refused (ErrSchema).
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: open: %w", err)
	}
	return &Store{pool: pool}, nil
}

// migrate applies, in order and each in its own transaction, the
// migrations the database lacks. The advisory lock lets replicas starting
// together migrate once.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	latest := ms[len(ms)-1].version
	for {
		done := false
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockMigrate)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
			if err != nil {
				return err
			}
			var have int
			if err := tx.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
				return err
			}
			if have > latest {
				return fmt.Errorf("%w: the database has version %d, this dalaba-cloud reads up to %d", ErrSchema, have, latest)
			}
			if have == latest {
				done = true
				return nil
			}
			if have == 0 {
				var n int
				err := tx.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'schema_migrations'`).Scan(&n)
				if err != nil {
					return err
				}
				if n > 0 {
					return fmt.Errorf("%w: the database has tables but no schema version; it is not a dalaba-cloud store", ErrSchema)
				}
			}
			m := ms[have]
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			_, err = tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if done {
			return nil
		}
	}
}

// Close closes the connections.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// write runs fn in a transaction holding the store's write lock: these
// writes of every dalaba-cloud on the database are serialised as one
// bbolt file's are, so each read-modify-write sees what it changes, even
// across rows (an id not taken, a balance, the audit trail's next seq).
// A commit returns once the server has made it durable
// (synchronous_commit, the server's default).
func (s *Store) write(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	return s.tx(ctx, op, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockWrite)); err != nil {
			return err
		}
		return fn(tx)
	})
}

// tx runs fn in a transaction without the write lock: for the frequent
// writes of one row (a box's presence, a session) that are whole in a
// single statement or serialised on the row they lock, so that a county's
// boxes do not queue behind one another.
func (s *Store) tx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := pgx.BeginFunc(ctx, s.pool, fn); err != nil {
		return fmt.Errorf("pgstore: %s: %w", op, err)
	}
	return nil
}

// read runs fn in a read-only transaction on one snapshot.
func (s *Store) read(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
	if err != nil {
		return fmt.Errorf("pgstore: %s: %w", op, err)
	}
	return nil
}

// next returns the next number of counter name, from 1. It rolls back
// with its transaction, so numbers have no gaps.
func next(ctx context.Context, tx pgx.Tx, name string) (uint64, error) {
	var n int64
	err := tx.QueryRow(ctx, `INSERT INTO counters (name, n) VALUES ($1, 1)
		ON CONFLICT (name) DO UPDATE SET n = counters.n + 1 RETURNING n`, name).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("next %s: %w", name, err)
	}
	return uint64(n), nil
}

// Ping writes a row: it fails when the server cannot take a write (disk
// full: ErrFull; a read-only server; the pool closed).
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: ping: %w", err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO ping (id, at) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET at = now()`)
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok && pe.Code == "53100" { // disk_full
		return fmt.Errorf("pgstore: ping: %w: %w", store.ErrFull, err)
	}
	if err != nil {
		return fmt.Errorf("pgstore: ping: %w", err)
	}
	return nil
}

// utc drops the location pgx gives a timestamptz, so times read back as
// they were written in UTC.
func utc(t time.Time) time.Time { return t.UTC() }

// noRows maps pgx's no-rows error to ErrNotFound with what was missing.
func noRows(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
