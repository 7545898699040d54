package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
)

// Target is how a route's target is scoped to the units (townships) of
// the county: every route declares one when it is registered, and authed
// resolves it to the target's townships before the handler runs, so the
// decision (auth.Decide: role, action, the user's unit, the target's) is
// made in one place. A target outside the user's scope answers as an
// unknown one would (404, CodeNotFound): its existence does not leak.
type Target uint8

// The targets. The zero Target is undeclared: authed admits only county
// users to it, and the walk of every route (scope_test.go) fails on it.
const (
	targetUndeclared Target = iota
	// TargetBox: the path's {id} is a box; its Township.
	TargetBox
	// TargetVillage: the path's {box} is a village (its box); the box's
	// Township.
	TargetVillage
	// TargetEntry: {eid} is a list entry; its village's.
	TargetEntry
	// TargetHold: {oid} is a hold on an entry; its village's.
	TargetHold
	// TargetRedemption: {rid} is a redemption; its village's.
	TargetRedemption
	// TargetJob: {job} is a plan job; every one of its boxes'.
	TargetJob
	// TargetClaim: {cid} is a claim code; the Township it enrolls into.
	TargetClaim
	// TargetRollout: {id} of /rollouts is a rollout; every one of its
	// boxes'.
	TargetRollout
	// TargetUser: {name} is an account; its Township.
	TargetUser
	// TargetTownship: {tid} is a township; itself.
	TargetTownship
	// TargetList: a list; the handler keeps only what is in the caller's
	// scope (scopeOf).
	TargetList
	// TargetBody: the body names the targets (a bulk action, a new box or
	// user); the handler checks every one with the caller's scope before
	// it changes anything and refuses the whole with CodeOutOfScope.
	TargetBody
	// TargetClip: {sha} is a clip; the township of whoever uploaded it.
	// A clip the county's users uploaded is every township's.
	TargetClip
	// TargetCounty: the county's own settings (townships, alert channels,
	// releases): county users only (CodeCountyOnly).
	TargetCounty
	// TargetShared: the same for every unit and naming no village: the
	// clip library, the alerting's rules, the releases, signing out.
	TargetShared
	targetEnd
)

var targetNames = [targetEnd]string{"undeclared", "box", "village", "entry", "hold", "redemption", "job", "claim", "rollout", "user",
	"township", "clip", "list", "body", "county", "shared"}

// String is the target's name, as doc.go shows it.
func (t Target) String() string {
	if t >= targetEnd {
		return "undeclared"
	}
	return targetNames[t]
}

// accountKey holds the authenticated account in a request's context.
type accountKey struct{}

// scopeOf is the unit of the user authed let through; the county's on a
// request authed never saw (which no route serves).
func scopeOf(r *http.Request) auth.Scope {
	u, _ := r.Context().Value(accountKey{}).(store.User)
	return auth.ScopeOf(u)
}

// accountOf is the user authed let through.
func accountOf(r *http.Request) store.User {
	u, _ := r.Context().Value(accountKey{}).(store.User)
	return u
}

// inScope answers a request whose target is outside the caller's scope
// and reports false; true when it lies inside. It is the check authed
// makes for every declared target.
func (s *Server) inScope(w http.ResponseWriter, r *http.Request, u store.User, action auth.Action, target Target) bool {
	sc := auth.ScopeOf(u)
	if target == TargetCounty || target == targetUndeclared {
		if !auth.Decide(u, action, "") {
			writeError(w, CodeCountyOnly, "only a county user may do this; the user is of township "+sc.Township())
			return false
		}
		return true
	}
	if sc.County() {
		return true // every target lies in the county: nothing to look up
	}
	kind, id, townships, err := s.resolve(r, target)
	if errors.Is(err, store.ErrNotFound) {
		return true // unknown: the handler answers it as it always has
	}
	if err != nil {
		s.fail(w, r, err)
		return false
	}
	for _, t := range townships {
		if !auth.Decide(u, action, t) {
			// As an unknown one: the caller learns nothing of it.
			s.fail(w, r, fmt.Errorf("%s %q: %w", kind, id, store.ErrNotFound))
			return false
		}
	}
	return true
}

