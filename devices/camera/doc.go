// Package camera holds what the village box needs of its monitoring
// cameras, RTSP sources of H.264 (sometimes H.265) video that it relays to
// the township: camera helpers and, in camera/sim, a simulated RTSP
// camera for tests, demos and `dalaba-sim camera`.
//
// Like everything under devices, it knows nothing of the apps (schedules,
// MQTT, bbolt, the protocol or either daemon); it understands only the
// wire.
package camera
