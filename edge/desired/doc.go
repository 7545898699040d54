// Package desired is how the box takes the township's desired state.
//
// It runs on a lane of its own (Run, one goroutine), so applying a state
// never holds up a command and no command holds up a state. Receive only
// queues the payload. The lane verifies each (the pinned township key, this
// box, not expired, schema), checks the rev is newer than the applied one,
// persists it (fsync), and only then hands it to the parts that use it and
// reports the new rev. States are applied strictly in increasing rev order:
// when several wait, the newest supersedes the others (the state is whole),
// and an older rev arriving after a newer one is refused as stale.
//
// Subscribers receive a State: the rev and its spec, decoded once on the
// lane, for all of them.
//
// The same rev again, the retained copy every reconnect redelivers, is
// ignored quietly; anything else refused is logged, recorded as a
// desired.rejected event, and changes nothing: the box keeps running what it
// had.
//
// It knows nothing of MQTT (payloads come in as bytes) nor of what the
// spec's sections mean. Commands are edge/command's.
package desired
