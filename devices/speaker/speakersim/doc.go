// Package speakersim is a simulated IP paging speaker: it listens for RTP
// G.711 (PCMU or PCMA, 8 kHz) on a unicast address or a multicast group,
// records what it heard as PCM (and as a WAV file on request) and
// measures what a real horn's jitter buffer would suffer: loss from
// sequence gaps, RFC 3550 interarrival jitter, late packets, talk spurts.
// Tests, `dalaba-sim speaker` and demos use it in place of a real horn.
//
// It knows nothing of the drivers that feed it, nor of schedules; it
// understands only the wire.
package speakersim
