// Package web is the township service's HTTP face: the JSON API under
// /api/v1 (and, later, the console). It authenticates with bearer tokens
// (POST /api/v1/login), checks each route's role through auth.Allowed,
// decodes request bodies strictly (unknown fields, trailing data and bodies
// over 64 KiB are refused; uploads have their own limit) and answers every error as {"error": "..."}
// with its status code.
//
// Routes:
//
//	GET  /healthz                           no token
//	POST /api/v1/login                      {username, password} → {token, expires_at}
//	POST /api/v1/logout                     ends the token's session
//	GET  /api/v1/boxes                      every box
//	POST /api/v1/boxes                      admin: {id, name} → {box, edge_config}
//	GET  /api/v1/boxes/{id}                 one box
//	GET  /api/v1/boxes/{id}/events          ?after=SEQ&limit=N (100, at most 1000) → {events, next_after}
//	POST /api/v1/boxes/{id}/commands        admin, operator: {type, args} → the box's result; 504 without one
//	GET  /api/v1/users                      admin: every account [{name, role, created_at, disabled}], no hashes
//	POST /api/v1/users                      admin: {name, password, role} → 201; 409 if the name is taken
//	PUT  /api/v1/users/{name}               admin: {role?, password?, disabled?}; ends that user's sessions;
//	                                        400 for an admin demoting or disabling themself, or the last admin
//	GET  /api/v1/audit/recent               admin, reviewer: ?limit=N (100, at most 1000) → {records}, newest first
//	GET  /api/v1/audit                      ?after=SEQ&limit=N → {records, next_after}, oldest first (with the
//	                                        lists: every role, see below; without: admin, reviewer)
//
// Every successful change (POST, PUT or DELETE answered 2xx) is appended to
// the audit trail before it is answered: the user, the route pattern as the
// action, the box, the path, and the JSON body (up to 4 KiB) with its
// password, secret, token and credential members removed; larger or
// other bodies only by content type and size, uploads by name and size.
// The lists record their own changes; sign-in and sign-out are recorded
// by cloud/auth as "login" and "logout" (see audit.go).
//
// Broadcast (reads: every role; changes: admin, operator). Every change is
// compiled with the media index into the box's desired state, validated as
// the box would, and only then saved, signed and published (400 and nothing
// changed when it is not valid); the answer is the plan with desired_rev.
//
//	GET    /api/v1/boxes/{id}/broadcast          the plan: quiet, tz, chime, speakers, zones, schedules
//	PUT    /api/v1/boxes/{id}/broadcast          replace the whole plan (no media: they are compiled)
//	PUT    /api/v1/boxes/{id}/speakers/{sid}     add or replace a protocol.Speaker
//	DELETE /api/v1/boxes/{id}/speakers/{sid}     409 while a zone uses it
//	PUT    /api/v1/boxes/{id}/zones/{zid}        add or replace a protocol.Zone
//	DELETE /api/v1/boxes/{id}/zones/{zid}        409 while a schedule uses it
//	PUT    /api/v1/boxes/{id}/schedules/{schid}  add or replace a protocol.Schedule
//	DELETE /api/v1/boxes/{id}/schedules/{schid}
//	GET    /api/v1/boxes/{id}/upcoming           ?days=N (7, at most 31) → {from, to, items, truncated}; quiet-hour items flagged
//	POST   /api/v1/media                         upload a WAV or MP3: raw body with ?name=, or multipart field "file";
//	                                             up to media.max_bytes → 201 with the clip's record
//	GET    /api/v1/media                         every clip, newest first
//	GET    /api/v1/media/{sha256}                download (Range works)
//	POST   /api/v1/media/speech                  admin, operator: {name, text} spoken by the TTS engine → 201 with the clip
//	POST   /api/v1/boxes/{id}/play               admin, operator: protocol.PlayArgs; the clips are granted to the box
//	POST   /api/v1/boxes/{id}/stop               admin, operator: protocol.StopArgs
//	POST   /api/v1/boxes/{id}/volume             admin, operator: protocol.VolumeArgs
//	GET    /api/v1/boxes/{id}/cameras            the box's cameras, ICE servers and viewer limits (passwords hidden)
//	PUT    /api/v1/boxes/{id}/cameras            admin, operator: replace the whole protocol.Cameras section
//	PUT    /api/v1/boxes/{id}/cameras/{cid}      admin, operator: add or replace a protocol.Camera
//	DELETE /api/v1/boxes/{id}/cameras/{cid}
//	POST   /api/v1/boxes/{id}/cameras/{cid}/whep WHEP: an SDP offer (application/sdp) → 201 with the box's answer and
//	                                             Location …/whep/{session}; signalled to the box over MQTT
//	DELETE /api/v1/boxes/{id}/cameras/{cid}/whep/{session}  end the viewing
//	POST   /api/v1/boxes/{id}/cameras/discover   admin, operator: the box probes its LAN for ONVIF cameras (WS-Discovery)
//	POST   /api/v1/boxes/{id}/cameras/onvif      admin, operator: the box reads a camera's ONVIF profiles and stream URIs
//	POST   /api/v1/boxes/{id}/cameras/{cid}/ptz  admin, operator: turn, zoom, stop, go to a preset (protocol.PTZArgs)
//	GET    /api/v1/boxes/{id}/cameras/{cid}/snapshot  a still the box takes from the camera (image/jpeg)
//	POST   /api/v1/boxes/{id}/paging            admin, operator: live paging (喊话) signalled as WHIP: an SDP offer with
//	                                             a microphone track, ?zones=a,b (none: every zone) → 201 with the box's
//	                                             answer, X-Paging-Codec (PCMA or PCMU) and Location …/paging/{session}
//	DELETE /api/v1/boxes/{id}/paging/{session}  hang up
//
// The red and black lists (routes in lists.go): households, persons, categories, entries and their review,
// publication, revocation, audit, points and leaderboard under
// /api/v1/villages/{box}/… and /api/v1/entries/…, and
//
//	GET    /api/v1/villages/{box}/lists/{period}/poster  ?size=A4|A3: the printable poster (HTML)
//
// Boxes download clips from /media/<sha256>, served by cloud/media.
//
// Commands to a box (…/commands, …/play, …/stop, …/volume, WHEP and
// paging) live CommandLifetime (15 s): the box never starts or carries one
// out after it. The API waits CommandWait (20 s) for the box's result: the
// lifetime plus downlink.ResultGrace (5 s) for the result's transit, so a
// command the box carried out at its last moment is answered as done and
// never sent twice. No result by then: 504. A command that reached the box
// after its lifetime is refused by the box as "expired": 504 saying so;
// nothing was done, and it may be sent again.
//
// It knows the store, the fleet and the downlink only through the
// interfaces it declares; nothing here speaks MQTT or bbolt.
package web
