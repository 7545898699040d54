// Package onvif is the box's ONVIF client for the village's cameras, as
// far as the box needs it: WS-Discovery (Probe), the device service
// (device information, capabilities), the media service (profiles, stream
// and snapshot URIs), the snapshot itself, and PTZ (continuous move, stop,
// presets). Requests are SOAP 1.2 over HTTP with a WS-Security
// UsernameToken (password digest), as ONVIF Profile S cameras take them;
// only the elements used are read from the answers, by local name, so the
// many cameras that bend the schema still parse.
//
// Every call takes a context and is bounded by it; answers are read up to
// a size limit. The package knows nothing of the box, the protocol or the
// desired state.
package onvif
