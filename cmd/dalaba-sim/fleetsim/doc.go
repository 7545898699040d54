// Package fleetsim simulates many village boxes in one process, each
// speaking the box's wire protocol as edge/uplink does: its own
// credentials and client id, a retained "offline" will, the desired, cmd
// and events/ack subscriptions, a retained "online" status and the
// reported state on every connect, event batches from a per-box outbox
// with an epoch and seqs in a window, deletion on the township's ack,
// resending from the lowest unacked seq when acks stop, and reconnects
// after a jittered (full jitter) backoff. A box records a box.health event
// and publishes its reported state every health interval, and other
// events at a configured rate.
//
// Time can be compressed: with Compress 60 a box's minute passes in a
// real second (health reports, event rate, ack timeout, backoff); the
// MQTT keepalive and connect timeouts stay real, as the broker measures
// them.
//
// It is what `dalaba-sim fleet` runs and what the township's surge tests
// and benchmarks import. It knows the protocol and MQTT, nothing of the
// township's code: the township under test is met only on the wire.
package fleetsim
