// Package update installs the township's software releases on the box and
// looks after the trial of a new one.
//
// update.install (a signed command on the slow lane, so an emergency still
// cuts in) is checked before anything is replaced: the manifest's
// signature against the pinned township key, its architecture against the
// box's, the free disk against the download with room to spare, and no
// broadcast or page on the air. The binary downloads into
// <data_dir>/update/<sha256>.part, resuming with HTTP Range after a cut;
// its size, sha256 and ELF machine are checked; only then is it copied
// into the idle slot (edge/slot) and the state switched to it on trial.
// The box answers, then restarts into the new slot.
//
// A slot on trial is committed once the box has been connected with its
// desired state applied for CommitAfter without a break. If that does not
// happen within TrialTimeout the box leaves the slot (no_connection) and
// stops, and the service manager starts the good slot. The good slot,
// back, records update.rolled_back with the reason (including those
// `dalaba-edge slot boot` found: crash_loop, watchdog) and reports it.
//
// It knows nothing of MQTT or playout: the assembly passes in what is on
// the air and whether the box is healthy.
package update
