package protocol

// EventUpdateRolledBack is recorded by a box that went back to its previous
// software after an update failed to prove itself; the township alerts on
// it. Its data names the versions and why, as RolledBack does.
const EventUpdateRolledBack = "update.rolled_back"

// RolledBack is the data of an EventUpdateRolledBack event. A receiver
// reads it leniently: every field may be missing.
type RolledBack struct {
	From   string `json:"from,omitempty"`   // the version that failed
	To     string `json:"to,omitempty"`     // the version running again
	Reason string `json:"reason,omitempty"` // why: crash_loop, no_connection, watchdog, …
}
