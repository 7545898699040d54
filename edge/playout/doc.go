// Package playout runs the village's loudspeakers from the township's desired
// state: it makes a driver for each speaker, groups them into zones for the
// arbiter, hands the schedules to the scheduler, fetches and decodes their
// clips ahead of time, runs the play, stop and set-volume commands, and turns
// what happens into events: a play log entry for every playback, every
// skipped occurrence, every clip that would not load, every change in a
// speaker's health.
//
// Clips are rendered once per item, chime included, at the lowest sample
// rate any speaker of its zones plays natively (8 kHz for RTP horns), and
// kept for the schedules that use them: when an occurrence is due the item
// goes to the arbiter at once, with no decoding or resampling between the
// scheduled instant and the first packet. A line-out sharing a zone with RTP
// horns therefore plays the horns' 8 kHz rendering.
//
// Live pages (喊话) come through Page: a stream of G.711 frames the
// arbiter fans out to the RTP speakers of their zones at paging priority.
//
// Zone volume: a speaker plays at its own volume times the lowest volume of
// the zones that list it, so turning any of its zones down turns it down.
//
// Commands: Register gives the box's command runner (edge/command) play,
// stop and volume with their typed arguments. Stop and volume run on the
// control lane; a play whose clips are decoded does too, whatever its
// priority, since it only renders and queues; a play that must fetch or
// decode a clip runs on the slow lane, or, an emergency, on the urgent one.
// Each acts only after command.Commit, so a play whose command expired
// while its clip downloaded is never queued. A test tone (testtone.go) is
// the chime on one speaker alone, answered once it has played, on the
// slow lane.
//
// It knows nothing of MQTT: the assembly hands it the broadcast section of
// each desired state and gives it a recorder for events.
package playout
