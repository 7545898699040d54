// Package rtpspeaker drives SIP and multicast paging speakers: it sends a
// clip as one RTP talk spurt (RFC 3550) of G.711, PCMU (payload type 0)
// or PCMA (8) at 8 kHz in 20 ms packets (RFC 3551), paced in real time,
// to one speaker (unicast) or to a multicast group many speakers join.
// It also forwards live G.711 frames (paging, speaker.Live) as they
// arrive, without decoding them when the law matches.
//
// It knows nothing of schedules, zones or the township, and does no
// signalling (SIP): the speakers are configured to accept the stream. It
// never learns whether anyone heard a multicast stream; for unicast it
// learns from ICMP that nobody listens, and says so in Health.
package rtpspeaker
