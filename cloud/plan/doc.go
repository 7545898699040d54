// Package plan turns the broadcast plan the township edits for a box
// (speakers, zones, schedules, quiet hours, chime) into the box's desired
// state: it fills in the clips the plan references from the media index,
// validates the result with the protocol's own checks, stores the plan only
// if it is valid and then has the fleet sign and publish it. It also
// previews a plan's coming playbacks with the calendar code the box fires
// them with.
//
// It knows the store and the fleet through small interfaces; it knows
// nothing of HTTP, MQTT or files.
package plan
