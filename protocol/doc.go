// Package protocol is the wire contract between the village box (dalaba-edge)
// and the township service (dalaba-cloud): every MQTT topic name, every
// message type, the size limits, strict decoders and the ed25519 signing of
// desired state and commands.
//
// It is the only place that spells a topic string. It imports the standard
// library and golang.org/x/crypto only, and knows nothing of MQTT clients or
// stores. The desired state carries the broadcast plan, schedules included;
// their calendar rules are in protocol/schedule, so that the township
// validates and previews them with the code the box fires them with.
//
// Every payload carries "v", the schema version. A decoder rejects a payload
// whose version it does not speak, unknown fields, trailing data and anything
// over the topic's size limit, with a *RejectError saying why.
//
// # Events, epochs and incarnations
//
// A box numbers its events with seqs that grow by one and are never reused
// within its epoch: 128 random bits made with its data directory and kept
// across restarts and software updates (an OTA slot switch keeps the data
// directory, so the epoch and the seqs go on). The township stores a box's
// events by (incarnation, seq), an incarnation being the run of one epoch,
// numbered from 1; its watermark is per incarnation.
//
//   - A box given an empty data directory (re-flashed, a new SD card) has a
//     new epoch and starts at seq 1: the township begins a new incarnation,
//     records box.reset (reason new_epoch, the old epoch and watermark) as
//     its first event, and nothing the box sends is taken for a duplicate.
//   - A box whose data directory comes back from a backup has its old epoch
//     and seqs the township already holds other events under. The township
//     compares each event it receives with what it stored at that seq: a
//     difference, or a seq at or below the watermark it never stored, means
//     the epoch has diverged. It then stores nothing more under that epoch
//     and answers diverged; the box deletes what the ack vouches for, moves
//     the rest of its outbox to a new epoch in one commit, and sends it
//     again; the township begins an incarnation with reason diverged. A
//     comparison of seqs alone would not do: a restored box that recorded
//     more events than the backup lacked, before it reached the township,
//     has seqs above anything a watermark could tell it.
//   - An ack vouches only for the range of the batch it answers (From to
//     Seq) and names its epoch; the box ignores an ack for another epoch or
//     one that starts above the lowest seq it holds. An ack therefore never
//     deletes an event the township did not see in that very batch.
//   - Boxes from before epochs send none. The township takes the first
//     epoch a box sends as the incarnation it already has (an update, not a
//     reset) unless its events differ from those stored; seqs reused by a
//     box without an epoch begin a new incarnation (seqs_reused).
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
//   - v1, 2026-12 additions: events carries epoch; events/ack carries epoch,
//     from and diverged (all optional, left out when empty, so the township
//     answers a box from before them in the bytes it knows); seqs are at
//     most MaxSeq. A decoder from before these additions refuses the new
//     fields, as every v1 decoder refuses unknown ones: the township is
//     updated before its boxes.
//   - v1, additive (2026-12): the desired state's cameras carry
//     allow_local_targets, sent only when true (a township that allows
//     cameras on the box itself, for tests), so older boxes never see it;
//     without it a camera URL naming the box, link-local or other non-LAN
//     addresses is refused.
//   - v1, additive (2026-12): commands broadcast.test_tone (a chime on one
//     speaker, TestToneResult) and camera.probe (open a camera, ProbeResult),
//     for setting a village up. A box from before them answers
//     unknown_command.
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
//   - v1, additive (2026-12): remote diagnostics commands diag.logs,
//     diag.config, diag.check and diag.restart (diag.go), their answers
//     within MaxDiagData; a box from before them answers unknown_command.
//     The event type update.rolled_back (RolledBack), which the township
//     alerts on.
//   - claim v1 (2026-12): zero-touch enrollment over HTTPS, outside MQTT
//     (protocol/claim): the request {v, proof, village?} and the sealed
//     answer {v, sealed}.
//   - v1, additive (2026-12): software updates (update.go). The township
//     signs a release manifest (version, arch, sha256, size) per binary
//     with its own key, under the signing domain "dalaba/v1/release\n\n",
//     so no second key is provisioned. The update travels as the command
//     update.install (UpdateArgs: the signed manifest and the download
//     URL), on the slow lane, rather than as a desired-state section: it
//     is a one-off act with a result (staged, or refused with the codes
//     update_signature, update_arch, update_digest, update_disk,
//     update_on_air, update_trial), not a state to converge on, and the
//     desired state must stay applicable by a box that has no slots.
//     reported carries update (UpdateStatus: slot, arch, phase, version,
//     and after a roll-back from and reason); a township from before it
//     refuses such reports, so the township is updated first. A box from
//     before it answers unknown_command.
package protocol
