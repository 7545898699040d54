// Package media keeps the township's audio clips: uploads stream, up to a
// size limit, into a temporary file under <dir>/tmp while they are hashed,
// are refused unless they pass the box's own decoder rules (devices/audio,
// checked from the file without holding the clip or its samples), and are
// stored content-addressed as <dir>/<sha256>, fsynced and renamed, so a
// clip is either whole on disk and indexed or not there at all, and a
// refused or cut-off upload leaves nothing. A few uploads are taken at
// once (Config.MaxUploads); the others wait a while, then are told the
// service is busy, so memory does not grow with the number of uploads.
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
