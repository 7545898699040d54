// Package edge assembles the village box daemon, dalaba-edge: it opens the
// bbolt file in the data directory and builds the outbox, the desired-state
// applier, the MQTT uplink, the health monitor and the local API from the
// config, wires them to one another, runs them together and stops them in
// order:
//
//  1. intake: the local API (finishing requests in progress) and health;
//  2. the uplink: it finishes the message it is applying, publishes the box
//     offline (retained) and disconnects;
//  3. the outbox: its last group commit lands;
//  4. the bbolt file is closed.
//
// Each part's own rules live in its package; this one only knows which part
// feeds which.
package edge
