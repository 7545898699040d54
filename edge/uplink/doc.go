// Package uplink is the box's MQTT session with the township, over paho.
//
// It connects with a persistent session (client id = box id, CleanSession
// false) and a retained will saying the box is offline; reconnects on its own
// schedule (capped exponential backoff with full jitter, on the injected
// clock) rather than paho's, so the schedule can be tested and Run owns the
// loop; hands desired state and commands, byte for byte and in arrival
// order, to the box's desired-state lane and command runner, which queue
// them and return; and drains the outbox in batches with a
// bounded window of batches in flight, deleting events only when the
// township acknowledges them on events/ack.
//
// Why paho is not trusted with durability:
//   - after a reconnect a publish token can complete without any broker ack,
//     so a completed token proves nothing; only the township's application
//     ack (a contiguous watermark) lets the outbox delete;
//   - paho's file store does not fsync; the bbolt outbox is the durable copy,
//     so every connection gets a fresh paho client with a memory store, and
//     after every reconnect the drain rewinds to the last acknowledged seq
//     and sends again. The township stores by (box, epoch, seq), so a batch
//     sent twice is stored once.
//
// Every batch names the outbox's epoch. An ack is applied only if it names
// the same epoch and its range (from, seq) starts at or below the lowest
// queued seq, so an ack can never delete an event that was not in the
// batch it answers: not after the box came back with an empty data
// directory, not after a batch went missing. An ack saying the epoch
// diverged (the data directory is an older copy) moves the outbox to a new
// epoch, and the drain sends everything left again under it.
//
// paho's message handler runs on paho's router goroutine, where blocking
// would stall keepalives and acks; the handler here only decodes acks
// (cheap) and copies other payloads into a bounded queue read by the
// uplink's own goroutine.
//
// It knows topics and payloads through package protocol and nothing of what
// desired state or commands mean.
package uplink