// resolve is the townships target's path names, with its kind and id for
// the answer; store.ErrNotFound when it names nothing. Lists, bodies and
// shared routes name none.
func (s *Server) resolve(r *http.Request, target Target) (kind, id string, townships []string, err error) {
	ctx := r.Context()
	switch target {
	case TargetBox, TargetVillage:
		kind, id = "box", r.PathValue("id")
		if target == TargetVillage {
			kind, id = "village", r.PathValue("box")
		}
		t, err := s.boxTownship(ctx, id)
		return kind, id, []string{t}, err
	case TargetEntry, TargetHold, TargetRedemption:
		var village string
		switch target {
		case TargetEntry:
			kind, id = "entry", r.PathValue("eid")
		case TargetHold:
			kind, id = "hold", r.PathValue("oid")
		default:
			kind, id = "redemption", r.PathValue("rid")
		}
		n, perr := strconv.ParseUint(id, 10, 64)
		if perr != nil {
			return kind, id, nil, store.ErrNotFound // the handler refuses the id itself
		}
		switch target {
		case TargetEntry:
			var e store.Entry
			e, err = s.st.GetEntry(ctx, n)
			village = e.Village
		case TargetHold:
			var h store.Hold
			h, err = s.st.GetHold(ctx, n)
			village = h.Village
		default:
			var rd store.Redemption
			rd, err = s.st.GetRedemption(ctx, n)
			village = rd.Village
		}
		if err != nil {
			return kind, id, nil, err
		}
		t, err := s.boxTownship(ctx, village)
		if errors.Is(err, store.ErrNotFound) {
			t, err = "", nil // a village without its box is the county's
		}
		return kind, id, []string{t}, err
	case TargetJob:
		kind, id = "plan job", r.PathValue("job")
		if s.jobs == nil {
			return kind, id, nil, store.ErrNotFound
		}
		j, ok := s.jobs.Get(id)
		if !ok {
			return kind, id, nil, store.ErrNotFound
		}
		ids := make([]string, len(j.Boxes))
		for i, b := range j.Boxes {
			ids[i] = b.ID
		}
		townships, err = s.boxesTownships(ctx, ids)
		return kind, id, townships, err
	case TargetRollout:
		kind, id = "rollout", r.PathValue("id")
		if s.ro == nil {
			return kind, id, nil, store.ErrNotFound
		}
		ro, err := s.ro.Rollout(ctx, id)
		if err != nil {
			return kind, id, nil, err
		}
		ids := make([]string, len(ro.Boxes))
		for i, b := range ro.Boxes {
			ids[i] = b.BoxID
		}
		townships, err = s.boxesTownships(ctx, ids)
		return kind, id, townships, err
	case TargetClaim:
		kind, id = "claim", r.PathValue("cid")
		n, perr := strconv.ParseUint(id, 10, 64)
		if perr != nil {
			return kind, id, nil, store.ErrNotFound
		}
		c, err := s.st.GetClaim(ctx, n)
		return kind, id, []string{c.Township}, err
	case TargetUser:
		kind, id = "user", r.PathValue("name")
		u, err := s.auth.User(ctx, id)
		return kind, id, []string{u.Township}, err
	case TargetTownship:
		kind, id = "township", r.PathValue("tid")
		t, err := s.st.GetTownship(ctx, id)
		return kind, id, []string{t.ID}, err
	case TargetClip:
		kind, id = "clip", r.PathValue("sha")
		m, err := s.st.GetMedia(ctx, id)
		if err != nil {
			return kind, id, nil, err
		}
		t, err := s.uploaderTownship(ctx, m.UploadedBy)
		if err != nil || t == "" {
			return kind, id, nil, err // the county's clips are everyone's
		}
		return kind, id, []string{t}, nil
	}
	return "", "", nil, nil
}

// uploaderTownship is the township of the user who uploaded a clip; ""
// (the county's) for the county's users and for names no longer known.
func (s *Server) uploaderTownship(ctx context.Context, name string) (string, error) {
	u, err := s.auth.User(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return u.Township, err
}

// boxTownship is box id's township.
func (s *Server) boxTownship(ctx context.Context, id string) (string, error) {
	b, err := s.st.GetBox(ctx, id)
	if err != nil {
		return "", err
	}
	return b.Township, nil
}

// boxesTownships are the townships of ids, each once; a box no longer
// known counts as the county's.
func (s *Server) boxesTownships(ctx context.Context, ids []string) ([]string, error) {
	of, err := s.townshipsOfBoxes(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		t := of[id]
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, nil
}

// townshipsOfBoxes maps every box to its township.
func (s *Server) townshipsOfBoxes(ctx context.Context) (map[string]string, error) {
	boxes, err := s.st.ListBoxes(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(boxes))
	for _, b := range boxes {
		out[b.ID] = b.Township
	}
	return out, nil
}

// visibleBoxes are the ids of the boxes in the caller's scope; nil for a
// county user, for whom everything is.
func (s *Server) visibleBoxes(r *http.Request) (map[string]bool, error) {
	sc := scopeOf(r)
	if sc.County() {
		return nil, nil
	}
	of, err := s.townshipsOfBoxes(r.Context())
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for id, t := range of {
		if sc.Covers(t) {
			out[id] = true
		}
	}
	return out, nil
}

// seesBox reports whether visible (visibleBoxes) holds box; everything is
// visible when visible is nil.
func seesBox(visible map[string]bool, box string) bool { return visible == nil || visible[box] }

// keepVisible is what of items lies in the caller's scope, village
// naming each item's village (its box).
func keepVisible[T any](s *Server, r *http.Request, items []T, village func(T) string) ([]T, error) {
	visible, err := s.visibleBoxes(r)
	if err != nil || visible == nil {
		return items, err
	}
	return slices.DeleteFunc(items, func(it T) bool { return !visible[village(it)] }), nil
}

// outOfScope refuses a bulk action naming targets outside the caller's
// scope, as a whole: nothing was done.
func outOfScope(w http.ResponseWriter, what []string) {
	refuse(w, CodeOutOfScope, fmt.Errorf("outside your township, so nothing was done: %v", what[:min(len(what), 20)]))
}
