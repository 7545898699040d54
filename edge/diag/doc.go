// Package diag answers the township's remote diagnostics commands, so that
// support can look after a village box without going there: the box's
// latest log lines (from edge/logring's ring), its effective configuration
// with every secret taken out, a connectivity check, and a restart of the
// daemon.
//
// The connectivity check probes, each within Config.ProbeTimeout and all
// at once: the MQTT broker (a TCP connection to its address; the session
// itself is up, or the command would not have come), the township's HTTP
// service (media.url: any HTTP answer counts, the box's credentials are
// not sent), each camera of the desired state (an RTSP DESCRIBE with its
// credentials, as the relay would pull it, under the same refusal of
// local targets), and each loudspeaker: a play-URL speaker by an HTTP
// request to its host; an RTP horn, which answers nothing, by an empty UDP
// datagram to its RTP port (no sound: it is not RTP) followed by a look at
// the box's ARP table — an ICMP "port unreachable" means the host is up
// with nothing on that port, an unreachable host means no device answered
// ARP on the LAN, an ARP entry means a device holds that address, and
// silence is all UDP can tell otherwise; a multicast group cannot be
// probed; the line-out reports what its driver last saw.
//
// A restart is answered first and carried out once the answer has been
// handed to the uplink (Deps.Restart is told the command's id); the
// assembly then stops the box in order and the daemon exits with a
// failure status, which its service manager answers by starting it again.
//
// It registers its commands with edge/command (Register) and knows nothing
// of MQTT or of how the rest of the box is built.
package diag
