// Package paging takes live pages (喊话) on the village box: an official's
// browser microphone arrives over WebRTC and the box forwards it to the
// loudspeakers. Signalling goes as WHIP does: the township relays the
// browser's SDP offer (a signed command), Server.Answer returns the
// complete answer (ICE candidates included, no trickle), and the browser
// sends one audio track.
//
// The box answers with G.711 alone, PCMA when the offer has it (China's
// law) and PCMU otherwise, so a browser that offers Opus as well ends up
// sending G.711: its 20 ms frames go on to the RTP speakers as they are,
// and nothing is decoded or transcoded here. Each frame is handed, the
// moment it is read, to the Air (the box's playout), which puts the page
// on the air at paging priority.
//
// One page at a time per zone: an offer for a zone another session holds
// is refused, as are bad offers and unknown zones, before anything is
// negotiated. A page ends when the browser hangs up (its track ends, ICE
// fails, DTLS closes), on Stop, after IdleTimeout without audio, at
// MaxDuration, when the Air takes it off the air (an emergency, a stop
// command), or when Run ends.
//
// Register gives the box's command runner (edge/command) paging.offer, on
// the slow lane (answering waits for ICE gathering, within the command's
// lifetime), and paging.stop, on the control lane.
//
// The package knows nothing of MQTT, speakers' addresses or the play log:
// the box gives it an Air.
//
// The WebRTC plumbing it shares with whep (transport settings, the pion
// set-up, the answer, the session registry) is edge/rtcpeer.
package paging
