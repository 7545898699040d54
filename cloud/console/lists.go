package console

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/poster"
	"github.com/dalaba/dalaba/cloud/store"
)

// The red/black lists (红黑榜) pages. Each route names its action as the
// JSON API's do (reading: auth.ActionViewLists; writing, submitting and
// publishing: ActionEditLists; approving, rejecting and revoking:
// ActionReviewLists), so a role that may never make a change gets 403
// before the service is asked; the page shows only the buttons a role
// can use, and cloud/lists still checks everything (the author's own
// approval, the entry's state).
//
//	GET  /lists?village=&period=        the village's entries of the month
//	POST /lists/entries                 a new draft
//	POST /lists/entries/{id}/submit     draft → in review
//	POST /lists/entries/{id}/approve
//	POST /lists/entries/{id}/reject     reason → draft
//	POST /lists/entries/{id}/revoke     整改 note; published black → revoked
//	POST /lists/publish                 approved → published
//	GET  /lists/poster?village=&period= the printable poster
//
// The API's own poster route wants a bearer token, which a browser
// holding only the console's cookie cannot send, so the console renders
// the same poster itself.
func (c *Console) listsRoutes() {
	view, edit, review := auth.ActionViewLists, auth.ActionEditLists, auth.ActionReviewLists
	c.handle("GET /lists", view, c.listsPage)
	c.handle("GET /lists/poster", view, c.listsPoster)
	c.handle("POST /lists/entries", edit, c.listsChange(entryLabels(), c.createEntry))
	c.handle("POST /lists/entries/{id}/submit", edit, c.listsChange(nil, c.entryAction("DoneSubmitted",
		func(r *http.Request, by lists.Actor, id uint64) error {
			_, err := c.ls.Submit(r.Context(), by, id)
			return err
		})))
	c.handle("POST /lists/entries/{id}/approve", review, c.listsChange(nil, c.entryAction("DoneApproved",
		func(r *http.Request, by lists.Actor, id uint64) error {
			_, err := c.ls.Approve(r.Context(), by, id, "")
			return err
		})))
	c.handle("POST /lists/entries/{id}/reject", review, c.listsChange(map[string]string{"reason": "RejectReason"}, c.entryAction("DoneRejected",
		func(r *http.Request, by lists.Actor, id uint64) error {
			_, err := c.ls.Reject(r.Context(), by, id, r.PostFormValue("reason"))
			return err
		})))
	c.handle("POST /lists/entries/{id}/revoke", review, c.listsChange(map[string]string{"note": "RevokeNote"}, c.entryAction("DoneRevoked",
		func(r *http.Request, by lists.Actor, id uint64) error {
			_, err := c.ls.Revoke(r.Context(), by, id, r.PostFormValue("note"))
			return err
		})))
	c.handle("POST /lists/publish", edit, c.listsChange(map[string]string{"period": "Period"}, c.publish))
	c.communityRoutes()
}

// entryLabels name the entry form's fields by the paths the lists'
// validation gives its problems (path → message key).
func entryLabels() map[string]string {
	return map[string]string{
		"kind": "ColKind", "subject": "Subject", "subject.kind": "Subject", "subject.id": "Subject",
		"category": "ColCategory", "reason": "ColReason", "points": "ColPoints", "period": "Period",
	}
}

func actorOf(v *visit) lists.Actor { return lists.Actor{Name: v.user.Name, Role: v.user.Role} }

// flashCookie carries the outcome of a change to the page the browser is
// sent back to; it lives a minute and is read once.
const flashCookie = "dalaba_flash"

type flash struct {
	OK   bool
	Text string
}

func setFlash(w http.ResponseWriter, r *http.Request, f flash) {
	v := "e"
	if f.OK {
		v = "o"
	}
	http.SetCookie(w, &http.Cookie{
		Name: flashCookie, Value: v + base64.RawURLEncoding.EncodeToString([]byte(f.Text)), Path: "/lists", MaxAge: 60,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil,
	})
}

func takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	ck, err := r.Cookie(flashCookie)
	if err != nil || ck.Value == "" {
		return nil
	}
	clearCookie(w, r, flashCookie, "/lists")
	b, err := base64.RawURLEncoding.DecodeString(ck.Value[1:])
	if err != nil {
		return nil
	}
	return &flash{OK: ck.Value[0] == 'o', Text: string(b)}
}

