// Package health takes the box's pulse: every interval it appends a
// box.health event (disk space of the data directory, outbox backlog, the
// clock and whether it can be trusted, uptime) and hands the same reading
// to the assembly, which republishes the reported state with it.
//
// It also keeps the clock's trust floor. A box may boot with no network and
// no real-time clock, reading 1970 or whatever its last shutdown left; a
// clock earlier than the last trusted reading (persisted in the store) or
// than the build date of the software cannot be trusted. While trusted,
// each reading raises the floor.
//
// It knows nothing of MQTT or of the outbox's workings.
package health
