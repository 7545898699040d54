// Package bulk applies one plan change to many boxes as a job: a schedule
// added or replaced, or one taken out, on every village of a township or
// on a chosen list of boxes. Each box gets its own signed desired state
// through the planner, one after another; the job tells, box by box,
// what is queued, done (with the rev) or failed (with why).
//
// Jobs are kept in memory, the latest MaxKept of them: a restart of the
// service forgets them and ends the one running. What a job reported
// done is stored (the planner saves the plan and the signed desired
// state before it returns) and stays; a box still queued at a restart
// did not get the change, and the same job can simply be sent again:
// putting a schedule twice, or removing one already gone, changes
// nothing more.
//
// It knows nothing of HTTP or MQTT.
package bulk
