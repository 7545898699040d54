package pgstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// leaseSpace is the first key of the two-key advisory locks that leases
// take, so they never meet the store's own locks (one 64-bit key).
const leaseSpace = 0x64616c62 // "dalb"

// Lease is a session advisory lock held on one connection of the pool:
// while the connection lives, no other session can take the same name.
// When the process dies the server ends the session and the lock with it.
type Lease struct {
	conn *pgxpool.Conn
	key  int32
	name string
}

func leaseKey(name string) int32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name)) // a hash.Hash never fails to write
	return int32(h.Sum32())
}

// TryLease takes the lease name if no other session holds it: a *Lease
// when it did, nil when another holds it.
func (s *Store) TryLease(ctx context.Context, name string) (*Lease, error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgstore: lease %s: %w", name, err)
	}
	l := &Lease{conn: c, key: leaseKey(name), name: name}
	var got bool
	if err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, int32(leaseSpace), l.key).Scan(&got); err != nil {
		l.drop()
		return nil, fmt.Errorf("pgstore: lease %s: %w", name, err)
	}
	if !got {
		c.Release()
		return nil, nil
	}
	return l, nil
}

// Alive checks the lease's connection, so the lock is still held: an
// error means it may be lost and whatever it guards must stop.
func (l *Lease) Alive(ctx context.Context) error {
	var held bool
	err := l.conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
		AND classid = $1::bigint::oid AND objid = ($2::bigint & 4294967295)::oid AND objsubid = 2 AND granted)`,
		int64(leaseSpace), int64(l.key)).Scan(&held)
	if err != nil {
		return fmt.Errorf("pgstore: lease %s: %w", l.name, err)
	}
	if !held {
		return fmt.Errorf("pgstore: lease %s: %w", l.name, errors.New("the lock is no longer held"))
	}
	return nil
}

// Release gives the lease up. If the unlock cannot be confirmed the
// connection is closed rather than returned to the pool, which ends the
// session and its lock.
func (l *Lease) Release(ctx context.Context) {
	var ok bool
	if err := l.conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1, $2)`, int32(leaseSpace), l.key).Scan(&ok); err != nil || !ok {
		l.drop()
		return
	}
	l.conn.Release()
}

// drop closes the connection, ending its session and any lock it holds.
func (l *Lease) drop() {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = l.conn.Conn().Close(ctx) // the session ends either way
	l.conn.Release()
}

// closeTimeout bounds closing a lease's connection.
const closeTimeout = 5 * time.Second
