// Package release keeps the software releases of dalaba-edge: one binary
// per architecture (amd64, arm64, armhf), streamed to disk as it is
// uploaded under a limit of concurrent uploads, checked (size, an ELF
// program of the architecture it is uploaded as), stored by sha256 under
// <data_dir>/releases, and described by a manifest the township signs
// with its own key (protocol.SignManifest), the key the boxes pin.
//
// Boxes download a binary from BoxPrefix<sha256> with their own
// credentials, with Range, so a cut download resumes. A release binary is
// no village's secret: any registered box may fetch any of them.
//
// It knows nothing of rollouts or MQTT.
package release
