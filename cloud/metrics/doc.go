// Package metrics serves the township's Prometheus metrics on a registry
// of its own: the fleet as presence and the store see it, read at scrape
// time, and what the service counts as it goes: event batches stored and
// how late their events arrived (Stored, ingest's hook), commands by
// result (Command), and HTTP requests by route pattern (HTTP). The
// endpoint is /metrics on the service's HTTP server, served only when
// cloud.yaml's metrics.token is set and only to a scrape that gives it as
// its bearer token.
//
// The metrics, their types and labels (a test holds this list to what is
// registered; the standard go_* and process_* families come on top):
//
//	dalaba_cloud_info{version}                               gauge      1, labelled with the software's version
//	dalaba_cloud_boxes                                       gauge      boxes registered
//	dalaba_cloud_boxes_online                                gauge      boxes connected now
//	dalaba_cloud_box_online{box}                             gauge      1 while the box is connected
//	dalaba_cloud_box_last_seen_age_seconds{box}              gauge      since the box's last sign of life
//	dalaba_cloud_box_outbox_backlog{box}                     gauge      events waiting on the box, as it last reported
//	dalaba_cloud_ingest_batches_total                        counter    event batches stored
//	dalaba_cloud_ingest_events_total                         counter    events in them
//	dalaba_cloud_ingest_lag_seconds                          histogram  from an event's time on the box to its storing
//	dalaba_cloud_commands_total{type,result}                 counter    commands sent, by type and result (ok, a box's code, no_answer, not_connected, invalid)
//	dalaba_cloud_http_request_duration_seconds{route,code}   histogram  HTTP requests by route pattern and status class (2xx…); event streams left out
//	dalaba_cloud_mqtt_connected                              gauge      1 while the service's MQTT connection is up
//	dalaba_cloud_broker_undelivered_total                    counter    messages the embedded broker dropped instead of delivering
//	dalaba_cloud_ingest_shed_total                           counter    a replica's event batches left to their boxes (sent again) while its worker was behind
//	dalaba_cloud_broker_rate_limited_total{box}              counter    the box's messages the broker dropped over its publish limit
//	dalaba_cloud_broker_township_inflight                    gauge      messages the broker holds unacknowledged for the service's session
//	dalaba_cloud_broker_township_inflight_window             gauge      the most it may hold; past it the broker drops (undelivered_total)
//	dalaba_cloud_broker_connects_total{outcome}              counter    box connects held for their turn (paced) or refused as busy (refused_busy)
//	dalaba_cloud_alerts_open                                 gauge      alert incidents open now
//	dalaba_cloud_alert_deliveries_total{outcome}             counter    alert messages sent or given up, since the start
//
// It knows the store's boxes, presence and the downlink's errors; it
// knows nothing of what the routes do.
package metrics
