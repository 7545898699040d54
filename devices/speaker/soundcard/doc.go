// Package soundcard plays clips on the box's own line-out, through the
// sound card, with oto (github.com/ebitengine/oto/v3). oto is pure Go: it
// talks to a PulseAudio or PipeWire server when one runs and otherwise
// loads libasound.so.2 (Debian package libasound2) at run time, so the
// binary builds without cgo and starts on a box without either; the
// missing card or library then shows in Health and in Play's error.
//
// oto opens the sound card once per process and never closes it, so a
// process makes exactly one Card (NewCard) and makes its speakers from it
// (New). A card that fails stays failed until the process restarts.
//
// The card takes a clip no faster than real time, a little ahead, whatever
// the device's own pace: a device that swallows audio at once (ALSA's null
// device) then plays as long as a real one, and a cancelled clip stops
// within a buffer's worth of audio. It converts a clip to the card's
// format a fifth of a second at a time, exactly as a whole-clip
// conversion would, so a long announcement starts at once.
//
// It knows nothing of schedules, zones or the township.
package soundcard
