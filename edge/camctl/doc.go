// Package camctl carries out the township's commands that reach the
// village's cameras through ONVIF: finding them on the box's LAN
// (camera.discover, also recorded as a camera.discovered event), reading
// what one has (camera.onvif: device information, profiles, stream and
// snapshot URIs, PTZ presets), turning one (camera.ptz) and taking a still
// (camera.snapshot).
//
// Lanes (edge/command): a PTZ move or preset is a quick call to a camera
// on the LAN, on the slow lane with a deadline of its own (ptzDeadline),
// so a camera that does not answer holds no slot for long; a stop goes on
// the control lane, so it is never queued behind moves, with a shorter
// deadline still; discovery, reading a camera and snapshots are slow.
//
// The cameras (their ONVIF address, credentials, profile) come from the
// desired state (SetCameras). The package knows nothing of MQTT; the ONVIF
// wire is devices/camera/onvif.
package camctl
