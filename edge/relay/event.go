package relay

import "time"

// Event types.
const (
	EventOnline  = "camera.online"  // the upstream pull works (again)
	EventOffline = "camera.offline" // the camera failed or was lost; Error says why
	EventViewer  = "camera.viewer"  // a reader left: who watched, From..To
	EventStream  = "camera.stream"  // a pull's stream was analysed (Info), first or changed
)

// Event is what the township must learn about a camera: for the outbox.
type Event struct {
	Type   string `json:"type"`
	Camera string `json:"camera"`
	// Stream is "sub" for the camera's sub stream; empty for the main one
	// (EventStream says StreamMain).
	Stream string      `json:"stream,omitempty"`
	Error  string      `json:"error,omitempty"`
	Reader string      `json:"reader,omitempty"` // remote address, or the Subscribe caller's name
	From   time.Time   `json:"from,omitzero"`
	To     time.Time   `json:"to,omitzero"`
	Info   *StreamInfo `json:"info,omitempty"` // EventStream
}
