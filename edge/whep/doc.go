// Package whep serves the box's cameras to browsers over WebRTC, signalled
// WHEP-style: the township relays a viewer's SDP offer to the box (a signed
// command over MQTT), Server.Answer returns the complete answer (ICE
// candidates included, no trickle), and the box pushes the camera's H.264 to
// the viewer.
//
// Video is passed through: each viewer reads the camera's RTP packets from
// a Source (the relay, which shares one upstream pull among all readers)
// and forwards them with their payload as the camera sent it. Only what
// WebRTC needs is touched: the payload type, SSRC and sequence numbers,
// header extensions the viewer never negotiated, a few parameter sets put
// ahead of the first keyframe, and packets too big for the path split into
// FU-A fragments. Nothing is decoded or transcoded.
//
// The package knows nothing of MQTT, commands or the outbox: the box hands
// it offers and takes its Viewing events (Deps.Events).
//
// The WebRTC plumbing it shares with paging (transport settings, the pion
// set-up, the answer, the session registry) is edge/rtcpeer.
package whep