// listsChange runs h and sends the browser back to the list with h's
// outcome: a refusal explained by its code, naming the form's fields it
// concerns (labels: path → message key).
func (c *Console) listsChange(labels map[string]string, h func(*http.Request, *visit) (string, error)) func(http.ResponseWriter, *http.Request, *visit) {
	return func(w http.ResponseWriter, r *http.Request, v *visit) {
		done, err := "", c.changeOutside(r)
		if err == nil {
			done, err = h(r, v)
		}
		t := c.msgs[v.lang]
		var fe formError
		switch {
		case err == nil:
			setFlash(w, r, flash{OK: true, Text: t[done]})
		case errors.Is(err, lists.ErrAnnounce):
			// The change is saved; only the announcement failed.
			c.log.Warn("lists: a change is saved, its announcement failed", "err", err)
			setFlash(w, r, flash{Text: explain(t, err, nil)})
		case errors.Is(err, lists.ErrInvalid), errors.Is(err, lists.ErrBadPeriod), errors.Is(err, lists.ErrForbidden), errors.Is(err, lists.ErrConflict),
			errors.Is(err, store.ErrExists), errors.Is(err, store.ErrNotFound):
			setFlash(w, r, flash{Text: explain(t, err, labels)})
		case errors.As(err, &fe):
			setFlash(w, r, flash{Text: t["Failed"] + t[string(fe)]})
		default:
			c.fail(w, r, v.lang, err)
			return
		}
		q := url.Values{"village": {r.PostFormValue("village")}, "period": {r.PostFormValue("period")}}
		http.Redirect(w, r, "/lists?"+q.Encode(), http.StatusSeeOther)
	}
}

// formError is the message key of a field the console itself refuses.
type formError string

func (e formError) Error() string { return "console: form: " + string(e) }

func formErr(key string) error { return formError(key) }

func (c *Console) entryAction(done string, do func(*http.Request, lists.Actor, uint64) error) func(*http.Request, *visit) (string, error) {
	return func(r *http.Request, v *visit) (string, error) {
		id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
		if err != nil || id == 0 {
			return "", formErr("BadRequest")
		}
		return done, do(r, actorOf(v), id)
	}
}

func (c *Console) createEntry(r *http.Request, v *visit) (string, error) {
	kind, id, ok := strings.Cut(r.PostFormValue("subject"), ":")
	if !ok || id == "" {
		return "", formErr("BadSubject")
	}
	in := lists.EntryInput{
		Kind:     store.ListKind(r.PostFormValue("kind")),
		Subject:  lists.Subject{Kind: store.SubjectKind(kind), ID: id},
		Category: r.PostFormValue("category"),
		Reason:   r.PostFormValue("reason"),
		Period:   r.PostFormValue("period"),
	}
	if p := strings.TrimSpace(r.PostFormValue("points")); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return "", formErr("BadPoints")
		}
		in.Points = &n
	}
	_, err := c.ls.CreateEntry(r.Context(), actorOf(v), r.PostFormValue("village"), in)
	return "DoneCreated", err
}

func (c *Console) publish(r *http.Request, v *visit) (string, error) {
	_, err := c.ls.Publish(r.Context(), actorOf(v), r.PostFormValue("village"), r.PostFormValue("period"))
	return "DonePublished", err
}

// listsData is what lists.html gets.
type listsData struct {
	Villages []villageOption
	Village  string
	Period   string
	Flash    *flash
	Entries  []entryRow
	Subjects []subjectOption
	Cats     []store.Category
	// CanPublish: the user may publish and some entry is approved.
	CanPublish bool
	PosterURL  string
	// Board ranks the village's households by their points of the month
	// (积分榜); households without points are left out.
	Board []lists.Standing
	// Holds are the village's open objections and flags; Posts its latest
	// posts to group chats (community.go).
	Holds []holdRow
	Posts []postRow
}

type villageOption struct {
	ID, Name string
	Selected bool
}

type subjectOption struct{ Value, Label string }

type entryRow struct {
	lists.EntryView
	KindText    string
	SubjectText string
	StatusText  string
	Approvals   string // "1 / 2"
	CanSubmit   bool
	CanApprove  bool
	CanReject   bool
	CanRevoke   bool
	CanFlag     bool
	CanObject   bool
}

func statusKey(s store.EntryStatus) string {
	switch s {
	case store.StatusDraft:
		return "StatusDraft"
	case store.StatusInReview:
		return "StatusInReview"
	case store.StatusApproved:
		return "StatusApproved"
	case store.StatusPublished:
		return "StatusPublished"
	case store.StatusRevoked:
		return "StatusRevoked"
	case store.StatusExpired:
		return "StatusExpired"
	case store.StatusNotice:
		return "StatusNotice"
	case store.StatusOnHold:
		return "StatusOnHold"
	case store.StatusWithdrawn:
		return "StatusWithdrawn"
	}
	return "Unknown"
}

func (c *Console) listsPage(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	t := c.msgs[v.lang]
	q := r.URL.Query()
	d := listsData{
		Village: q.Get("village"), Period: q.Get("period"), Flash: takeFlash(w, r),
	}
	if !lists.ValidPeriod(d.Period) {
		d.Period = c.now().In(c.cfg.Location).Format("2006-01")
	}
	boxes, err := c.inService(ctx)
	if err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	if d.Village == "" && len(boxes) > 0 {
		d.Village = boxes[0].ID
	}
	known := false
	for _, b := range boxes {
		d.Villages = append(d.Villages, villageOption{ID: b.ID, Name: displayName(b), Selected: b.ID == d.Village})
		known = known || b.ID == d.Village
	}
	if !known {
		d.Village = ""
	}
	if d.Village != "" {
		if err := c.fillLists(r, v, t, &d); err != nil {
			c.fail(w, r, v.lang, err)
			return
		}
	}
	c.render(w, r, http.StatusOK, "lists.html", c.pageData(v.lang, v, c.csrf.token(purposeSession, v.token), d))
}

