// Package slot keeps the box's two software slots, <dir>/a and <dir>/b,
// each holding a dalaba-edge binary, and the small state file that says
// which one runs.
//
// The service manager starts the daemon through the link <dir>/current,
// which `dalaba-edge slot boot` (ExecStartPre) points at the slot to run
// after counting the boot. An update is staged in the idle slot and the
// state switched to it "on trial"; the trial slot becomes the good one
// only when the daemon commits it, after it has run healthy for a while.
// A trial slot that fails to start MaxAttempts times, or that the daemon
// itself finds unhealthy, is left for the last good slot, and the reason
// is kept until the good slot has reported it.
//
// Every change of the state file is written to a temporary file, synced,
// and renamed over the old one (then the directory synced), so a power
// cut or a SIGKILL leaves either the old state or the new, never a torn
// one; a binary is complete in its slot before any state names it.
//
// It knows nothing of the township, MQTT or the daemon's parts.
package slot
