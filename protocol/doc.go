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
//   - v1, additive (2026-12): cameras. A camera has a sub stream
//     (sub_url, sub_bitrate_kbps) and an ONVIF address (onvif); the
//     cameras section declares the uplink (uplink_kbps; the budget is
//     UplinkSharePercent of it when budget_kbps is 0) and max_payload.
//     camera.whep takes "stream" and its result says what the viewer
//     gets (stream, codec, frames, note, audio, fps); a refused one may
//     carry the codes camera_bframes and camera_codec. New commands
//     camera.discover, camera.onvif, camera.ptz, camera.snapshot; new
//     events camera.stream and camera.discovered; camera.online and
//     camera.offline carry "stream" for a sub stream. Boxes that decode
//     strictly refuse a desired state with the new fields: the boxes are
//     updated before the township uses them.
package protocol
