package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
)

// FleetChannel is the channel every transaction that changes what the
// fleet's board shows (a box's row, its events, its desired state or its
// plan) notifies on, with an empty payload: a listener learns that the
// fleet changed, not what, and reads it again. The server delivers the
// notification at commit, never for a rolled-back transaction, and folds
// a transaction's repeats into one.
//
// Channels are the server's per database, not per schema: stores in
// different schemas of one database hear one another's notifications,
// which costs them a needless read and nothing else.
const FleetChannel = "dalaba_fleet"

// notifyFleet queues the fleet's notification in tx, unless the store is
// quiet: one statement per transaction, whatever it wrote.
//
// A transaction that notifies takes the server's notify lock for its
// commit, so notifying commits are serialised against one another
// (across every replica). The writers that notify commit a few times a
// second per replica (ingest's group commit, presence's flush, an
// official's change), so the lock is not contended in earnest.
func (s *Store) notifyFleet(ctx context.Context, tx pgx.Tx) error {
	if s.quiet.Load() {
		return nil
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, FleetChannel); err != nil {
		return fmt.Errorf("notify %s: %w", FleetChannel, err)
	}
	return nil
}

// QuietFleet stops the store's notifications on FleetChannel: for a
// service alone on its database, which has no other replica to tell, so
// that its commits do not take the server's notify lock for nobody.
func (s *Store) QuietFleet() { s.quiet.Store(true) }

// How WatchFleet keeps listening.
const (
	// watchRetryMin and watchRetryMax bound the wait before listening
	// again after the connection failed: it doubles from the first to
	// the second while failures follow one another.
	watchRetryMin = 200 * time.Millisecond
	watchRetryMax = 10 * time.Second
	// watchCheck is how long the listener waits in silence before it
	// checks its connection is alive, so a connection dropped without a
	// word (a firewall forgetting it) is found and replaced.
	watchCheck = 30 * time.Second
	// watchPingTimeout bounds that check.
	watchPingTimeout = 5 * time.Second
)

// WatchFleet listens on FleetChannel and calls changed for each
// notification, until ctx ends; it returns nil then, having closed its
// connection. changed runs on WatchFleet's goroutine and must return
// quickly (it only flags that the fleet should be read again).
//
// changed is also called once each time listening starts, the first time
// and after every reconnection, since the fleet may have changed while
// nobody listened.
//
// The listener takes a connection out of the pool for itself (it holds it
// for the service's lifetime, so it does not keep one of the pool's
// slots). When the connection fails (the server restarted, the session
// was ended) the failure is logged to logger (nil = none) and WatchFleet
// connects and listens again. The wait before an attempt is drawn from
// the upper half of a bound that starts at 200 ms and doubles, up to
// 10 s, while attempts fail (and starts afresh once a connection has
// served longer than 10 s); it never gives up on its own.
func (s *Store) WatchFleet(ctx context.Context, logger *slog.Logger, changed func()) error {
	if changed == nil {
		return errors.New("pgstore: watch fleet: nil changed")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	wait, failures := watchRetryMin, 0
	for {
		var listened time.Time
		err := s.listen(ctx, changed, func() {
			listened = time.Now()
			if failures > 0 {
				logger.Info("listening for fleet changes again", "failures", failures)
			}
		})
		if ctx.Err() != nil {
			return nil
		}
		// A connection that served for a while starts the waits afresh.
		if !listened.IsZero() && time.Since(listened) > watchRetryMax {
			wait, failures = watchRetryMin, 0
		}
		failures++
		// Jitter, so replicas that lost the server together do not come
		// back in step.
		d := wait/2 + rand.N(wait/2+1)
		logger.Warn("listening for fleet changes", "err", err, "failures", failures, "retry_in", d)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d):
		}
		wait = min(2*wait, watchRetryMax)
	}
}

// listen runs one connection's listening: it returns why it stopped
// (ctx's end, or the connection's failure), having closed the connection.
// listening is called once LISTEN has taken effect.
func (s *Store) listen(ctx context.Context, changed, listening func()) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire a connection: %w", err)
	}
	conn := pc.Hijack()
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		_ = conn.Close(cctx) // ends the session, and its LISTEN, either way
	}()
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{FleetChannel}.Sanitize()); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	listening()
	changed()
	for {
		wctx, cancel := context.WithTimeout(ctx, watchCheck)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			changed()
		case ctx.Err() != nil:
			return ctx.Err()
		case conn.IsClosed():
			return fmt.Errorf("wait for a notification: %w", err)
		case errors.Is(err, context.DeadlineExceeded):
			// Silence for watchCheck: see that the connection still
			// answers.
			pctx, cancel := context.WithTimeout(ctx, watchPingTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("check the connection: %w", err)
			}
		default:
			return fmt.Errorf("wait for a notification: %w", err)
		}
	}
}
