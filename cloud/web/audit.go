package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
)

// The audit trail. Every change made through the API that succeeds (a
// POST, PUT or DELETE answered 2xx) is appended to store.AuditTrail as
// one record: who (the token's user), the route pattern as the action
// ("POST /api/v1/boxes/{id}/play"), the box as the village when the route
// names one, the path as the target, and as After the request body when
// it is JSON of at most auditBodyMax bytes with its secrets removed, else
// only its content type and size (an upload's bytes are never kept).
// Handlers that know better say what changed (noteAudit): the users'
// routes give the role and disabled flag before and after, uploads the
// clip's name and size.
//
// Three kinds of change are recorded elsewhere and skipped here: the red
// and black lists (under /api/v1/villages/ and /api/v1/entries/), which
// cloud/lists records in the same transaction as the change, sign-in
// and sign-out, which cloud/auth records for the console and the API
// alike, and claim codes (/api/v1/claims), which cloud/enroll records
// without the codes.
//
// The record is appended before the answer leaves, so a client that saw
// success finds its change in the trail. The change itself has happened
// by then: a failed append cannot undo it and is logged at Error for a
// human to look at. The routes that read the trail are in doc.go.
const (
	// auditBodyMax bounds the request body kept in a record: enough for
	// any form a person fills in, not for a whole plan or a clip.
	auditBodyMax = 4 << 10
	// auditWrite bounds an append that outlives its request (the client
	// may leave once the change is made; the record must still be written).
	auditWrite = 5 * time.Second
)

func (s *Server) auditRoutes() {
	s.route("GET /api/v1/audit/recent", auth.ActionViewAudit, TargetList, s.recentAudit)
	s.route("GET /api/v1/audit", auth.ActionViewAudit, TargetList, s.listAudit)
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// auditedElsewhere tells the changes this file does not record.
func auditedElsewhere(r *http.Request) bool {
	p := r.URL.Path
	return strings.HasPrefix(p, "/api/v1/villages/") || strings.HasPrefix(p, "/api/v1/entries/") || p == "/api/v1/logout" ||
		strings.HasPrefix(p, "/api/v1/claims")
}

// auditNote is what a handler says about its change, replacing the request
// body in the record.
type auditNote struct {
	set           bool
	before, after any
}

type auditKey struct{}

// noteAudit records before and after (nil: none) as the change of r in
// place of its body. They must hold no secret.
func noteAudit(r *http.Request, before, after any) {
	if n, ok := r.Context().Value(auditKey{}).(*auditNote); ok {
		n.set, n.before, n.after = true, before, after
	}
}

// audited runs h and, for a change that succeeded, appends its record.
func (s *Server) audited(w http.ResponseWriter, r *http.Request, h http.HandlerFunc) {
	if safeMethod(r.Method) || auditedElsewhere(r) {
		h(w, r)
		return
	}
	tap := &bodyTap{}
	if r.Body != nil {
		tap.rc = r.Body
		r.Body = tap
	}
	note := &auditNote{}
	r = r.WithContext(context.WithValue(r.Context(), auditKey{}, note))
	held := &heldResponse{w: w}
	h(held, r)
	if held.status >= 200 && held.status <= 299 {
		rec := store.AuditRecord{
			Time: s.now(), Actor: userOf(r), Action: r.Pattern, Village: r.PathValue("id"), Target: r.URL.Path,
		}
		var err error
		if rec.Before, rec.After, err = auditBodies(r, tap, note); err != nil {
			s.log.Error("audit: encoding a record; it is kept without its bodies", "action", rec.Action, "err", err)
		}
		s.appendAudit(r.Context(), rec)
	}
	held.release()
}

// appendAudit appends rec, logging a failure for a human.
func (s *Server) appendAudit(ctx context.Context, rec store.AuditRecord) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditWrite)
	defer cancel()
	if _, err := s.st.AppendAudit(ctx, rec); err != nil {
		s.log.Error("audit: appending a record failed; the change was made but is not in the trail",
			"action", rec.Action, "user", rec.Actor, "target", rec.Target, "err", err)
	}
}

// auditBodies are a record's Before and After.
func auditBodies(r *http.Request, tap *bodyTap, note *auditNote) (before, after json.RawMessage, err error) {
	if note.set {
		if note.before != nil {
			if before, err = json.Marshal(note.before); err != nil {
				return nil, nil, fmt.Errorf("before: %w", err)
			}
		}
		if note.after != nil {
			if after, err = json.Marshal(note.after); err != nil {
				return nil, nil, fmt.Errorf("after: %w", err)
			}
		}
		return before, after, nil
	}
	if tap.n == 0 {
		return nil, nil, nil
	}
	if tap.n <= auditBodyMax && json.Valid(tap.head.Bytes()) {
		return nil, withoutSecrets(tap.head.Bytes()), nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")) // an unparsable type is recorded as none
	after, err = json.Marshal(map[string]any{"content_type": ct, "size": tap.n})
	return nil, after, err
}

// withoutSecrets is the JSON body b with every secret taken out: members
// whose names speak of passwords, secrets, tokens or credentials are
// dropped, and passwords inside URLs (rtsp://user:pass@cam) are masked.
func withoutSecrets(b []byte) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // numbers stay as written
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil // b was checked valid; nothing is better than a guess
	}
	out, err := json.Marshal(scrub(v))
	if err != nil {
		return nil
	}
	return out
}

// secretWords name the members withoutSecrets drops.
var secretWords = []string{"password", "passwd", "secret", "token", "credential", "private_key"}

