// Package edge assembles the village box daemon, dalaba-edge: it opens the
// bbolt file in the data directory and builds the outbox, the desired-state
// applier, the command runner, the MQTT uplink, the health monitor, the
// local API, the playout, the camera relay, WebRTC viewing and paging,
// remote diagnostics and the metrics endpoint from the config, wires them
// to one another, runs them together and stops them in order. Its logger
// tees into a ring of the latest lines (edge/logring) that diagnostics
// read.
//
//  1. intake, all at once: the desired-state lane and the command runner
//     (handlers in flight are cancelled and answered), the local API
//     (finishing requests in progress), health, the playout (halting the
//     speakers and recording what was cut short), the relay, WebRTC
//     viewing, paging, the metrics endpoint and the clip server;
//  2. the uplink, once every intake part has returned (until then it keeps
//     publishing, so the answers of the commands cut short go out): it
//     publishes the box offline (retained) and disconnects; a command that
//     arrives after the runner stopped is dropped unanswered;
//  3. the outbox: its last group commit lands;
//  4. the bbolt file is closed.
//
// The uplink hands payloads over and returns: the desired state to its own
// lane (edge/desired), commands to the runner (edge/command), where each
// feature registered its typed commands (edge/playout, edge/whep,
// edge/paging, edge/diag). Subscribers of the desired state get its spec
// decoded once.
//
// A restart the township asks for (diag.restart) is answered first; once
// the answer is handed to the uplink, the box stops in the order above
// (the uplink sends the answers still queued before its offline status)
// and Run returns ErrRestart, on which the daemon exits with a failure
// status and its service manager starts it again.
//
// Each part's own rules live in its package; this one only knows which part
// feeds which.
package edge
