// Package tts turns announcement text into Mandarin speech as WAV bytes,
// behind one small interface with two engines: espeak-ng run as a local
// process, and any HTTP server that answers a JSON request with WAV.
//
// Every engine refuses the same bad text (empty, too long, control
// characters, invalid UTF-8) before doing any work, and every result is
// decoded with the box's own decoder (devices/audio) and checked to hold
// sound, so an engine that answers silence, an error page or garbage is an
// error here and never becomes a clip that a village plays as nothing.
//
// It knows nothing of lists, templates, storage or boxes: text in, WAV out.
package tts
