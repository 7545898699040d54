// Package broker is the township's embedded MQTT broker (MQTT 3.1.1 and 5,
// optional TLS), used when no external broker is configured. It is the only
// package that imports mochi-mqtt, so the broker library can be replaced
// here alone.
//
// Every client authenticates through the Authenticator; anonymous clients
// are refused. The rules follow the protocol package's topic table:
//
//   - a box B publishes only to protocol.Topic(B, k) for the kinds with
//     k.FromBox() (reported, cmd/result, events, status), its will included;
//   - a box B subscribes only to filters inside its own subtree
//     (dalaba/v1/box/B/...), such as desired, cmd and events/ack; no filter
//     reaching another box, no shared subscription, no $SYS;
//   - the township service's own client (Identity.Cloud) may do everything.
//
// Delivery is checked again per message, so a subscription can never carry
// another box's messages to a box.
//
// A box's session id is its box id, whatever client id it sent (as
// Mosquitto's use_username_as_clientid does), so one box can neither take
// over nor squat on another's persistent session. A client id already
// holding a session of another identity is refused.
//
// The broker tells Sessions when each box's connection begins (once it is
// acknowledged) and ends (clean disconnect, dropped TCP connection,
// keepalive lapsed, takeover), which is the township's presence: unlike the
// box's retained status, it cannot be forged by a client that says it is
// online and leaves.
//
// Each box publishes within a Limit (messages and bytes per second, with
// bursts): over it a QoS 1 publish is paced on the box's own connection,
// anything else dropped unacknowledged, counted to Sessions and logged once
// per box a minute; a box dropped for AbuseAfter on end is disconnected. So
// one flooding box costs the service at most its allowance and the others
// wait for nothing. Messages the broker drops on the way to a subscriber
// (a full queue or in-flight window) are counted (Undelivered) and logged
// as an Error once a minute.
//
// Box connects are paced by one token bucket (ConnectLimit): when a
// county's boxes reconnect at once, a CONNECT past the bucket waits on
// its own connection for its turn, and one whose turn is too far off is
// answered "server unavailable" and backs off, jittered; the service's
// own client is never held. The in-flight window (MaxInflight) is MQTT's
// most, 65,535, since the service's session must hold every box's
// messages while the service takes them (Inflight reports how full it is).
//
// Sessions with CleanSession=false persist in memory for SessionExpiry after
// the client leaves; retained messages never expire. Packets above
// MaxPacketSize are refused by closing the connection.
//
// Known limit of mochi: it acknowledges a QoS 1 publish before it queues
// the message for subscribers, so a message published in the microseconds
// in which its subscriber's session is being taken over by a reconnect can
// be lost. Commands expire anyway and desired state is retained.
//
// It knows nothing of the box registry or the store: who is who is the
// Authenticator's answer.
package broker
