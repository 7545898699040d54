// Package sim is a simulated RTSP monitoring camera: an RTSP server
// (github.com/bluenviron/gortsplib/v5) that loops short clips at a steady
// frame rate, for tests, demos and `dalaba-sim camera` in place of a real
// camera.
//
// A clip is Annex-B H.264 or H.265 (by default an embedded 2 s 640x360
// Constrained Baseline test pattern, see DefaultClip). It is split into
// access units and looped with RTP timestamps (90 kHz) that keep
// increasing across loops, as a live camera's do; a clip with B-frames is
// sent in decode order with the timestamps of presentation, worked out
// from the pictures' order counts, as a camera sends it. Parameter sets go
// in the SDP and in-band before every keyframe, so a reader that joins
// mid-stream can decode from the next one. Like a real camera it may have
// a sub stream (SubClip, at Path/sub), a microphone (Audio: G.711 looped
// in 20 ms packets beside the main stream) and an ONVIF face (onvif.go:
// device, media and PTZ services, a snapshot, WS-Discovery). Readers take
// it over UDP or over TCP (interleaved), as they ask; with a user name
// set, wrong credentials are refused.
//
// A camera going away and coming back is simulated by ending Run (its
// context) and starting a new Sim on the same address: Run releases the
// port before it returns, so the new Sim binds it again at once. A Sim
// runs once.
//
// It knows nothing of the drivers that read it, nor of the apps; it
// understands only the wire.
package sim
