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
// Register gives the box's command runner (edge/command) camera.whep, on
// the slow lane (answering waits for an on-demand camera and for ICE
// gathering, within the command's lifetime), and camera.whep_stop, on the
// control lane. SetCameras takes the desired state's ICE servers and its
// viewing budget, which Answer enforces as it admits a viewer. The camera's
// H.264 may be any format of any media of its description.
//
// The package knows nothing of MQTT or the outbox: the box takes its
// Viewing events (Deps.Events).
//
// The WebRTC plumbing it shares with paging (transport settings, the pion
// set-up, the answer, the session registry) is edge/rtcpeer.
package whep
