// Package web is the township service's HTTP face: the JSON API under
// /api/v1. It authenticates with bearer tokens (POST /api/v1/login),
// registers every route once with the action its caller's role must be
// allowed in auth's table (Server.Routes lists them), decodes request
// bodies strictly (unknown fields, trailing data and bodies over 64 KiB
// are refused; uploads have their own limit), and says nosniff on every
// answer.
//
// # Townships
//
// The deployment is the county; its townships are units under it. Every
// route also declares how its target is scoped (scope.go: a box {id}, a
// village {box}, an entry, hold, redemption, plan job, rollout, claim,
// user or township, a clip (its uploader's township), a list, a body,
// the county's own, or shared), and
// the server resolves the target's township before the handler runs,
// deciding with auth.Decide (role, action, the user's unit, the
// target's). A county user ("" township) reaches everything; a
// township's user only that township's villages, users and claims: a
// target outside answers 404 not_found as an unknown one would, lists
// leave out what lies outside, and a bulk action (plan jobs, rollouts,
// claim codes from a sheet) naming anything outside is refused whole with
// 403 scope.outside, nothing done. A box or user made by a township's
// admin is of their township; only a county admin makes townships, moves
// a box between them and makes county users (403 scope.county_only). The
// clip library is the county's (one store by sha256); its list shows a
// township's user the clips of their township's and the county's users.
//
// # Errors
//
// Every error answer is JSON with a stable code beside the message:
//
//	{"error": "the plan is not valid: broadcast.schedules[2].name: longer than 200 bytes",
//	 "code": "plan.invalid",
//	 "fields": [{"path": "broadcast.schedules[2].name", "message": "broadcast.schedules[2].name: longer than 200 bytes"}]}
//
// The message says in English what was wrong, for people using curl;
// programs (the console) go by the code, which is never renamed or given
// another meaning. A refused input (400) lists each of its problems in
// fields, with the place it names where it names one. Codes and their
// statuses (errors.go holds the table, derived from the packages'
// sentinel errors):
//
//	request.bad_json           400  the body is not the one JSON object the route takes
//	request.too_large          413  a body or SDP offer over its limit
//	request.invalid            400  a path, query or body value the route refuses
//	request.unsupported_type   415  an SDP offer not sent as application/sdp
//	route.not_found            404  no route has this path
//	route.method_not_allowed   405  the path exists under other methods (Allow says which)
//	auth.token_missing         401  no bearer token
//	auth.token_invalid         401  a token or session that ended, or never was
//	auth.bad_credentials       401  a wrong user name or password
//	auth.rate_limited          429  too many failed sign-ins; Retry-After says when to try again
//	auth.forbidden             403  the user's role may not do this
//	auth.csrf                  403  the console's bridge: a change without the page's CSRF token
//	user.invalid               400  a bad user name, password or role; the last admin, or an admin demoting or disabling themself
//	not_found                  404  what the path names does not exist
//	exists                     409  an id or name already taken
//	box.invalid                400  a bad box id or name or place
//	box.retired                409  the box was retired: no commands, plan changes or new credentials for it
//	plan.invalid               400  the broadcast plan or cameras would not be a valid desired state
//	plan.in_use                409  a speaker or zone still used by a zone or schedule
//	media.invalid              400  not a WAV or MP3 the boxes can play, or a bad clip name
//	media.too_large            413  a clip over media.max_bytes
//	media.unknown              400  play names a clip never uploaded
//	media.busy                 503  too many clips being stored at once; Retry-After says when to try again
//	command.invalid            400  a command's type or arguments
//	broker.not_connected       503  the service has no connection to its MQTT broker
//	box.no_answer              504  the box did not answer in time (offline?)
//	box.expired                504  the command reached the box after its lifetime; nothing was done, it may be sent again
//	box.refused                409  the box answered that it will not; its reason in the message
//	box.bad_answer             502  the box answered with nothing usable
//	camera.not_found           404  the box has no such camera
//	camera.unreachable         502  the box could not open the camera: no answer, a wrong address, port or path
//	camera.unauthorized        502  the camera refused the user name and password the box gave it
//	camera.no_video            502  the camera offers no H.264 or H.265 video the box can relay
//	speaker.silent             502  the horn did not play the test tone (the box's reason and the horn's health in "result")
//	speaker.not_on_box         409  the box does not have the speaker yet: its settings are on their way, or it is offline
//	speaker.busy               409  an emergency or a live page held the horn until the test tone was too late
//	camera.bframes             422  the camera's B-frames cannot be shown in a browser; the message says what to change
//	camera.codec               422  no stream of the camera is in a codec the browser plays; the message says what to change
//	paging.no_zones            409  paging a box that has no zones
//	zone.not_found             404  paging a zone the box does not have
//	speech.bad_text            400  text the TTS cannot read: empty, too long, no words
//	speech.failed              502  the TTS engine failed
//	poster.invalid             400  a poster that cannot be made (a bad size)
//	lists.invalid              400  a 红黑榜 field, period or reference
//	lists.forbidden            403  the role may not, or this user may not for this entry (their own)
//	lists.conflict             409  the entry or list is not in a state that allows it
//	lists.announcement_failed  502  the change is saved, its announcement is not (the answer carries what was saved)
//	lists.bad_period           400  a period neither YYYY-MM nor YYYY-Qn, or one the category's round does not take
//	shop.out_of_stock          409  the goods are sold out or off sale
//	shop.not_enough_points     409  the household's balance does not cover the redemption (it never goes below zero)
//	poster.no_font             503  the service has no font to draw the poster picture (lists.chats.font)
//	roster.bad_file            400  not an .xlsx or CSV (UTF-8 or GBK), or row 1 lacks the 户主, 户号 or 姓名 column
//	roster.stale               409  the roster changed since the import's preview: preview the file again
//	alert.invalid              400  an alert channel, rule or quiet hours the alerting refuses
//	alert.send_failed          502  a test message the channel did not take (the platform's answer in the message)
//	service.unhealthy          503  /healthz: the store cannot write or the MQTT connection is down
//	job.invalid                400  a bulk plan change without boxes, with unknown or retired ones, or without one change
//	job.busy                   503  too many bulk plan changes waiting; try again when one has ended
//	internal                   500  anything else; the log has it
//	claim.invalid              400  a claim code request refused as written: a village, a sheet, a lifetime, a malformed enrollment
//	claim.in_service           409  the village's box has been seen by the township already: it needs no claim code
//	claim.open                 409  the village already has an open claim code: revoke it first
//	claim.not_open             409  revoking a claim code that was used, has expired or was revoked
//	claim.unknown              404  enrollment: no claim code is this one
//	claim.used                 410  enrollment: the claim code was used already
//	claim.expired              410  enrollment: the claim code has expired
//	claim.revoked              410  enrollment: the claim code was revoked
//	claim.wrong_village        403  enrollment: the box named another village than the code's
//	claim.stale                409  enrollment: the township's broker, media address or key changed since the code was made
//	claim.slow_down            429  enrollment: too many refused codes from this address; Retry-After says when to try again
//	release.invalid            400  a release version, notes or binary the township refuses (not a program for its architecture)
//	release.too_large          413  a binary over the release size limit
//	release.busy               503  too many releases being uploaded at once (Retry-After says when to try again)
//	rollout.invalid            400  no such release, boxes or waves for a rollout
//	rollout.state              409  the rollout cannot do that in its state (resume a cancelled one)
//	scope.outside              403  a bulk action, new box or user names villages, users or a township outside the user's township; nothing was done
//	scope.county_only          403  only a county user may: townships, moving a box between them, county users, the county's settings
//	township.invalid           400  a bad township id or name, or no such township
//
// # Routes
//
// The service and its boxes. A box's secret is shown once, in the
// edge_config of the answer that made it (registering, rotating): the
// store keeps only its sha256.
//
//	GET  /healthz                           no token: {"ok": true}, or 503 service.unhealthy naming
//	                                        the store (cannot write, disk full) or the broker (not connected)
//	POST /api/v1/login                      {username, password} → {token, expires_at}; 401 for any wrong name or
//	                                        password; 429 with Retry-After while locked out (cloud/auth's limits,
//	                                        counted by the address a trusted proxy names: http.trusted_proxies)
//	POST /api/v1/logout                     every role: ends the token's session
//	GET  /api/v1/boxes                      every box in service; ?all=true adds the retired ones. Any of place=
//	                                        (a prefix), online=, problems=true, q= (id or name), sort=id|name|
//	                                        last_seen|problems (-sort descending), limit= (50, at most 500),
//	                                        cursor= or offset= asks for a page instead: {boxes (each with its
//	                                        problems), total, offset, next_cursor}, from a view of the fleet a
//	                                        few seconds old (cloud/board) that a change to a box renews
//	POST /api/v1/boxes                      admin: {id, name, place?, township?} → 201 {box, edge_config}; township
//	                                        is the unit ("" = the county's own; a township admin's own if left out)
//	GET  /api/v1/boxes/{id}                 one box, retired or not
//	PUT  /api/v1/boxes/{id}                 admin: {name?, place?} → the box
//	POST /api/v1/boxes/{id}/rotate          admin: a new MQTT secret → {box, edge_config}; the old secret is refused
//	                                        at once and the box's live session ended (embedded broker)
//	POST /api/v1/boxes/{id}/retire          admin: credentials removed, session ended, history kept → the box;
//	                                        409 box.retired for its commands and plan changes from then on
//	GET  /api/v1/boxes/{id}/events          ?after=POS&limit=N (100, at most 1000) → {events, next_after}; POS is a next_after
//	POST /api/v1/boxes/{id}/commands        admin, operator: {type, args} → the box's result as it is
//	                                        (ok false when it refused); 504 without one
//
// Users (admin only; see users.go) and the audit trail (see audit.go):
//
//	GET  /api/v1/users                      every account in scope [{name, role, created_at, disabled, township}], no hashes
//	POST /api/v1/users                      {name, password, role, township?} → 201; 409 if the name is taken; a
//	                                        township admin's users are of their township
//	PUT  /api/v1/users/{name}               {role?, password?, disabled?, township?}; ends that user's sessions;
//	                                        400 for an admin demoting, disabling or moving themself, or the last
//	                                        county admin
//
// Townships (see townships.go): read by everyone (a township's user, their
// own), made and renamed by a county admin only:
//
//	GET  /api/v1/townships                  [{id, name, created_at}] in scope
//	POST /api/v1/townships                  county admin: {id ("t-dongshan"), name (东山镇)} → 201
//	GET  /api/v1/townships/{tid}            one township
//	PUT  /api/v1/townships/{tid}            county admin: {name} → the township
//	PUT  /api/v1/boxes/{id}/township        county admin: {township} ("" = the county's own) → the box
//	GET  /api/v1/audit/recent               admin, reviewer: ?limit=N (100, at most 1000) → {records}, newest first
//	GET  /api/v1/audit                      admin, reviewer: ?village=&entry=&after=SEQ&limit=N → {records, next_after},
//	                                        oldest first
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
// the box would, and only then saved, signed and published (400
// plan.invalid and nothing changed when it is not valid); the answer is
// the plan with desired_rev.
//
//	GET    /api/v1/boxes/{id}/broadcast          the plan: quiet, tz, chime, speakers, zones, schedules
//	PUT    /api/v1/boxes/{id}/broadcast          replace the whole plan (no media: they are compiled)
//	PUT    /api/v1/boxes/{id}/speakers/{sid}     add or replace a protocol.Speaker
//	DELETE /api/v1/boxes/{id}/speakers/{sid}     409 plan.in_use while a zone uses it
//	PUT    /api/v1/boxes/{id}/zones/{zid}        add or replace a protocol.Zone
//	DELETE /api/v1/boxes/{id}/zones/{zid}        409 plan.in_use while a schedule uses it
//	PUT    /api/v1/boxes/{id}/schedules/{schid}  add or replace a protocol.Schedule
//	DELETE /api/v1/boxes/{id}/schedules/{schid}
//	POST   /api/v1/boxes/{id}/speakers/{sid}/test    admin, operator: a short chime on that speaker alone, through the
//	                                             box's arbiter at paging priority → {result: protocol.TestToneResult}
//	                                             once it has played; 502 speaker.silent, 409 speaker.not_on_box or
//	                                             409 speaker.busy with the result when it did not
//	GET    /api/v1/boxes/{id}/upcoming           ?days=N (7, at most 31) → {from, to, items, truncated}; quiet-hour items flagged
//	POST   /api/v1/media                         admin, operator: upload a WAV or MP3: raw body with ?name=, or
//	                                             multipart field "file"; up to media.max_bytes → 201 with the clip's record
//	GET    /api/v1/media                         every clip, newest first
//	GET    /api/v1/media/{sha}                   download (Range works)
//	POST   /api/v1/media/speech                  admin, operator: {name, text} spoken by the TTS engine → 201 with the clip
//	POST   /api/v1/boxes/{id}/play               admin, operator: protocol.PlayArgs; the clips are granted to the box;
//	                                             → the box's result as it is (ok false when it refused)
//	POST   /api/v1/boxes/{id}/stop               admin, operator: protocol.StopArgs → the box's result
//	POST   /api/v1/boxes/{id}/volume             admin, operator: protocol.VolumeArgs → the box's result
//
// A plan change pushed to many boxes (jobs.go, cloud/bulk; reads: every
// role; changes: admin, operator): one schedule added (or replacing the
// one of its id), or one taken out, on every box in service of a place
// (a prefix) or on the boxes listed, each box getting its own signed
// desired state. The job runs after the answer; the boxes are written in
// batches and each is reported done only once its plan and desired state
// are stored. Jobs are kept in memory, the latest 50: a restart forgets
// them, and a box not reported done did not get the change (send the job
// again; it changes nothing twice).
//
//	POST   /api/v1/plan-jobs                     {place | boxes, schedule | delete_schedule, announcement? {name, text}
//	                                             spoken into the schedule's clip} → 202 the job, Location its URL
//	GET    /api/v1/plan-jobs                     {jobs}: the jobs kept, newest first, without their boxes
//	GET    /api/v1/plan-jobs/{job}               {id, by, change, place, state (queued, running, done), total, queued,
//	                                             done, failed, boxes [{id, state, rev, error}]}
//
// Cameras (reads and viewing: every role; changes: admin, operator). A
// camera's password is write-only: it reads back as SecretMask, and the
// mask or no password written back keeps the stored one, so what was read
// can be written back; a camera without a user name has no password.
//
//	GET    /api/v1/boxes/{id}/cameras            the box's cameras, ICE servers and viewer limits
//	PUT    /api/v1/boxes/{id}/cameras            replace the whole protocol.Cameras section
//	PUT    /api/v1/boxes/{id}/cameras/{cid}      add or replace a protocol.Camera
//	DELETE /api/v1/boxes/{id}/cameras/{cid}
//	POST   /api/v1/boxes/{id}/cameras/{cid}/probe    admin, operator: the box opens the camera (DESCRIBE, within 8 s):
//	                                             the body's protocol.Camera, not saved yet (password as for PUT), or
//	                                             without a body the saved one → {result: protocol.ProbeResult} with the
//	                                             codecs; 502 camera.unreachable, camera.unauthorized or camera.no_video
//	                                             with the result when it cannot
//	POST   /api/v1/boxes/{id}/cameras/{cid}/whep WHEP: an SDP offer (application/sdp) → 201 with the box's answer and
//	                                             Location …/whep/{session}; signalled to the box over MQTT;
//	                                             409 box.refused when the box will not (viewer limits, budget);
//	                                             ?stream=sub for a grid tile; X-Camera-Stream, -Codec, -Frames, -Note,
//	                                             -Audio and -FPS say what the viewer gets and why; 422 camera.bframes or
//	                                             camera.codec when the browser cannot be shown the camera at all
//	DELETE /api/v1/boxes/{id}/cameras/{cid}/whep/{session}  end the viewing
//	POST   /api/v1/boxes/{id}/cameras/discover   admin, operator: the box probes its LAN for ONVIF cameras (WS-Discovery)
//	POST   /api/v1/boxes/{id}/cameras/onvif      admin, operator: the box reads a camera's ONVIF profiles and stream URIs
//	POST   /api/v1/boxes/{id}/cameras/{cid}/ptz  admin, operator: turn, zoom, stop, go to a preset (protocol.PTZArgs)
//	GET    /api/v1/boxes/{id}/cameras/{cid}/snapshot  a still the box takes from the camera (image/jpeg)
//
// Every command (…/commands, …/play, …/stop, …/volume, WHEP and paging)
// that reached the box after its lifetime is refused by the box as expired:
// 504 box.expired; nothing was done, and it may be sent again.
//
// Live paging (喊话; admin, operator):
//
//	POST   /api/v1/boxes/{id}/paging             signalled as WHIP: an SDP offer with a microphone track, ?zones=a,b
//	                                             (none: every zone) → 201 with the box's answer, X-Paging-Codec
//	                                             (PCMA or PCMU) and Location …/paging/{session}
//	DELETE /api/v1/boxes/{id}/paging/{session}   hang up
//
// The red and black lists (红黑榜; lists.go) and the roster they name
// (roster.go: households, persons, the import). Phone numbers and the
// last four ID digits come masked ("138****5678", "****") unless
// ?reveal=true, which admins and operators alone may ask (403 otherwise).
// Every route needs a token and
// its action in auth's table: reads are open to every role; admin and
// operator keep the registers, write entries, publish and announce; admin
// and reviewer approve, reject and revoke; cloud/lists adds its finer
// rule: nobody approves what they wrote or edited (403 lists.forbidden). A failed announcement after a publish or
// revoke answers 502 lists.announcement_failed with what was saved; the
// change stands and the next publish, revoke or announce retries.
//
//	GET    /api/v1/villages/{box}/households                 ?q=&reveal= with members (q: 户号, 户主, group or a member)
//	POST   /api/v1/villages/{box}/households                 {id, head, group?} → 201
//	GET    /api/v1/villages/{box}/households/{hid}           ?reveal=
//	PUT    /api/v1/villages/{box}/households/{hid}           {head?, group?}
//	GET    /api/v1/villages/{box}/households/{hid}/points    {household, head, entries, total}
//	GET    /api/v1/villages/{box}/persons                    ?q=&reveal= (q: name, id, 户号; phone digits with reveal)
//	POST   /api/v1/villages/{box}/persons                    {id?, name, household, phone?, id_last4?} → 201; no id:
//	                                                         "<household>-<n>"
//	GET    /api/v1/villages/{box}/persons/{pid}              ?reveal=
//	PUT    /api/v1/villages/{box}/persons/{pid}              {name?, household? (a move), phone?, id_last4?,
//	                                                         status? active|deceased|moved_away}
//	GET    /api/v1/villages/{box}/roster/template.xlsx       the import's template (户主, 户号, 姓名, 身份证后四位,
//	                                                         所属村民小组, 联系电话) and how to fill it in
//	POST   /api/v1/villages/{box}/roster/preview             an .xlsx or .csv (UTF-8 or GBK) as the raw body with
//	                                                         ?name=, or the multipart field "file", up to 8 MiB →
//	                                                         lists.ImportPlan: what would be added, changed, and
//	                                                         each refused row with its reason; writes nothing
//	POST   /api/v1/villages/{box}/roster/import              ?digest= of the preview, the same file → the plan as
//	                                                         written: every row not refused, in one transaction
//	                                                         with one audit record; 409 roster.stale if the
//	                                                         roster changed since (preview again)
//	GET    /api/v1/villages/{box}/categories                 the defaults until put
//	PUT    /api/v1/villages/{box}/categories                 {categories: [{name, red, black}]}
//	POST   /api/v1/villages/{box}/entries                    lists.EntryInput → 201 draft
//	GET    /api/v1/entries                                   ?village=&period=&status=&kind=
//	GET    /api/v1/entries/{eid}
//	GET    /api/v1/entries/{eid}/history                     admin, reviewer, operator: the entry's audit records,
//	                                                         ?after=&limit= (100, at most 1000) → {records, next_after}
//	PUT    /api/v1/entries/{eid}                             lists.EntryInput + optional revision; back to draft
//	POST   /api/v1/entries/{eid}/submit                      draft → in_review
//	POST   /api/v1/entries/{eid}/approve                     {note?}
//	POST   /api/v1/entries/{eid}/reject                      {reason} → draft
//	POST   /api/v1/entries/{eid}/revoke                      {note} (整改) published black → revoked; re-announced
//	GET    /api/v1/villages/{box}/lists/{period}             published list: red, black rows and the text
//	POST   /api/v1/villages/{box}/lists/{period}/publish     approved → published; announced
//	POST   /api/v1/villages/{box}/lists/{period}/announce    announce again (retry)
//	GET    /api/v1/villages/{box}/lists/{period}/poster      ?size=A4|A3: the printable poster (HTML, its own CSP)
//	GET    /api/v1/villages/{box}/leaderboard                ?period= (all periods when absent; a quarter counts its months)
//
// Periods are months "YYYY-MM" or quarters "YYYY-Qn", as the township's
// rounds (lists.rounds) give each category; any other is 400
// lists.bad_period. With public notice (lists.notice_days) publish puts the
// approved entries on notice (公示) and answers notice_ends; the service
// publishes and announces them when it ends. Objections and flags put an
// entry on hold (objections: admin, reviewer, operator, supervisor read
// them; admin and operator take one at the office; admin and supervisor
// flag; admin and reviewer uphold or dismiss):
//
//	GET    /api/v1/holds                                     ?village=&entry=&status=open|upheld|dismissed|closed
//	GET    /api/v1/holds/{oid}
//	POST   /api/v1/entries/{eid}/objections                  {name, contact, reason} → 201; the entry must be on notice
//	POST   /api/v1/entries/{eid}/flag                        {note} → 201; in review, approved or on notice
//	POST   /api/v1/holds/{oid}/uphold                        {reason}: the entry is withdrawn
//	POST   /api/v1/holds/{oid}/dismiss                       {reason}: with no hold left the entry goes on
//
// The points shop (积分超市; reads: every role; changes: admin, operator).
// A redemption's key is the page's, once per redemption: the same key again
// answers 200 with replayed and what was done, changing nothing.
//
//	GET    /api/v1/villages/{box}/goods
//	POST   /api/v1/villages/{box}/goods                      {id, name, price, stock, on_sale} → 201
//	PUT    /api/v1/villages/{box}/goods/{gid}                {name, price, stock, on_sale}
//	GET    /api/v1/villages/{box}/redemptions                ?household=
//	POST   /api/v1/villages/{box}/redemptions                {household, goods, quantity, key} → 201 with receipt, balance
//	POST   /api/v1/redemptions/{rid}/cancel                  {reason}: points and stock back
//	GET    /api/v1/villages/{box}/households/{hid}/account   {balance, earned, spent, lines}
//	GET    /api/v1/villages/{box}/households/{hid}/statement ?month=YYYY-MM: {opening, lines, closing}
//
// Villagers' links, exports and group chats (admin, operator):
//
//	GET    /api/v1/villages/{box}/households/{hid}/links     the links' dates, never their tokens
//	POST   /api/v1/villages/{box}/households/{hid}/links     → 201 {token, path}: shown once; older links stop working
//	DELETE /api/v1/villages/{box}/households/{hid}/links     revokes them
//	GET    /api/v1/villages/{box}/households/{hid}/export    everything held about the household, as JSON
//	GET    /api/v1/villages/{box}/chats                      {chats: [{id, kind, url, secret}]}; secrets read as ******
//	PUT    /api/v1/villages/{box}/chats                      the same; ****** keeps a stored secret
//	GET    /api/v1/villages/{box}/deliveries                 every role: the latest posts to the chats, with their outcome
//	GET    /api/v1/villages/{box}/lists/{period}/poster.png  every role: ?size=A4|phone, the poster as a picture
//	GET    /p/{img}                                          no token: a picture posted to a chat, by its random name
//
// Reports as .xlsx workbooks with Chinese headers (exports.go, made by
// cloud/report), each an attachment named in Chinese (Content-Disposition
// filename*=UTF-8”…); days are YYYY-MM-DD in China Standard Time, both
// included, at most 366 of them:
//
//	GET    /api/v1/villages/{box}/export/lists.xlsx          ?period=YYYY-MM: the month's entries, every status (红黑榜)
//	                                                         and their review trail (审核记录)
//	GET    /api/v1/villages/{box}/export/points.xlsx         ?period= (all periods when absent): the leaderboard (积分榜)
//	                                                         and every household's ledger (积分明细)
//	GET    /api/v1/boxes/{id}/export/playlog.xlsx            ?from=&to=: every playback with its result (播放记录)
//	GET    /api/v1/boxes/{id}/export/viewings.xlsx           ?from=&to=: who watched which camera when (视频查看记录)
//
// Alerts (alerts.go; reads: every role; changes and tests: admin). The
// channels, rules and quiet hours are kept in the store; a channel's URL
// reads back without its query (the robots' keys and access tokens) and
// its secret only as secret_set, and leaving either out of a PUT keeps
// the stored one. The audit record of a channel change holds what the API
// shows, never the key or secret.
//
//	GET    /api/v1/alerts                        ?box=&before=SEQ&limit=N (100, at most 1000) → {alerts, next_before}:
//	                                             the alert log, newest first, each with every channel's delivery
//	                                             (pending, held for quiet hours, sent, failed, dropped)
//	GET    /api/v1/alerts/incidents              {incidents}: open ones and those waiting out their hold-down
//	GET    /api/v1/alerts/settings               {channels, rules, quiet}: every kind of rule, with its default when never set
//	PUT    /api/v1/alerts/channels/{cid}         {name, kind, url?, secret?, phones?, disabled} → the settings
//	DELETE /api/v1/alerts/channels/{cid}         also taken out of every rule
//	POST   /api/v1/alerts/channels/{cid}/test    a test message now, once → {alert}; 502 alert.send_failed (with
//	                                             the alert) when the channel did not take it; logged either way
//	PUT    /api/v1/alerts/rules/{kind}           {enabled, hold_down ("10m"; none for the one-off kinds), threshold,
//	                                             urgent, channels ([] every channel)}
//	PUT    /api/v1/alerts/quiet                  {from, to, zone}: non-urgent alerts wait until to
//	DELETE /api/v1/alerts/quiet
//
// Remote diagnostics (diag.go): signed commands the box answers within
// 48 KiB; POSTs, so the audit trail records who read or restarted what.
// 409 box.refused when the box will not (one from before diagnostics
// answers that it has no such command).
//
//	POST   /api/v1/boxes/{id}/diag/logs          admin, operator: {lines? (200, at most 2000), level?} →
//	                                             protocol.DiagLogs: the latest lines of the box's own log
//	POST   /api/v1/boxes/{id}/diag/config        admin, operator: → protocol.DiagConfig: its effective config,
//	                                             every secret replaced, the keys replaced named
//	POST   /api/v1/boxes/{id}/diag/check         admin, operator: → protocol.DiagCheck: broker, township, each
//	                                             camera (RTSP DESCRIBE), each horn (see edge/diag)
//	POST   /api/v1/boxes/{id}/restart            admin: {reason?} → {restarting: true}, answered before the
//	                                             daemon stops; its service manager starts it again
//
// Claim codes (claims.go; cloud/enroll and protocol/claim say how they
// work): made by those who register boxes, shown once; a box enrolls with
// one without a token. Each change is in the audit trail, never a code.
//
//	GET    /api/v1/claims                        admin: {claims}: every claim code's village, status (open, used,
//	                                             expired, revoked), times and who; never the code
//	POST   /api/v1/claims                        admin: {villages: [{id, name?, place?}], ttl_hours? (168)} → 201
//	                                             {claims: [{id, code, village, name, place, expires_at}], township_url}
//	POST   /api/v1/claims/sheet                  admin: a CSV (UTF-8 or GBK) or .xlsx of id,name[,place] rows, raw or
//	                                             multipart "file", ?ttl_hours= → 201 as above, all or none
//	POST   /api/v1/claims/{cid}/revoke           admin: an open claim code withdrawn → the claim
//	POST   /api/v1/enroll                        anyone: protocol/claim's request → its sealed answer; refusals by
//	                                             claim.* code, counted per address like sign-in
//
// Software updates (updates.go; reads: admin, operator; changes: admin).
// A release is one dalaba-edge binary per architecture, each with a
// manifest the township signs; a rollout sends one to boxes in waves and
// pauses itself when more than max_failures boxes fail (firmware-notes/updates.md).
//
//	POST   /api/v1/releases                      multipart: version, notes, then files amd64, arm64, armhf (any of
//	                                             them), streamed to disk → the release; 409 exists for a taken version
//	GET    /api/v1/releases                      every release, newest first
//	POST   /api/v1/rollouts                      {version, boxes? (none: every box in service), percent?, waves?
//	                                             ([10,50,100]), max_failures?} → the rollout
//	GET    /api/v1/rollouts                      every rollout with its progress, newest first
//	GET    /api/v1/rollouts/{id}                 the rollout: state, wave, progress, each box's state and why it failed
//	POST   /api/v1/rollouts/{id}/pause           → the rollout; 409 rollout.state when it is not running
//	POST   /api/v1/rollouts/{id}/resume          → the rollout; the failures so far are accepted
//	POST   /api/v1/rollouts/{id}/cancel          → the rollout
//
// Boxes download clips from /media/<sha256>, served by cloud/media, and
// release binaries from /releases/<sha256>, served by cloud/release.
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
