// Package storetest is the conformance suite of store.Store: every
// implementation (boltstore, pgstore) calls Run from its own tests, so the
// township service behaves the same whichever store it runs on.
//
// The suite pins what store.go leaves to judgement, so that implementations
// agree on it:
//
//   - UpdateBox ignores changes fn makes to ID, SecretHash and CreatedAt (the
//     stored values are kept) and writes the other changes.
//   - A box's first incarnation is 1, also when CreateBox was given 0.
//   - UpdateBox ignores changes to Epoch, Incarnation and Watermark.
//   - A floor of 0 settles nothing.
//   - ListEvents and CountEvents return ErrNotFound for an unknown box.
//   - DeleteSession of an unknown token is not an error (logging out twice
//     is harmless).
//   - UpdatePlan ignores a change fn makes to BoxID.
//   - PutMedia of an indexed sha256 keeps the first record and succeeds.
//   - UpdateUser ignores changes fn makes to Name and CreatedAt; an update
//     that changes nothing writes nothing and keeps the user's sessions.
//   - Ping fails once the store is closed.
//
// Times are compared with time.Equal at microsecond precision, the finest a
// PostgreSQL timestamp keeps. The suite knows nothing of any implementation.
package storetest
