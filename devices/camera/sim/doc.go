// Package sim is a simulated RTSP monitoring camera: an RTSP server
// (github.com/bluenviron/gortsplib/v5) that loops a short H.264 clip at
// a steady frame rate, for tests, demos and `dalaba-sim camera` in place
// of a real camera.
//
// The clip is Annex-B H.264 (by default an embedded 2 s 640x360
// Constrained Baseline test pattern, see DefaultClip). It is split into
// access units and looped with RTP timestamps (90 kHz) that keep
// increasing across loops, as a live camera's do. SPS and PPS go in the
// SDP (sprop-parameter-sets) and in-band before every IDR, so a reader
// that joins mid-stream can decode from the next IDR. Readers take it
// over UDP or over TCP (interleaved), as they ask; with a user name set,
// wrong credentials are refused.
//
// A camera going away and coming back is simulated by ending Run (its
// context) and starting a new Sim on the same address: Run releases the
// port before it returns, so the new Sim binds it again at once. A Sim
// runs once.
//
// It knows nothing of the drivers that read it, nor of the apps; it
// understands only the wire.
package sim
