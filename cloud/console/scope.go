package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
)

// The console reads the store directly, so it scopes what it reads in one
// place: every request's context carries the signed-in user's unit (set
// by guard), and scoped, the Store every page reads through, keeps what
// that unit covers (auth.Scope): a township's user sees their township's
// villages, and what is of them (events, plans, incidents, alerts,
// rollouts), only. A context without a unit sees nothing, so a read
// outside a request fails closed. Changes go through the API's bridge,
// which scopes them itself.

type scopeKey struct{}

// withScope is ctx carrying sc.
func withScope(ctx context.Context, sc auth.Scope) context.Context {
	return context.WithValue(ctx, scopeKey{}, sc)
}

// scopeIn is ctx's unit; ok is false when it carries none.
func scopeIn(ctx context.Context) (auth.Scope, bool) {
	sc, ok := ctx.Value(scopeKey{}).(auth.Scope)
	return sc, ok
}

// scoped is a Store that keeps what the unit of each call's context
// covers.
type scoped struct{ inner Store }

// covers reports whether ctx's unit covers township.
func covers(ctx context.Context, township string) bool {
	sc, ok := scopeIn(ctx)
	return ok && sc.Covers(township)
}

// visible are the ids of the boxes ctx's unit covers; nil when it covers
// every box (the county).
func (s scoped) visible(ctx context.Context) (map[string]bool, error) {
	sc, ok := scopeIn(ctx)
	if ok && sc.County() {
		return nil, nil
	}
	out := map[string]bool{}
	boxes, err := s.inner.ListBoxes(ctx)
	if err != nil {
		return nil, err
	}
	for _, b := range boxes {
		if ok && sc.Covers(b.Township) {
			out[b.ID] = true
		}
	}
	return out, nil
}

// box refuses a box outside ctx's unit as unknown.
func (s scoped) box(ctx context.Context, id string) error {
	vis, err := s.visible(ctx)
	if err != nil {
		return err
	}
	if vis != nil && !vis[id] {
		return fmt.Errorf("box %q: %w", id, store.ErrNotFound)
	}
	return nil
}

func (s scoped) ListBoxes(ctx context.Context) ([]store.Box, error) {
	bs, err := s.inner.ListBoxes(ctx)
	return slices.DeleteFunc(bs, func(b store.Box) bool { return !covers(ctx, b.Township) }), err
}

func (s scoped) ListEvents(ctx context.Context, boxID string, after uint64, limit int) ([]store.Event, error) {
	if err := s.box(ctx, boxID); err != nil {
		return nil, err
	}
	return s.inner.ListEvents(ctx, boxID, after, limit)
}

func (s scoped) GetPlan(ctx context.Context, boxID string) (store.Plan, error) {
	if err := s.box(ctx, boxID); err != nil {
		return store.Plan{}, err
	}
	return s.inner.GetPlan(ctx, boxID)
}

// SearchEvents of one box outside the unit is ErrNotFound; of every box,
// a page keeps the unit's events and its next goes on past the others.
func (s scoped) SearchEvents(ctx context.Context, f store.EventFilter) ([]store.Event, string, error) {
	vis, err := s.visible(ctx)
	if err != nil {
		return nil, "", err
	}
	if vis != nil && f.BoxID != "" && !vis[f.BoxID] {
		return nil, "", fmt.Errorf("box %q: %w", f.BoxID, store.ErrNotFound)
	}
	evs, next, err := s.inner.SearchEvents(ctx, f)
	if vis != nil {
		evs = slices.DeleteFunc(evs, func(e store.Event) bool { return !vis[e.BoxID] })
	}
	return evs, next, err
}

// GetAlertSettings are the county's, read by everyone who reads alerts
// (channels are shown without their keys).
func (s scoped) GetAlertSettings(ctx context.Context) (store.AlertSettings, error) {
	return s.inner.GetAlertSettings(ctx)
}

func (s scoped) ListIncidents(ctx context.Context) ([]store.Incident, error) {
	vis, err := s.visible(ctx)
	if err != nil {
		return nil, err
	}
	is, err := s.inner.ListIncidents(ctx)
	if vis != nil {
		is = slices.DeleteFunc(is, func(i store.Incident) bool { return !vis[i.BoxID] })
	}
	return is, err
}

func (s scoped) ListAlerts(ctx context.Context, f store.AlertFilter) ([]store.Alert, error) {
	vis, err := s.visible(ctx)
	if err != nil {
		return nil, err
	}
	as, err := s.inner.ListAlerts(ctx, f)
	if vis != nil {
		as = slices.DeleteFunc(as, func(a store.Alert) bool { return !vis[a.BoxID] })
	}
	return as, err
}

// ListReleases are the county's software, the same for every unit.
func (s scoped) ListReleases(ctx context.Context) ([]store.Release, error) {
	return s.inner.ListReleases(ctx)
}

// ListRollouts keeps the rollouts whose every box the unit covers.
func (s scoped) ListRollouts(ctx context.Context) ([]store.Rollout, error) {
	vis, err := s.visible(ctx)
	if err != nil {
		return nil, err
	}
	rs, err := s.inner.ListRollouts(ctx)
	if vis != nil {
		rs = slices.DeleteFunc(rs, func(r store.Rollout) bool {
			return slices.ContainsFunc(r.Boxes, func(b store.RolloutBox) bool { return !vis[b.BoxID] })
		})
	}
	return rs, err
}

