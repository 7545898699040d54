// Package desired is how the box takes instructions from the township.
//
// Desired state: verify (the pinned township key, this box, not expired,
// schema), check the rev is newer than the applied one, persist it (fsync),
// and only then hand it to the parts that use it and report the new rev.
// The same rev again, the retained copy every reconnect redelivers, is
// ignored quietly; anything else refused is logged, recorded as a
// desired.rejected event, and changes nothing: the box keeps running what it
// had.
//
// Commands: verify, refuse a replayed id (remembered in the store until it
// expires), run the handler registered for the type, answer with a
// protocol.CommandResult. Refusals are recorded as cmd.rejected events.
//
// It knows nothing of MQTT (payloads come in as bytes, results go out
// through a callback) nor of what the desired state's spec means.
package desired
