// Package ingest turns an event batch a box uploaded into stored events and
// the acknowledgement the box may delete its outbox by.
//
// The order is the guarantee: decode strictly, store by (box, incarnation,
// seq) in one durable write, and only then encode the ack, whose seq is the
// store's watermark, or the batch's last seq if that is lower: an ack
// vouches only for what its batch showed. A re-sent batch is stored once
// and acknowledged the same way; a refused batch stores nothing and gets
// no ack. The store decides the incarnation: a new epoch begins one, and
// events that differ from those stored under their epoch make the ack say
// the epoch diverged (see store.Events and package protocol).
//
// Writes are group commits: while one caller's write runs, the batches
// other callers hand in wait, and the next caller to find no write running
// stores all of them in one transaction (store.Events.AppendMany, one
// fsync) and hands each its result. Each ack still follows the commit that
// carries its batch.
//
// It knows the protocol's messages and the store's Events interface, and
// nothing of MQTT: the caller receives the payload and publishes the ack.
package ingest
