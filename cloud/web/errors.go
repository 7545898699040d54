package web

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/dalaba/dalaba/cloud/alert"
	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/board"
	"github.com/dalaba/dalaba/cloud/bulk"
	"github.com/dalaba/dalaba/cloud/downlink"
	"github.com/dalaba/dalaba/cloud/enroll"
	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/media"
	"github.com/dalaba/dalaba/cloud/plan"
	"github.com/dalaba/dalaba/cloud/poster"
	"github.com/dalaba/dalaba/cloud/release"
	"github.com/dalaba/dalaba/cloud/report"
	"github.com/dalaba/dalaba/cloud/rollout"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/tts"
)

// Code names an error answer for programs: the console picks the sentence
// it shows an official by it, never by the English message. Codes are
// part of the API: one is never renamed or given another meaning, only
// added (doc.go lists them).
type Code string

// The codes, by what went wrong.
const (
	// The request itself.
	CodeBadJSON            Code = "request.bad_json"          // the body is not the one JSON object the route takes
	CodeTooLarge           Code = "request.too_large"         // a body or SDP offer over its limit
	CodeBadRequest         Code = "request.invalid"           // a path, query or body value the route refuses
	CodeUnsupportedType    Code = "request.unsupported_type"  // an SDP offer not sent as application/sdp
	CodeNoRoute            Code = "route.not_found"           // no route has this path
	CodeMethodNotAllowed   Code = "route.method_not_allowed"  // the path exists under other methods (Allow says which)
	CodeNoToken            Code = "auth.token_missing"        // no bearer token
	CodeBadToken           Code = "auth.token_invalid"        // a token or session that ended, or never was
	CodeBadCredentials     Code = "auth.bad_credentials"      // a wrong user name or password
	CodeRateLimited        Code = "auth.rate_limited"         // too many failed sign-ins (Retry-After says when to try again)
	CodeForbidden          Code = "auth.forbidden"            // the user's role may not do this
	CodeCSRF               Code = "auth.csrf"                 // the console's bridge: a change without the page's CSRF token
	CodeUserInvalid        Code = "user.invalid"              // a bad user name, password or role; the last admin or oneself
	CodeNotFound           Code = "not_found"                 // what the path names does not exist
	CodeExists             Code = "exists"                    // an id or name already taken
	CodeBoxInvalid         Code = "box.invalid"               // a bad box id or name
	CodeBoxRetired         Code = "box.retired"               // the box was retired: no commands, plans or new credentials
	CodePlanInvalid        Code = "plan.invalid"              // the broadcast plan or cameras would not be a valid desired state
	CodePlanInUse          Code = "plan.in_use"               // a speaker or zone still used by a zone or schedule
	CodeMediaInvalid       Code = "media.invalid"             // not a WAV or MP3 the boxes can play, or a bad clip name
	CodeMediaTooLarge      Code = "media.too_large"           // a clip over media.max_bytes
	CodeMediaUnknown       Code = "media.unknown"             // play names a clip never uploaded
	CodeMediaBusy          Code = "media.busy"                // too many clips being stored at once (Retry-After says when to try again)
	CodeCommandInvalid     Code = "command.invalid"           // a command's type or arguments
	CodeNoBroker           Code = "broker.not_connected"      // the service has no connection to its MQTT broker
	CodeNoAnswer           Code = "box.no_answer"             // the box did not answer in time (offline?)
	CodeExpired            Code = "box.expired"               // the command reached the box after its lifetime; nothing was done
	CodeBoxRefused         Code = "box.refused"               // the box answered that it will not (its reason in the message)
	CodeBadAnswer          Code = "box.bad_answer"            // the box answered with nothing usable
	CodeNoCamera           Code = "camera.not_found"          // the box has no such camera
	CodeCameraUnreachable  Code = "camera.unreachable"        // the box could not open the camera: no answer, a wrong address or path
	CodeCameraUnauthorized Code = "camera.unauthorized"       // the camera refused the user name and password the box gave it
	CodeCameraNoVideo      Code = "camera.no_video"           // the camera offers no H.264 or H.265 video the box can relay
	CodeSpeakerSilent      Code = "speaker.silent"            // the horn did not play the test tone
	CodeSpeakerNotOnBox    Code = "speaker.not_on_box"        // the box does not have the speaker yet (its settings are on their way)
	CodeSpeakerBusy        Code = "speaker.busy"              // an emergency or a live page held the horn until it was too late
	CodeCameraBFrames      Code = "camera.bframes"            // the camera's B-frames cannot be shown in a browser
	CodeCameraCodec        Code = "camera.codec"              // no stream of the camera is in a codec the browser plays
	CodeNoZones            Code = "paging.no_zones"           // paging a box that has no zones
	CodeNoZone             Code = "zone.not_found"            // paging a zone the box does not have
	CodeTextInvalid        Code = "speech.bad_text"           // text the TTS cannot read: empty, too long, no words
	CodeSpeechFailed       Code = "speech.failed"             // the TTS engine failed
	CodePosterInvalid      Code = "poster.invalid"            // a poster that cannot be made (a bad size)
	CodeListsInvalid       Code = "lists.invalid"             // a 红黑榜 field, period or reference
	CodeListsForbidden     Code = "lists.forbidden"           // the role, or this user for this entry (their own), may not
	CodeListsConflict      Code = "lists.conflict"            // the entry or list is not in a state that allows it
	CodeAnnounceFailed     Code = "lists.announcement_failed" // the change is saved, its announcement is not
	CodeBadPeriod          Code = "lists.bad_period"          // a period that is neither YYYY-MM nor YYYY-Qn, or not the category's round
	CodeOutOfStock         Code = "shop.out_of_stock"         // the goods are sold out or off sale
	CodeNotEnoughPoints    Code = "shop.not_enough_points"    // the household's balance does not cover the redemption
	CodeNoFont             Code = "poster.no_font"            // the service has no font to draw the poster picture
	CodeRosterBadFile      Code = "roster.bad_file"           // not a workbook or CSV, or no 户主, 户号 and 姓名 columns in row 1
	CodeRosterStale        Code = "roster.stale"              // the roster changed since the preview: preview again
	CodeAlertInvalid       Code = "alert.invalid"             // an alert channel, rule or quiet hours the alerting refuses
	CodeSendFailed         Code = "alert.send_failed"         // a test message the channel did not take (the platform's answer in the message)
	CodeUnhealthy          Code = "service.unhealthy"         // /healthz: the store cannot write or the broker is gone
	CodeInternal           Code = "internal"                  // anything else; the log has it

	CodeClaimInvalid      Code = "claim.invalid"       // a claim code request refused as written: a village, a sheet, a lifetime, a malformed enrollment
	CodeClaimInService    Code = "claim.in_service"    // the village's box has been seen by the township already: it needs no claim code
	CodeClaimOpen         Code = "claim.open"          // the village already has an open claim code: revoke it first
	CodeClaimNotOpen      Code = "claim.not_open"      // revoking a claim code that was used, has expired or was revoked
	CodeClaimUnknown      Code = "claim.unknown"       // enrollment: no claim code is this one
	CodeClaimUsed         Code = "claim.used"          // enrollment: the claim code was used already
	CodeClaimExpired      Code = "claim.expired"       // enrollment: the claim code has expired
	CodeClaimRevoked      Code = "claim.revoked"       // enrollment: the claim code was revoked
	CodeClaimWrongVillage Code = "claim.wrong_village" // enrollment: the box named another village than the code's
	CodeClaimStale        Code = "claim.stale"         // enrollment: the township's broker, media address or key changed since the code was made
	CodeClaimSlowDown     Code = "claim.slow_down"     // enrollment: too many refused codes from this address; Retry-After says when to try again
	CodeReleaseInvalid    Code = "release.invalid"     // a release version, notes or binary the township refuses
	CodeReleaseTooLarge   Code = "release.too_large"   // a binary over the release size limit
	CodeReleaseBusy       Code = "release.busy"        // too many releases being uploaded at once (Retry-After says when to try again)
	CodeRolloutInvalid    Code = "rollout.invalid"     // no such release, boxes or waves for a rollout
	CodeRolloutState      Code = "rollout.state"       // the rollout cannot do that in its state (resume a cancelled one)
	CodeJobInvalid        Code = "job.invalid"         // a bulk plan change that cannot run as asked (no boxes, unknown boxes, no change)
	CodeJobsBusy          Code = "job.busy"            // too many bulk plan changes waiting: try again when one has ended
	CodeOutOfScope        Code = "scope.outside"       // a bulk action, new box or user names villages, users or a township outside the user's township; nothing was done
	CodeCountyOnly        Code = "scope.county_only"   // only a county user may: townships, moving a box between them, county users, the county's settings
	CodeTownshipInvalid   Code = "township.invalid"    // a bad township id or name, or no such township
)

