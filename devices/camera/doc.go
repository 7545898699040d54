// Package camera holds what the village box needs of its monitoring
// cameras, RTSP sources of H.264 or H.265 video (and maybe audio) that it
// relays to the township: in camera/onvif the ONVIF client (discovery,
// profiles, snapshots, PTZ) and, in camera/sim, a simulated RTSP camera
// with its ONVIF face for tests, demos and `dalaba-sim camera`.
//
// Like everything under devices, it knows nothing of the apps (schedules,
// MQTT, bbolt, the protocol or either daemon); it understands only the
// wire.
package camera
