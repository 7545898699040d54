// Package console is the township officials' web console: server-rendered
// pages (html/template, a little vanilla JS, all embedded in the binary),
// zh-CN first with an English switch, usable on a phone.
//
// It signs officials in through cloud/auth, so a console session is the
// same kind of session as an API token: one store, one rate limiter, one
// place that knows passwords. The session token travels in an HttpOnly,
// SameSite=Lax cookie; every state-changing request must also carry a
// CSRF token derived from it (see csrf.go).
//
// It reads boxes from the store and never writes them; it knows nothing
// of MQTT, desired state or the JSON API, which it passes what it does not
// serve (Deps.Next), beyond the API's error codes (web.Code): officials
// read, for each, a sentence that says what to do (codes.go), never an
// error's English text, whether the failure came through the API to a
// page's script (static/errors.js) or from a service the console calls
// itself.
package console
