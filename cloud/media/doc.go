// Package media keeps the township's audio clips: uploads are read up to a
// size limit, refused unless they decode as WAV or MP3 (with the box's own
// decoder, devices/audio), and stored content-addressed as
// <dir>/<sha256>, written to a temporary file, fsynced and renamed, so a
// clip is either whole on disk and indexed or not there at all.
//
// It also serves clips to boxes (GET /media/<sha256>): HTTP basic auth with
// the box's MQTT credentials, Range requests so a box resumes a cut
// download, and only the clips the box's plan references or a play command
// granted it, so one village cannot fetch another's announcements by
// guessing hashes.
//
// It knows the index and plans through cloud/store and boxes' credentials
// through a function; it knows nothing of MQTT, signing or the JSON API.
package media
