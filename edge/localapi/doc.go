// Package localapi is the box's local HTTP API on a unix socket, for
// programs on the box itself (a sensor script reporting a fault, an
// installer's check) and for tests:
//
//	POST /v1/events   one event {"type","priority","data"} or an array of up
//	                  to 1000; 200 {"seqs":[...]} only once every one is
//	                  durable in the outbox, stored in the request's order
//	                  (the seqs rise with it); 400 {"error"} on bad input,
//	                  with nothing appended
//	GET  /v1/status   {"box_id","version","connected","applied_rev",
//	                  "outbox":{"backlog","bytes","first_seq","last_seq"}}
//
// Being a unix socket (mode 0660), it is reachable only by local users with
// permission on the socket file; it never listens on a network.
//
// It knows nothing of the outbox, MQTT or desired state: the assembly gives
// it an append function and a status function.
package localapi
