// Package rollout sends a software release to boxes in waves.
//
// A rollout names its boxes (some by id, or all in service, or a
// percentage of either) and cumulative waves (10 → 50 → 100 by default).
// The boxes of a wave are sent update.install with the binary of their
// architecture (which they report); a box counts as updated once it
// reports the new version committed (edge/update), and failed when it
// refuses the release for good, reports that it went back (rolled_back,
// with the reason), or stays silent past BoxTimeout. Refusals that pass
// (busy, a broadcast on the air, no answer) are tried again after Retry.
// The next wave begins when every box of the current one has settled; the
// rollout pauses itself once more than MaxFailures boxes failed, and an
// official may pause, resume or cancel it. Every change is stored, so a
// restarted township carries on.
//
// It knows the store, a command sender and what boxes report; not MQTT,
// HTTP or the console.
package rollout
