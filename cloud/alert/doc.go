// Package alert tells the township's office, on its WeCom, DingTalk or
// Feishu group, a webhook or by SMS, when a village's box, horn or camera
// goes down and when it comes back, in Chinese sentences that name the
// village and say what to do.
//
// Rules (one per kind, each enabled or not, with its hold-down, its
// channels and whether it is urgent):
//
//   - box_offline: a box not connected for the hold-down (as presence
//     sees it; the time counts from when the engine last found it
//     connected, or from its last sign of life when that is later or the
//     engine never did, as after a restart);
//   - speaker_failed: a speaker.health event said a horn is unreachable,
//     and no later one said otherwise, for the hold-down;
//   - camera_offline: camera.offline without a later camera.online;
//   - disk_low: the box's last box.health shows less free space than the
//     threshold (percent);
//   - clock_untrusted: the box's last box.health says its clock cannot be
//     trusted (it holds its schedules);
//   - playback_failed: a broadcast.played that failed, or a
//     broadcast.skipped for any reason but quiet hours: a notice, no
//     recovery;
//   - update_rolled_back: the box went back to its old software after an
//     update (protocol.EventUpdateRolledBack): a notice.
//
// A condition that holds opens an incident once it has held for the
// rule's hold-down: one message then, one when it clears, none in
// between. Presence is not trusted as "offline" for StartupGrace after the
// service starts, nor after its MQTT connection comes back, so boxes have
// time to reconnect: a township restart or a broker blip sends nothing
// (a box that comes back online within its hold-down never opened an
// incident). Conditions learnt from events count from when the township
// heard of them, so a box's backlog after an outage replays what happened
// without alerting on what has long cleared.
//
// Quiet hours hold what is not urgent: its deliveries wait (held) until
// the window ends and go out then; an incident that opens and clears
// within one quiet window is not sent at all (both messages are dropped,
// and the log says so). Urgent rules ignore quiet hours.
//
// Everything is in the store: held and open incidents (so a restart
// neither forgets an incident nor opens it again), every alert in the
// alert log with each channel's delivery (pending ones resumed after a
// restart: a send cut by a crash between the platform's answer and the
// record is sent again, the only way one can repeat), which the console's
// event log shows beside the boxes' own events. Deliveries go through
// notify.Deliver, retried with backoff.
//
// It knows the store, presence (cloud/fleet's Link) and cloud/notify; it
// knows nothing of HTTP or MQTT.
package alert
