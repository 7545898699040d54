// Package relay re-serves the village's RTSP cameras from the box.
//
// Each camera has a main stream and maybe a sub stream; each is a source
// of its own, re-served at rtsp://BOX:PORT/<camera-id> and …/<camera-id>/sub
// (Path). Streams are pulled on demand with gortsplib: the first reader
// (or the first Subscribe, the hook of the WebRTC side) starts ONE
// upstream pull, later readers share it through one gortsplib.ServerStream,
// and when the last reader leaves the pull lingers (Config.Linger) before
// it stops. An AlwaysOn camera's main stream is pulled for as long as Run
// runs.
//
// Media is passed through: the camera's H.264 or H.265 RTP packets, and
// its G.711 or AAC audio, are forwarded untouched and their parameter sets
// re-served in the SDP; nothing is decoded or transcoded, so a Raspberry
// Pi class box relays many cameras. Subscribers get the audio only when it
// is G.711 (what browsers' WebRTC plays).
//
// Two things are read, not changed. The first slice header of each
// picture and the order of the timestamps tell whether a stream has
// B-frames, and whether other frames refer to them (StreamInfo, reported
// once per pull as camera.stream, and kept for the next viewers), so the
// WebRTC side can choose what a browser decodes smoothly. And the packets
// since the latest keyframe (the GOP, bounded by maxGOPBytes) are kept, so
// a new subscriber starts from it at once instead of waiting for the next
// keyframe. RTSP readers still start at the next keyframe: gortsplib's
// shared stream has no per-reader start.
//
// When a camera goes away its readers' sessions end, a camera.offline
// event is sent, and the pull is retried with backoff while someone still
// wants it; camera.viewer events record who watched what, from when to
// when.
//
// The package knows nothing of MQTT, the desired state or WebRTC: the box
// hands it cameras (SetCameras) and takes its events (Deps.Events).
package relay
