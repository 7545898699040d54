// Package whep serves the box's cameras to browsers over WebRTC, signalled
// WHEP-style: the township relays a viewer's SDP offer to the box (a signed
// command over MQTT), Server.Answer returns the complete answer (ICE
// candidates included, no trickle), and the box pushes the camera's video,
// and its G.711 audio when the viewer receives audio, to the viewer.
//
// What a viewer is shown is chosen per viewer (plan.go): the stream asked
// for (the grid's tiles ask for sub streams, a full view for the main one)
// unless it is in a codec the viewer's offer lacks (H.265 goes only to a
// browser that offers it; Debian's Chromium does not), has B-frames that
// other frames refer to, has B-frames while the sub stream has none, or
// does not fit the budget; then the other stream, and when neither can be
// shown, a Refusal with a code (camera_bframes, camera_codec) and a
// sentence saying what to change in the camera. The result says which
// stream, codec and frames the viewer gets, and why.
//
// Video is passed through: each viewer reads the camera's RTP packets from
// a Source (the relay, which shares one upstream pull among all readers,
// and starts a new reader with the latest keyframe's GOP) and forwards
// them with their payload as the camera sent it. Only what WebRTC needs is
// touched: the payload type, SSRC and sequence numbers, header extensions
// the viewer never negotiated, a few parameter sets put ahead of the first
// keyframe, the B-frames nothing refers to left out (a browser decodes in
// arrival order) with the SPS then saying no frame is reordered, the GOP a
// viewer joins with given timestamps one tick apart (decoded at once, not
// replayed), and packets too big for the path cut anew. Nothing is decoded
// or transcoded.
//
// Register gives the box's command runner (edge/command) camera.whep, on
// the slow lane (answering waits for an on-demand camera and for ICE
// gathering, within the command's lifetime), and camera.whep_stop, on the
// control lane. SetCameras takes the desired state's ICE servers, cameras
// and viewing budget (set, or a share of the declared uplink), which
// Answer enforces as it admits a viewer, counting each viewer at what it
// really sends once it has sent for a while.
//
// The package knows nothing of MQTT or the outbox: the box takes its
// Viewing events (Deps.Events).
//
// The WebRTC plumbing it shares with paging (transport settings, the pion
// set-up, the answer, the session registry) is edge/rtcpeer.
package whep
