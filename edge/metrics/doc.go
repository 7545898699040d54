// Package metrics serves the box's Prometheus metrics: what the box's
// parts already count, read when a scraper asks (Source), and the counts of
// the events the box records (Event), on a registry of its own. The
// endpoint listens only when edge.yaml's metrics.listen is set; beyond
// loopback a scrape must give metrics.token as its bearer token.
//
// The metrics, their types and labels (a test holds this list to what is
// registered; the standard go_* and process_* families come on top):
//
//	dalaba_edge_info{version}                        gauge    1, labelled with the software's version
//	dalaba_edge_outbox_events                        gauge    events waiting for the township's ack
//	dalaba_edge_outbox_bytes                         gauge    their stored bytes
//	dalaba_edge_outbox_oldest_age_seconds            gauge    how long the oldest waiting event has waited (0 when none)
//	dalaba_edge_uplink_connected                     gauge    1 while the MQTT session is up
//	dalaba_edge_uplink_connections_total             counter  MQTT sessions made since start (reconnects are this less one)
//	dalaba_edge_desired_rev                          gauge    the rev of the desired state applied
//	dalaba_edge_playbacks_total{result}              counter  playbacks by result: played, preempted, skipped, failed
//	dalaba_edge_playbacks_skipped_total{reason}      counter  scheduled occurrences not played, by reason (quiet_hours, late, …)
//	dalaba_edge_speaker_reachable{speaker}           gauge    1 when the speaker's driver last reached it
//	dalaba_edge_camera_up{camera}                    gauge    1 after camera.online, 0 after camera.offline
//	dalaba_edge_camera_pulling{camera}               gauge    1 while the relay pulls the camera
//	dalaba_edge_relay_viewers{camera}                gauge    RTSP readers and WebRTC viewers of the camera now
//	dalaba_edge_relay_received_bytes_total{camera}   counter  bytes received from the camera since it was configured
//	dalaba_edge_webrtc_sessions{kind}                gauge    WebRTC sessions now: viewer or page
//	dalaba_edge_disk_free_bytes                      gauge    free space of the data directory's file system
//	dalaba_edge_disk_total_bytes                     gauge    its size
//	dalaba_edge_clock_trusted                        gauge    1 when the clock is trusted (not before the floor or the build date)
//
// It knows nothing of how the parts work, only the readings the assembly
// hands it, and the protocol's event types.
package metrics