// codeSpec is a code's row of the table.
type codeSpec struct {
	status int
	// summary says in English what went wrong. It leads the message of an
	// error found by its sentinel, followed by the error's own details
	// unless the status is 500, 503 or 504 (nothing a client can mend).
	summary string
}

// codes is the table of every code: its HTTP status and summary.
func codes() map[Code]codeSpec {
	return map[Code]codeSpec{
		CodeBadJSON:            {http.StatusBadRequest, "bad JSON"},
		CodeTooLarge:           {http.StatusRequestEntityTooLarge, "too large"},
		CodeBadRequest:         {http.StatusBadRequest, "bad request"},
		CodeUnsupportedType:    {http.StatusUnsupportedMediaType, "unsupported content type"},
		CodeNoRoute:            {http.StatusNotFound, "no such route"},
		CodeMethodNotAllowed:   {http.StatusMethodNotAllowed, "method not allowed"},
		CodeNoToken:            {http.StatusUnauthorized, "missing bearer token"},
		CodeBadToken:           {http.StatusUnauthorized, "invalid or expired token"},
		CodeBadCredentials:     {http.StatusUnauthorized, "wrong user name or password"},
		CodeRateLimited:        {http.StatusTooManyRequests, "too many failed logins"},
		CodeForbidden:          {http.StatusForbidden, "not allowed for this role"},
		CodeCSRF:               {http.StatusForbidden, "missing or wrong CSRF token"},
		CodeUserInvalid:        {http.StatusBadRequest, "user change refused"},
		CodeNotFound:           {http.StatusNotFound, "not found"},
		CodeExists:             {http.StatusConflict, "already exists"},
		CodeBoxInvalid:         {http.StatusBadRequest, "bad box"},
		CodeBoxRetired:         {http.StatusConflict, "the box is retired"},
		CodePlanInvalid:        {http.StatusBadRequest, "the plan is not valid"},
		CodePlanInUse:          {http.StatusConflict, "in use"},
		CodeMediaInvalid:       {http.StatusBadRequest, "not a usable clip"},
		CodeMediaTooLarge:      {http.StatusRequestEntityTooLarge, "clip too large"},
		CodeMediaUnknown:       {http.StatusBadRequest, "unknown clip"},
		CodeMediaBusy:          {http.StatusServiceUnavailable, "too many clips are being stored at once"},
		CodeCommandInvalid:     {http.StatusBadRequest, "bad command"},
		CodeNoBroker:           {http.StatusServiceUnavailable, "the township service is not connected to its MQTT broker"},
		CodeNoAnswer:           {http.StatusGatewayTimeout, "the box did not answer in time"},
		CodeExpired:            {http.StatusGatewayTimeout, "the command reached the box after its lifetime (a slow link or a wrong clock on the box); nothing was done, and it may be sent again"},
		CodeBoxRefused:         {http.StatusConflict, "the box refused"},
		CodeBadAnswer:          {http.StatusBadGateway, "the box gave no usable answer"},
		CodeNoCamera:           {http.StatusNotFound, "no such camera"},
		CodeCameraUnreachable:  {http.StatusBadGateway, "the box could not open the camera"},
		CodeCameraUnauthorized: {http.StatusBadGateway, "the camera refused the credentials"},
		CodeCameraNoVideo:      {http.StatusBadGateway, "the camera offers no H.264 or H.265 video"},
		CodeSpeakerSilent:      {http.StatusBadGateway, "the speaker did not play the test tone"},
		CodeSpeakerNotOnBox:    {http.StatusConflict, "the box does not have this speaker yet"},
		CodeSpeakerBusy:        {http.StatusConflict, "the speaker was busy with an emergency or a live page"},
		CodeCameraBFrames:      {http.StatusUnprocessableEntity, "the camera cannot be shown in a browser"},
		CodeCameraCodec:        {http.StatusUnprocessableEntity, "the camera cannot be shown in a browser"},
		CodeNoZones:            {http.StatusConflict, "no zones to page"},
		CodeNoZone:             {http.StatusNotFound, "no such zone"},
		CodeTextInvalid:        {http.StatusBadRequest, "text cannot be spoken"},
		CodeSpeechFailed:       {http.StatusBadGateway, "the speech engine failed"},
		CodePosterInvalid:      {http.StatusBadRequest, "no poster"},
		CodeListsInvalid:       {http.StatusBadRequest, "not valid"},
		CodeListsForbidden:     {http.StatusForbidden, "not allowed"},
		CodeListsConflict:      {http.StatusConflict, "not now"},
		CodeAnnounceFailed:     {http.StatusBadGateway, "saved, but the announcement failed"},
		CodeBadPeriod:          {http.StatusBadRequest, "bad period"},
		CodeOutOfStock:         {http.StatusConflict, "out of stock"},
		CodeNotEnoughPoints:    {http.StatusConflict, "not enough points"},
		CodeNoFont:             {http.StatusServiceUnavailable, "no font to draw the poster"},
		CodeRosterBadFile:      {http.StatusBadRequest, "not a roster file"},
		CodeRosterStale:        {http.StatusConflict, "the roster changed since the preview"},
		CodeAlertInvalid:       {http.StatusBadRequest, "not a valid alert setting"},
		CodeSendFailed:         {http.StatusBadGateway, "the test message was not delivered"},
		CodeUnhealthy:          {http.StatusServiceUnavailable, "unhealthy"},
		CodeInternal:           {http.StatusInternalServerError, "internal error"},
		CodeClaimInvalid:       {http.StatusBadRequest, "not a valid claim code request"},
		CodeClaimInService:     {http.StatusConflict, "the box is in service already"},
		CodeClaimOpen:          {http.StatusConflict, "the village already has an open claim code"},
		CodeClaimNotOpen:       {http.StatusConflict, "the claim code is no longer open"},
		CodeClaimUnknown:       {http.StatusNotFound, "unknown claim code"},
		CodeClaimUsed:          {http.StatusGone, "the claim code was used already"},
		CodeClaimExpired:       {http.StatusGone, "the claim code has expired"},
		CodeClaimRevoked:       {http.StatusGone, "the claim code was revoked"},
		CodeClaimWrongVillage:  {http.StatusForbidden, "the claim code is for another village"},
		CodeClaimStale:         {http.StatusConflict, "the township's addresses changed since the claim code was made"},
		CodeClaimSlowDown:      {http.StatusTooManyRequests, "too many refused claim codes from this address"},
		CodeReleaseInvalid:     {http.StatusBadRequest, "not a valid release"},
		CodeReleaseTooLarge:    {http.StatusRequestEntityTooLarge, "release binary too large"},
		CodeReleaseBusy:        {http.StatusServiceUnavailable, "too many uploads at once"},
		CodeRolloutInvalid:     {http.StatusBadRequest, "not a valid rollout"},
		CodeRolloutState:       {http.StatusConflict, "not possible in the rollout's state"},
		CodeJobInvalid:         {http.StatusBadRequest, "the plan change cannot run as asked"},
		CodeJobsBusy:           {http.StatusServiceUnavailable, "too many plan changes are waiting"},
		CodeOutOfScope:         {http.StatusForbidden, "outside the user's township"},
		CodeCountyOnly:         {http.StatusForbidden, "for county users only"},
		CodeTownshipInvalid:    {http.StatusBadRequest, "not a valid township"},
	}
}

