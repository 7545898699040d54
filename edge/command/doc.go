// Package command is the box's command runner: it takes the signed commands
// the township sends (play now, stop, a camera viewer's offer, a page) and
// runs each on a lane suited to what it does, within the command's lifetime.
//
// Intake, one goroutine, in arrival order: verify (the pinned township key,
// this box, schema), refuse a replayed id (remembered in the store, fsync,
// before anything runs, so a redelivery after a restart is refused too),
// decode and validate the arguments for the type (Register: one place per
// type), and hand the command to its lane. Intake does no work of the
// commands themselves, so it never waits behind one.
//
// Lanes:
//
//   - Control: quick commands that must never wait behind slow ones (stop,
//     volume, a play whose clips are decoded, an emergency, hang-ups), run
//     one at a time in arrival order on one goroutine, so a stop and the
//     emergency sent after it take effect in that order. Their handlers do
//     no network I/O.
//   - Slow: commands that wait on the network or on other devices (a play
//     that must download its clip, a WHEP viewer's offer, a page's offer),
//     each on a goroutine of its own, at most Config.MaxSlow at once. One
//     more is refused at once with protocol.CodeBusy rather than queued:
//     the official learns now, not when the command expires, and the box
//     never holds a backlog of work nobody waits for any more.
//   - Urgent: slow work that must not wait for a slot either (an emergency
//     whose clip must be fetched): a goroutine of its own, never refused.
//
// Lifetime: every command carries expires_at, judged on the box's clock
// (Deps.Clock). A command is never started at or after it (checked when the
// lane takes it, not only on arrival); its handler's context is cancelled
// when it comes; and a command whose handler returns after it is answered
// protocol.CodeExpired, unless the handler passed its point of no return
// (Commit) in time: then the effect happened within the lifetime, and the
// result says what it was. A handler calls Commit just before it acts, so
// an expired command is never carried out (a play whose download outlived
// it never reaches the speakers), and one carried out is never reported as
// expired (the township would let the official send it again).
//
// Every command that was verified gets a result (through Deps.Results) with
// its code: replays and commands that cannot be verified get none, their id
// not being the township's; they are recorded as cmd.rejected events.
//
// Run owns every goroutine; when its context ends, running handlers are
// cancelled, their results say so, and Run returns once they have all
// returned.
//
// It knows nothing of MQTT (payloads come in through Receive, results go
// out through a callback) nor of what any command does: the feature
// packages register their typed handlers.
package command
