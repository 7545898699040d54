package relay

import "time"

// Event types.
const (
	EventOnline  = "camera.online"  // the upstream pull works (again)
	EventOffline = "camera.offline" // the camera failed or was lost; Error says why
	EventViewer  = "camera.viewer"  // a reader left: who watched, From..To
)

// Event is what the township must learn about a camera: for the outbox.
type Event struct {
	Type   string    `json:"type"`
	Camera string    `json:"camera"`
	Error  string    `json:"error,omitempty"`
	Reader string    `json:"reader,omitempty"` // remote address, or the Subscribe caller's name
	From   time.Time `json:"from,omitzero"`
	To     time.Time `json:"to,omitzero"`
}