// fillLists reads the village's entries of the period and what the
// creation form offers.
func (c *Console) fillLists(r *http.Request, v *visit, t map[string]string, d *listsData) error {
	ctx := r.Context()
	hs, err := c.ls.Households(ctx, d.Village, lists.Query{})
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, h := range hs {
		label := h.Head + "户 (" + h.ID + ")"
		names["household:"+h.ID] = label
		d.Subjects = append(d.Subjects, subjectOption{Value: "household:" + h.ID, Label: t["Household"] + " · " + label})
		for _, p := range h.Members {
			label := p.Name + " (" + p.ID + ")"
			names["person:"+p.ID] = label
			if !p.Active() {
				continue // kept for the record, not offered for new entries
			}
			d.Subjects = append(d.Subjects, subjectOption{Value: "person:" + p.ID, Label: t["Person"] + " · " + label})
		}
	}
	if d.Cats, err = c.ls.Categories(ctx, d.Village); err != nil {
		return err
	}
	es, err := c.ls.Entries(ctx, lists.Filter{Village: d.Village, Period: d.Period})
	if err != nil {
		return err
	}
	need := c.ls.Approvals()
	canEdit, canReview := auth.Allowed(v.user.Role, auth.ActionEditLists), auth.Allowed(v.user.Role, auth.ActionReviewLists)
	for _, e := range es {
		row := entryRow{EntryView: e, StatusText: t[statusKey(e.Status)], Approvals: fmt.Sprintf("%d / %d", len(e.Approvals), need)}
		row.KindText = t["RedList"]
		if e.Kind == store.KindBlack {
			row.KindText = t["BlackList"]
		}
		row.SubjectText = names[string(e.Subject.Kind)+":"+e.Subject.ID]
		if row.SubjectText == "" {
			row.SubjectText = e.Subject.ID
		}
		wrote := e.Author == v.user.Name || slices.Contains(e.Editors, v.user.Name)
		approved := slices.ContainsFunc(e.Approvals, func(a lists.ApprovalView) bool { return a.By == v.user.Name })
		row.CanSubmit = canEdit && e.Status == store.StatusDraft
		row.CanApprove = canReview && e.Status == store.StatusInReview && !wrote && !approved
		row.CanReject = canReview && (e.Status == store.StatusInReview || e.Status == store.StatusApproved)
		row.CanRevoke = canReview && e.Status == store.StatusPublished && e.Kind == store.KindBlack
		row.CanFlag, row.CanObject = holdable(v.user.Role, e)
		d.CanPublish = d.CanPublish || (canEdit && e.Status == store.StatusApproved)
		d.Entries = append(d.Entries, row)
	}
	d.PosterURL = "/lists/poster?" + url.Values{"village": {d.Village}, "period": {d.Period}}.Encode()
	board, err := c.ls.Leaderboard(ctx, d.Village, d.Period)
	if err != nil {
		return err
	}
	for _, st := range board {
		if st.Points != 0 {
			d.Board = append(d.Board, st)
		}
	}
	return c.fillHolds(r, v, t, d)
}

// listsPoster renders the village's published list of the period as the
// API's poster route does.
func (c *Console) listsPoster(w http.ResponseWriter, r *http.Request, v *visit) {
	q := r.URL.Query()
	// A village outside the user's unit is as unknown.
	err := c.villageInUnit(r.Context(), q.Get("village"))
	// Pinned up in public: names and reasons as the township's privacy
	// settings say, entries on notice marked.
	var lv lists.ListView
	if err == nil {
		lv, err = c.ls.PublicList(r.Context(), q.Get("village"), q.Get("period"))
	}
	if errors.Is(err, lists.ErrInvalid) || errors.Is(err, lists.ErrBadPeriod) || errors.Is(err, store.ErrNotFound) {
		c.errorPage(w, r, http.StatusNotFound, "NotFound")
		return
	}
	if err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	d := c.ls.PosterData(lv, "")
	d.Size = q.Get("size")
	var b bytes.Buffer
	if err := poster.Render(&b, d); err != nil {
		if errors.Is(err, poster.ErrBadData) {
			c.errorPage(w, r, http.StatusBadRequest, "BadRequest")
			return
		}
		c.fail(w, r, v.lang, err)
		return
	}
	pageHeaders(w)
	w.Header().Set("Content-Security-Policy", poster.CSP)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b.Bytes()) // a client gone away is not our error
}
