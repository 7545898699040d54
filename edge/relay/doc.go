// Package relay re-serves the village's RTSP cameras from the box.
//
// Cameras are pulled on demand with gortsplib: the first reader of
// rtsp://BOX:PORT/<camera-id> (or the first Subscribe, the hook of the
// WebRTC side) starts ONE upstream pull, later readers share it through
// one gortsplib.ServerStream, and when the last reader leaves the pull
// lingers (Config.Linger) before it stops. AlwaysOn cameras are pulled
// for as long as Run runs.
//
// Video is passed through: the camera's H.264 (or H.265) RTP packets are
// forwarded untouched and its SPS/PPS re-served in the SDP; nothing is
// decoded or transcoded, so a Raspberry Pi class box relays many cameras.
// Only the camera's first H.264/H.265 video track is relayed.
//
// When a camera goes away its readers' sessions end, a camera.offline
// event is sent, and the pull is retried with backoff while someone still
// wants it; camera.viewer events record who watched what, from when to
// when.
//
// The package knows nothing of MQTT, the desired state or WebRTC: the box
// hands it cameras (SetCameras) and takes its events (Deps.Events).
package relay