// Codes returns every code with its HTTP status.
func Codes() map[Code]int {
	out := map[Code]int{}
	for c, s := range codes() {
		out[c] = s.status
	}
	return out
}

// Status is the HTTP status a code is answered with; 500 for a code not
// in the table.
func (c Code) Status() int {
	if s, ok := codes()[c]; ok {
		return s.status
	}
	return http.StatusInternalServerError
}

// errSpeech wraps a failure of the TTS engine (not of the text).
var errSpeech = errors.New("web: speech")

// sentinel pairs a package's error with its code.
type sentinel struct {
	err  error
	code Code
}

// sentinels are the packages' errors in the order they are tried: an
// error that wraps several is answered by the first (an announcement that
// failed for want of a store record is an announcement failure).
func sentinels() []sentinel {
	return []sentinel{
		{lists.ErrAnnounce, CodeAnnounceFailed},
		{errSpeech, CodeSpeechFailed},
		{plan.ErrInvalid, CodePlanInvalid},
		{alert.ErrInvalid, CodeAlertInvalid},
		{errSendFailed, CodeSendFailed},
		{plan.ErrInUse, CodePlanInUse},
		{lists.ErrOutOfStock, CodeOutOfStock},
		{lists.ErrNotEnoughPoints, CodeNotEnoughPoints},
		{lists.ErrNoFont, CodeNoFont},
		{lists.ErrBadFile, CodeRosterBadFile},
		{lists.ErrStale, CodeRosterStale},
		{lists.ErrInvalid, CodeListsInvalid},
		{lists.ErrBadPeriod, CodeBadPeriod},
		{lists.ErrForbidden, CodeListsForbidden},
		{lists.ErrConflict, CodeListsConflict},
		{fleet.ErrInvalid, CodeBoxInvalid},
		{fleet.ErrRetired, CodeBoxRetired},
		{auth.ErrInvalid, CodeUserInvalid},
		{auth.ErrBadCredentials, CodeBadCredentials},
		{auth.ErrRateLimited, CodeRateLimited},
		{media.ErrInvalid, CodeMediaInvalid},
		{media.ErrTooLarge, CodeMediaTooLarge},
		{media.ErrBusy, CodeMediaBusy},
		{tts.ErrBadText, CodeTextInvalid},
		{tts.ErrNoSpeech, CodeSpeechFailed},
		{tts.ErrNotWAV, CodeSpeechFailed},
		{poster.ErrBadData, CodePosterInvalid},
		{downlink.ErrInvalidCommand, CodeCommandInvalid},
		{downlink.ErrNotConnected, CodeNoBroker},
		{downlink.ErrExpired, CodeExpired},
		{downlink.ErrNoResult, CodeNoAnswer},
		{context.DeadlineExceeded, CodeNoAnswer},
		{store.ErrBadFilter, CodeBadRequest},
		{report.ErrRange, CodeBadRequest},
		{errBadRequest, CodeBadRequest},
		{store.ErrNotFound, CodeNotFound},
		{store.ErrExists, CodeExists},
		{enroll.ErrInService, CodeClaimInService},
		{enroll.ErrOpen, CodeClaimOpen},
		{enroll.ErrNotOpen, CodeClaimNotOpen},
		{enroll.ErrUnknown, CodeClaimUnknown},
		{enroll.ErrUsed, CodeClaimUsed},
		{enroll.ErrExpired, CodeClaimExpired},
		{enroll.ErrRevoked, CodeClaimRevoked},
		{enroll.ErrWrongVillage, CodeClaimWrongVillage},
		{enroll.ErrStale, CodeClaimStale},
		{enroll.ErrSlowDown, CodeClaimSlowDown},
		{enroll.ErrInvalid, CodeClaimInvalid},
		{release.ErrInvalid, CodeReleaseInvalid},
		{release.ErrTooLarge, CodeReleaseTooLarge},
		{release.ErrBusy, CodeReleaseBusy},
		{rollout.ErrInvalid, CodeRolloutInvalid},
		{rollout.ErrState, CodeRolloutState},
		{board.ErrBadQuery, CodeBadRequest},
		{bulk.ErrInvalid, CodeJobInvalid},
		{bulk.ErrBusy, CodeJobsBusy},
		{errTownship, CodeTownshipInvalid},
		{errOutOfScope, CodeOutOfScope},
		{errCountyOnly, CodeCountyOnly},
	}
}

