// Package fleet is the township's view of its boxes: registering them with
// their MQTT credentials (only a sha256 of each secret is kept), giving a
// box new credentials or retiring it (its live session ended through a
// Kicker, the embedded broker), rendering
// each box's ready edge config, compiling, signing and publishing each box's
// desired state (re-signed before it expires, republished after every
// connect because an embedded broker forgets retained messages when it
// restarts), taking in what boxes publish (reported state, event batches
// through ingest), keeping presence (Presence: from the embedded broker's
// session events, or from live traffic with an external broker; never from
// what a retained status says, which any client with a box's credentials
// can leave behind), keeping presence and reported state in memory and
// writing them in bulk (one transaction for every box changed, once a
// second and at stop), and admitting clients to the embedded broker.
//
// It knows the store through cloud/store and MQTT only as a Publisher and as
// the messages the downlink hands it; it knows nothing of HTTP.
package fleet
