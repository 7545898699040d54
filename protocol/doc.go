// Package protocol is the wire contract between the village box (dalaba-edge)
// and the township service (dalaba-cloud): every MQTT topic name, every
// message type, the size limits, strict decoders and the ed25519 signing of
// desired state and commands.
//
// It is the only place that spells a topic string. It imports the standard
// library and golang.org/x/crypto only, and knows nothing of MQTT clients,
// stores or schedules.
//
// Every payload carries "v", the schema version. A decoder rejects a payload
// whose version it does not speak, unknown fields, trailing data and anything
// over the topic's size limit, with a *RejectError saying why.
//
// # Version history
//
//   - v1 (2026-11): desired, reported, cmd, cmd/result, events, events/ack,
//     status. Signed envelope {v, body, sig} over "dalaba/v1/<kind>\n<box>\n"
//     followed by the body bytes exactly as sent.
//   - v1, additive (2026-12): cmd/result carries "code", a machine-readable
//     reason beside "error" when "ok" is false (expired, unknown_command,
//     invalid_args, busy, failed; see CodeExpired). Older receivers that
//     decode strictly refuse it; the township is updated before its boxes.
//   - v1, additive (2026-12): the desired state's cameras carry
//     allow_local_targets, sent only when true (a township that allows
//     cameras on the box itself, for tests), so older boxes never see it;
//     without it a camera URL naming the box, link-local or other non-LAN
//     addresses is refused.
package protocol
