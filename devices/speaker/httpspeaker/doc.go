// Package httpspeaker drives play-URL loudspeakers: IP horns and "云广播"
// network speakers that take no RTP but are told a URL, fetch the file
// there and play it.
//
// A Server is the small HTTP file server the box runs for its LAN: it
// holds each clip, as a 16-bit mono WAV file, in memory under an
// unguessable token for as long as the clip plays. A Speaker publishes the
// clip there, calls the speaker's control endpoint with the clip's URL,
// and waits for the clip's length, since play-URL speakers have no
// standard way to say when they are done. Several Speakers share one
// Server.
//
// It knows nothing of schedules, zones or the township.
package httpspeaker