// ProblemOf is the answer the API gives for err: its code, found by the
// sentinel errors it wraps (CodeInternal when it wraps none), the message
// and the fields. The console explains the errors of the services it
// calls directly by the same codes and fields.
func ProblemOf(err error) Problem {
	code, sentinel := classify(err)
	return problemOf(code, sentinel, err)
}

func classify(err error) (Code, error) {
	for _, s := range sentinels() {
		if errors.Is(err, s.err) {
			return s.code, s.err
		}
	}
	return CodeInternal, nil
}

// Problem is an error answer: {"error", "code", "fields"}.
type Problem struct {
	// Error says in English what was wrong, for people using curl.
	Error string `json:"error"`
	Code  Code   `json:"code"`
	// Fields lists each problem of a refused input on its own, with the
	// place it names where it names one, so a form can point at it.
	Fields []Field `json:"fields,omitempty"`
}

// Field is one problem of a refused input.
type Field struct {
	// Path is where the problem is, as the input's JSON names it
	// ("broadcast.schedules[2].name", "reason"); "" when it names none.
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

// problemOf is the answer for err with code, found by sentinel: the
// code's summary, then, unless the status says there is nothing to mend,
// each problem err reports without the operations that led to it.
func problemOf(code Code, sentinel, err error) Problem {
	spec, ok := codes()[code]
	if !ok {
		code, spec = CodeInternal, codes()[CodeInternal]
	}
	p := Problem{Error: spec.summary, Code: code}
	switch spec.status {
	case http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return p
	}
	lines := problems(err, sentinel)
	if len(lines) > 0 {
		p.Error += ": " + strings.Join(lines, "; ")
	}
	p.Fields = fieldsOf(spec.status, lines)
	return p
}

// problems are err's problems, each without what comes before sentinel
// (nil: an error of the handler's own, kept whole).
func problems(err error, sentinel error) []string {
	var lines []string
	for _, l := range flatten(err) {
		if l = detail(l, sentinel); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// fieldsOf lists the problems of a refused input (400), each on its own.
func fieldsOf(status int, lines []string) []Field {
	if status != http.StatusBadRequest {
		return nil
	}
	fs := make([]Field, 0, len(lines))
	for _, l := range lines {
		fs = append(fs, Field{Path: pathOf(l), Message: l})
	}
	return fs
}

// flatten splits err into its problems: one per error of an errors.Join,
// wherever it sits, each prefixed with what the errors wrapping it say
// before it ("plan: update x: plan: invalid: " + "broadcast.zones[0]...").
func flatten(err error) []string {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		errs := u.Unwrap()
		texts := make([]string, len(errs))
		for i, e := range errs {
			texts[i] = e.Error()
		}
		if len(errs) > 0 && msg == strings.Join(texts, "\n") { // an errors.Join
			var out []string
			for _, e := range errs {
				out = append(out, flatten(e)...)
			}
			return out
		}
		if len(errs) > 0 { // fmt.Errorf("%w: %w", ...): the last one ends the message
			return within(msg, errs[len(errs)-1])
		}
	case interface{ Unwrap() error }:
		if inner := u.Unwrap(); inner != nil {
			return within(msg, inner)
		}
	}
	return []string{msg}
}

// within flattens inner, which ends msg, prefixing each of its problems
// with the rest of msg.
func within(msg string, inner error) []string {
	prefix, ok := strings.CutSuffix(msg, inner.Error())
	if !ok {
		return []string{msg}
	}
	lines := flatten(inner)
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return lines
}

// detail is what line says after sentinel (the chain of operations and
// package names before it dropped); when the sentinel ends the line, the
// part just before it, which names what it is about ("box \"x\"" of
// "boltstore: box \"x\": store: not found").
func detail(line string, sentinel error) string {
	if sentinel == nil {
		return line
	}
	s := sentinel.Error()
	i := strings.LastIndex(line, s)
	if i < 0 {
		return line
	}
	if rest := strings.TrimPrefix(line[i+len(s):], ": "); rest != "" {
		return rest
	}
	before := strings.TrimSuffix(line[:i], ": ")
	if j := strings.LastIndex(before, ": "); j >= 0 {
		before = before[j+2:]
	}
	return before
}

// pathRE finds the place a problem names at its start, as the protocol's
// and the lists' validators write it: a JSON path, perhaps an id in
// parentheses, perhaps more path after a dot or (for a part's own
// checks) after a colon, perhaps the value, then a colon:
// `broadcast.zones[0] (square).volume 200: want 1-100`,
// `broadcast.speakers[0] (horn): addr "x": want host:port`.
var pathRE = regexp.MustCompile(`^([a-z_][a-z0-9_]*(?:\[\d+\])*(?:\.[a-z_][a-z0-9_]*(?:\[\d+\])*)*)(?: \([^()]*\))?` +
	`(?:(\.[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)(?:` + pathValue + `)?|: ([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)(?:` + pathValue + `)?|` + pathValue + `)?: `)

// pathValue is the value a problem quotes after its path: a Go-quoted
// string or numbers.
const pathValue = ` (?:"(?:[^"\\]|\\.)*"|-?\d+(?:/\d+)*)`

// pathOf is the place line names at its start, "" for none.
func pathOf(line string) string {
	m := pathRE.FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	if m[3] != "" {
		return m[1] + "." + m[3]
	}
	return m[1] + m[2]
}

// writeError answers with code and the message msg, which says what was
// wrong without internal names.
func writeError(w http.ResponseWriter, code Code, msg string) {
	writeProblem(w, Problem{Error: msg, Code: code})
}

// refuse answers a request the handler refused for err with code: err's
// problems are the message and, for a 400, the fields.
func refuse(w http.ResponseWriter, code Code, err error) {
	lines := problems(err, nil)
	writeProblem(w, Problem{Error: strings.Join(lines, "; "), Code: code, Fields: fieldsOf(code.Status(), lines)})
}

func writeProblem(w http.ResponseWriter, p Problem) {
	writeJSON(w, p.Code.Status(), p)
}

// problemJSON is p with more members, for answers that carry what was
// done besides what failed.
func problemJSON(p Problem, more map[string]any) map[string]any {
	out := map[string]any{"error": p.Error, "code": p.Code}
	if len(p.Fields) > 0 {
		out["fields"] = p.Fields
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

// fail answers err by its code; an error no sentinel explains is logged
// and hidden behind "internal error".
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) { s.failWith(w, r, err, nil) }

// failWith is fail with more members in the answer: what was done
// besides what failed.
func (s *Server) failWith(w http.ResponseWriter, r *http.Request, err error, more map[string]any) {
	code, sentinel := classify(err)
	if code == CodeInternal || code == CodeSpeechFailed {
		if r.Context().Err() != nil {
			// The client left; there is no one to answer.
			s.log.Debug("request abandoned by the client", "method", r.Method, "path", r.URL.Path, "err", err)
			return
		}
	}
	switch code {
	case CodeInternal:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	case CodeSpeechFailed, CodeAnnounceFailed, CodeNoBroker:
		s.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "code", string(code), "err", err)
	}
	p := problemOf(code, sentinel, err)
	if more == nil {
		writeProblem(w, p)
		return
	}
	writeJSON(w, p.Code.Status(), problemJSON(p, more))
}
