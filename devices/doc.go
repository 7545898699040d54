// Package devices holds the drivers of what a village box talks to:
// loudspeakers (sound card, RTP paging speakers, play-URL speakers, a
// simulator) and cameras, and the audio code they share. Nothing under
// devices knows about schedules, MQTT, bbolt, the protocol or either
// daemon; an import-rule test (internal/archtest) checks it.
package devices
