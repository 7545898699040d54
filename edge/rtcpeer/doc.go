// Package rtcpeer is the box's WebRTC answering plumbing, shared by the
// servers that answer browsers' offers with pion: whep (cameras to
// viewers) and paging (a pager's microphone to the loudspeakers).
//
// It holds what is the same for both: the transport settings (ICE servers,
// UDP port range, loopback candidates, ICE timeouts) and their validation
// (Config), the pion API and PeerConnection built from them (Peers), the
// first checks of an SDP offer (ParseOffer, Codecs), the complete answer
// with every candidate gathered (Answer), and the life of a session: why
// it ended, its peer's state (Session) and the registry a server keeps its
// sessions in, bounded and ended with the server's Run (Registry).
//
// It knows nothing of codecs beyond what an offer says, of cameras,
// speakers, MQTT or commands: each server registers its own codec and
// interceptors, picks from the offer and feeds or reads its tracks.
package rtcpeer