func scrub(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			lk := strings.ToLower(k)
			if slices.ContainsFunc(secretWords, func(w string) bool { return strings.Contains(lk, w) }) {
				delete(x, k)
				continue
			}
			x[k] = scrub(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = scrub(e)
		}
		return x
	case string:
		if strings.Contains(x, "@") && strings.Contains(x, "://") {
			if u, err := url.Parse(x); err == nil && u.User != nil {
				if _, has := u.User.Password(); has {
					return u.Redacted()
				}
			}
		}
		return x
	}
	return v
}

// bodyTap passes a request body through, keeping its first
// auditBodyMax+1 bytes and counting all of them.
type bodyTap struct {
	rc   io.ReadCloser
	head bytes.Buffer
	n    int64
}

func (t *bodyTap) Read(p []byte) (int, error) {
	n, err := t.rc.Read(p)
	if room := auditBodyMax + 1 - t.head.Len(); room > 0 {
		t.head.Write(p[:min(n, room)])
	}
	t.n += int64(n)
	return n, err
}

func (t *bodyTap) Close() error { return t.rc.Close() }

// heldResponse keeps a change's answer until its record is appended. The
// answers to changes are small (JSON, an SDP answer), so holding them
// costs little.
type heldResponse struct {
	w      http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (h *heldResponse) Header() http.Header { return h.w.Header() }

func (h *heldResponse) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}

func (h *heldResponse) Write(p []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return h.body.Write(p)
}

// release sends the held answer; a handler that wrote nothing answered 200,
// as net/http would have.
func (h *heldResponse) release() {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	h.w.WriteHeader(h.status)
	_, _ = h.w.Write(h.body.Bytes()) // the client may have gone; nothing to do
}

// auditJSON is one record as the API shows it (as the lists' trail does).
type auditJSON struct {
	Seq     uint64          `json:"seq"`
	Time    time.Time       `json:"time"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Village string          `json:"village,omitempty"`
	Entry   uint64          `json:"entry,omitempty"`
	Target  string          `json:"target,omitempty"`
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
	Note    string          `json:"note,omitempty"`
}

func toAuditJSON(rs []store.AuditRecord) []auditJSON {
	out := make([]auditJSON, 0, len(rs))
	for _, r := range rs {
		out = append(out, auditJSON{
			Seq: r.Seq, Time: r.Time, Actor: r.Actor, Action: r.Action, Village: r.Village, Entry: r.EntryID,
			Target: r.Target, Before: r.Before, After: r.After, Note: r.Note,
		})
	}
	return out
}

// auditLimit reads ?limit= (DefaultLimit, at most MaxLimit).
func auditLimit(w http.ResponseWriter, r *http.Request) (int, bool) {
	limit, err := uintParam(r.URL.Query().Get("limit"), DefaultLimit)
	if err != nil || limit == 0 || limit > MaxLimit {
		refuse(w, CodeBadRequest, fmt.Errorf("limit: a whole number from 1 to %d", MaxLimit))
		return 0, false
	}
	return int(limit), true
}

func (s *Server) recentAudit(w http.ResponseWriter, r *http.Request) {
	limit, ok := auditLimit(w, r)
	if !ok {
		return
	}
	rs, err := s.st.ListAudit(r.Context(), store.AuditFilter{Limit: limit, Last: true})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if rs, err = s.auditInScope(r, rs); err != nil {
		s.fail(w, r, err)
		return
	}
	slices.Reverse(rs)
	writeJSON(w, http.StatusOK, map[string]any{"records": toAuditJSON(rs)})
}

// auditInScope keeps the records a township's user may read: those of
// the villages in their scope. Records of no village (sign-ins, accounts,
// the county's settings) are the county's.
func (s *Server) auditInScope(r *http.Request, rs []store.AuditRecord) ([]store.AuditRecord, error) {
	visible, err := s.visibleBoxes(r)
	if err != nil || visible == nil {
		return rs, err
	}
	out := rs[:0:0]
	for _, rec := range rs {
		if rec.Village != "" && visible[rec.Village] {
			out = append(out, rec)
		}
	}
	return out, nil
}

// listAudit pages the trail forward: ?village=, ?entry=, ?after=, ?limit=.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.AuditFilter{Village: q.Get("village")}
	var err error
	if f.EntryID, err = uintParam(q.Get("entry"), 0); err != nil {
		refuse(w, CodeBadRequest, fmt.Errorf("entry: %w", err))
		return
	}
	if f.After, err = uintParam(q.Get("after"), 0); err != nil {
		refuse(w, CodeBadRequest, fmt.Errorf("after: %w", err))
		return
	}
	var ok bool
	if f.Limit, ok = auditLimit(w, r); !ok {
		return
	}
	s.auditPage(w, r, f)
}

// auditPage answers the records f selects, oldest first, with the seq to
// ask after for the next page.
func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, f store.AuditFilter) {
	rs, err := s.st.ListAudit(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	next := f.After
	if len(rs) > 0 {
		next = rs[len(rs)-1].Seq // of the page read, so paging goes on past what was left out
	}
	if rs, err = s.auditInScope(r, rs); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": toAuditJSON(rs), "next_after": next})
}

// entryHistory pages one list entry's records forward: ?after=, ?limit=.
// An unknown entry is 404, not an empty history.
func (s *Server) entryHistory(w http.ResponseWriter, r *http.Request) {
	id, ok := entryID(w, r)
	if !ok {
		return
	}
	if _, err := s.ls.Entry(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	f := store.AuditFilter{EntryID: id}
	var err error
	if f.After, err = uintParam(r.URL.Query().Get("after"), 0); err != nil {
		writeError(w, CodeBadRequest, "after: "+err.Error())
		return
	}
	if f.Limit, ok = auditLimit(w, r); !ok {
		return
	}
	s.auditPage(w, r, f)
}