func (s scoped) ListOverviews(ctx context.Context, window int, types []string) ([]store.Overview, error) {
	os, err := s.inner.ListOverviews(ctx, window, types)
	return slices.DeleteFunc(os, func(o store.Overview) bool { return !covers(ctx, o.Box.Township) }), err
}

// unitFilter is the board's filter for ctx's unit (board.Query.In): what
// it covers, or nothing when ctx carries no unit.
func unitFilter(ctx context.Context) func(string) bool {
	sc, ok := scopeIn(ctx)
	if !ok {
		return func(string) bool { return false }
	}
	return sc.Covers
}

// unitKey names ctx's unit in the keys of pages shared by its users.
func unitKey(ctx context.Context) string {
	sc, ok := scopeIn(ctx)
	switch {
	case !ok:
		return "none"
	case sc.County():
		return "county"
	}
	return "t:" + sc.Township()
}

// townshipOption is one choice of a township picker.
type townshipOption struct {
	ID, Name string
	Selected bool
}

// townshipOptions are a county user's choices of township, want selected;
// none for a township's user, who has their own only.
func (c *Console) townshipOptions(ctx context.Context, want string) ([]townshipOption, error) {
	sc, ok := scopeIn(ctx)
	if !ok || !sc.County() {
		return nil, nil
	}
	ts, err := c.st.ListTownships(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]townshipOption, 0, len(ts))
	for _, t := range ts {
		out = append(out, townshipOption{ID: t.ID, Name: t.Name, Selected: t.ID == want})
	}
	return out, nil
}

// townshipName is township's name as people read it ("" for the county's
// own; the id when the township is unknown).
func (c *Console) townshipName(ctx context.Context, township string) string {
	if township == "" {
		return ""
	}
	ts, err := c.st.ListTownships(ctx)
	if err == nil {
		for _, t := range ts {
			if t.ID == township {
				return t.Name
			}
		}
	}
	return township
}

// ListTownships keeps the townships ctx's unit covers.
func (s scoped) ListTownships(ctx context.Context) ([]store.Township, error) {
	ts, err := s.inner.ListTownships(ctx)
	return slices.DeleteFunc(ts, func(t store.Township) bool { return !covers(ctx, t.ID) }), err
}

// changeOutside refuses, as unknown (store.ErrNotFound), a change the
// console makes itself (the lists' and the shop's forms, a household's
// link; every other change goes through the API) that names a village
// outside the user's unit: the form's village, or the village of the
// entry, hold or redemption the path names.
func (c *Console) changeOutside(r *http.Request) error {
	ctx := r.Context()
	villages := []string{}
	if v := r.PostFormValue("village"); v != "" {
		villages = append(villages, v)
	}
	if c.ls != nil && r.PathValue("id") != "" && strings.HasPrefix(r.Pattern, "POST /lists/") && !strings.Contains(r.Pattern, "/households/") {
		id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
		if err != nil {
			return nil // the handler refuses the id itself
		}
		var village string
		switch {
		case strings.Contains(r.Pattern, "/entries/"):
			e, err := c.ls.Entry(ctx, id)
			if err != nil {
				return nil // unknown: the handler answers it
			}
			village = e.Village
		case strings.Contains(r.Pattern, "/holds/"):
			h, err := c.ls.Hold(ctx, id)
			if err != nil {
				return nil
			}
			village = h.Village
		case strings.Contains(r.Pattern, "/redemptions/"):
			if village, err = c.ls.RedemptionVillage(ctx, id); err != nil {
				return nil
			}
		}
		villages = append(villages, village)
	}
	if len(villages) == 0 {
		return nil
	}
	for _, v := range villages {
		if err := c.villageInUnit(ctx, v); err != nil {
			return err
		}
	}
	return nil
}

// villageInUnit is store.ErrNotFound for a village outside ctx's unit (or
// unknown).
func (c *Console) villageInUnit(ctx context.Context, village string) error {
	boxes, err := c.st.ListBoxes(ctx) // the unit's
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(boxes, func(b store.Box) bool { return b.ID == village }) {
		return fmt.Errorf("village %q: %w", village, store.ErrNotFound)
	}
	return nil
}

// unitsData is what the villages and users pages get to show and choose
// townships: a county user's choice of township for a new box or user
// (Choices; "" = the county's own), and every township's name by id
// (Names, JSON for the page's script) for the township column.
type unitsData struct {
	Choices []townshipOption
	Names   string
}

func (c *Console) unitsData(ctx context.Context) (unitsData, error) {
	var d unitsData
	ts, err := c.st.ListTownships(ctx)
	if err != nil {
		return d, err
	}
	names := make(map[string]string, len(ts))
	for _, t := range ts {
		names[t.ID] = t.Name
	}
	b, err := json.Marshal(names)
	if err != nil {
		return d, fmt.Errorf("console: encode townships: %w", err)
	}
	d.Names = string(b)
	d.Choices, err = c.townshipOptions(ctx, "")
	return d, err
}
