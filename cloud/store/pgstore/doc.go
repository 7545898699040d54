// Package pgstore is store.Store on PostgreSQL, for a county's several
// dalaba-cloud replicas sharing one database. It passes the same storetest
// suite as boltstore and keeps its semantics: the same sentinel errors,
// orders and transactions.
//
// The schema is versioned: migrations/NNNN_name.sql, embedded, applied in
// order at Open, each in its own transaction under an advisory lock, and
// recorded in schema_migrations; a database newer than the code is
// refused (ErrSchema).
//
// Writes: AppendEvents locks its box's row, so the appends of different
// boxes run side by side and one box's are serialised; so do a box's
// updates, its desired state and its plan, and the writes of one row
// (users, sessions, media, incidents). Every other write (the lists,
// their audit trail, the shop, the alert log: what checks or numbers
// across rows) takes one advisory lock for its transaction, so those are
// serialised as one bbolt file's writes are and each read-modify-write
// sees what it changes. A transaction returns once committed, which the
// server makes durable before answering (synchronous_commit on), so an
// ack sent after AppendEvents never covers what a crash could lose.
// The bulk writes (AppendMany, UpdateBoxes, UpdatePlans, PutDesiredBatch)
// lock their boxes' rows in id order, so two of them cannot deadlock;
// AppendMany puts each batch in a savepoint, so one refused batch is
// rolled back alone and one commit makes the rest durable. Claim codes
// take the advisory lock (a village's open claim is checked across rows).
//
// Events are rows keyed (box_id, incarnation, seq), which orders a box's
// log by store.Position; they are indexed for time ranges and types too.
// A box's latest box.health event is kept in its row (schema version 2),
// and ListOverviews reads the fleet in three queries, each box's window of
// events by a lateral join.
//
// Fleet changes: every transaction that changes what the fleet's board
// shows (a box's row, its events, desired state or plan) notifies
// FleetChannel once, delivered at its commit; WatchFleet listens on a
// connection of its own and tells a replica's board, so a change made by
// one replica shows on the others' dashboards without waiting for their
// next poll.
//
// Records read and written whole (entries, holds, alerts, ...) are JSON
// documents beside the columns queries filter on. It knows nothing of
// MQTT.
package pgstore
