// Package ingest turns an event batch a box uploaded into stored events and
// the acknowledgement the box may delete its outbox by.
//
// The order is the guarantee: decode strictly, store by (box, seq) in one
// durable write, and only then encode the ack, whose seq is the store's
// watermark. A re-sent batch is stored once and acknowledged the same way;
// a refused batch stores nothing and gets no ack.
//
// It knows the protocol's messages and the store's Events interface, and
// nothing of MQTT: the caller receives the payload and publishes the ack.
package ingest
