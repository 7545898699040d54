package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/dalaba/dalaba/cloud/alert"
	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
)

// Alerter sends the test messages (the alert engine).
type Alerter interface {
	Test(ctx context.Context, c store.AlertChannel, by string) (store.Alert, error)
}

// errSendFailed wraps a test message the channel did not take.
var errSendFailed = errors.New("web: the test message was not delivered")

func (s *Server) alertRoutes() {
	s.route("GET /api/v1/alerts", auth.ActionViewAlerts, TargetList, s.listAlerts)
	s.route("GET /api/v1/alerts/incidents", auth.ActionViewAlerts, TargetList, s.listIncidents)
	s.route("GET /api/v1/alerts/settings", auth.ActionViewAlerts, TargetShared, s.alertSettings)
	s.route("PUT /api/v1/alerts/channels/{cid}", auth.ActionManageAlerts, TargetCounty, s.putChannel)
	s.route("DELETE /api/v1/alerts/channels/{cid}", auth.ActionManageAlerts, TargetCounty, s.deleteChannel)
	s.route("POST /api/v1/alerts/channels/{cid}/test", auth.ActionManageAlerts, TargetCounty, s.testChannel)
	s.route("PUT /api/v1/alerts/rules/{kind}", auth.ActionManageAlerts, TargetCounty, s.putRule)
	s.route("PUT /api/v1/alerts/quiet", auth.ActionManageAlerts, TargetCounty, s.putQuiet)
	s.route("DELETE /api/v1/alerts/quiet", auth.ActionManageAlerts, TargetCounty, s.deleteQuiet)
}

// channelJSON is a channel as the API shows it: its URL without the key
// or token it carries, whether a secret is set (never the secret), and
// the phone numbers with their middle digits hidden.
type channelJSON struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Kind      string   `json:"kind"`
	URL       string   `json:"url"`
	SecretSet bool     `json:"secret_set"`
	Phones    []string `json:"phones,omitempty"`
	Disabled  bool     `json:"disabled"`
}

func toChannelJSON(c store.AlertChannel) channelJSON {
	out := channelJSON{ID: c.ID, Name: c.Name, Kind: c.Kind, URL: alert.MaskedURL(c.URL), SecretSet: c.Secret != "", Disabled: c.Disabled}
	for _, p := range c.Phones {
		if len(p) > 7 {
			p = p[:3] + strings.Repeat("*", len(p)-7) + p[len(p)-4:]
		}
		out.Phones = append(out.Phones, p)
	}
	return out
}

type ruleJSON struct {
	Kind      string   `json:"kind"`
	Enabled   bool     `json:"enabled"`
	HoldDown  string   `json:"hold_down"` // a Go duration, "10m"; "0s" for a one-off
	Threshold int      `json:"threshold,omitempty"`
	Urgent    bool     `json:"urgent"`
	Channels  []string `json:"channels"`
}

type quietJSON struct {
	From string `json:"from"`
	To   string `json:"to"`
	Zone string `json:"zone"`
}

func settingsJSON(set store.AlertSettings) map[string]any {
	chans := make([]channelJSON, 0, len(set.Channels))
	for _, c := range set.Channels {
		chans = append(chans, toChannelJSON(c))
	}
	rules := []ruleJSON{}
	for _, r := range alert.Rules(set) {
		rules = append(rules, ruleJSON{Kind: r.Kind, Enabled: r.Enabled, HoldDown: r.HoldDown.String(), Threshold: r.Threshold,
			Urgent: r.Urgent, Channels: append([]string{}, r.Channels...)})
	}
	out := map[string]any{"channels": chans, "rules": rules, "quiet": nil}
	if q := set.Quiet; q != nil {
		out["quiet"] = quietJSON{From: q.From, To: q.To, Zone: q.Zone}
	}
	return out
}

func (s *Server) alertSettings(w http.ResponseWriter, r *http.Request) {
	set, err := s.st.GetAlertSettings(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, settingsJSON(set))
}

// updateAlerts changes the settings with fn, stamped with the user, and
// answers them as they now are.
func (s *Server) updateAlerts(w http.ResponseWriter, r *http.Request, fn func(*store.AlertSettings) error) {
	set, err := s.st.UpdateAlertSettings(r.Context(), func(a *store.AlertSettings) error {
		if err := fn(a); err != nil {
			return err
		}
		a.UpdatedAt, a.UpdatedBy = s.now(), userOf(r)
		return nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, settingsJSON(set))
}

// putChannel adds or replaces a channel. URL and secret may be left out
// to keep the stored ones (the API never shows them whole); a secret of
// "" removes it.
func (s *Server) putChannel(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name     string   `json:"name"`
		Kind     string   `json:"kind"`
		URL      *string  `json:"url"`
		Secret   *string  `json:"secret"`
		Phones   []string `json:"phones"`
		Disabled bool     `json:"disabled"`
	}
	if !decode(w, r, &in) {
		return
	}
	id := r.PathValue("cid")
	var before, after any
	s.updateAlerts(w, r, func(a *store.AlertSettings) error {
		c := store.AlertChannel{ID: id, Name: in.Name, Kind: in.Kind, Phones: in.Phones, Disabled: in.Disabled}
		i := slices.IndexFunc(a.Channels, func(c store.AlertChannel) bool { return c.ID == id })
		if i >= 0 {
			c.URL, c.Secret = a.Channels[i].URL, a.Channels[i].Secret
			before = toChannelJSON(a.Channels[i])
		}
		if in.URL != nil {
			c.URL = *in.URL
		}
		if in.Secret != nil {
			c.Secret = *in.Secret
		}
		if err := alert.ValidateChannel(c); err != nil {
			return err
		}
		if i >= 0 {
			a.Channels[i] = c
		} else {
			if len(a.Channels) >= alert.MaxChannels {
				return fmt.Errorf("%w: at most %d channels", alert.ErrInvalid, alert.MaxChannels)
			}
			a.Channels = append(a.Channels, c)
		}
		after = toChannelJSON(c)
		return nil
	})
	// The record keeps what people may read: no key, no secret.
	noteAudit(r, before, after)
}

// deleteChannel removes a channel and every rule's mention of it.
func (s *Server) deleteChannel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("cid")
	s.updateAlerts(w, r, func(a *store.AlertSettings) error {
		i := slices.IndexFunc(a.Channels, func(c store.AlertChannel) bool { return c.ID == id })
		if i < 0 {
			return fmt.Errorf("channel %q: %w", id, store.ErrNotFound)
		}
		a.Channels = slices.Delete(a.Channels, i, i+1)
		a.Rules = alert.Rules(*a)
		for j := range a.Rules {
			a.Rules[j].Channels = slices.DeleteFunc(a.Rules[j].Channels, func(c string) bool { return c == id })
		}
		return nil
	})
}

// testChannel sends the channel a test message now, once: 200 when it was
// delivered, 502 alert.send_failed with the platform's answer when not.
// Either way the test is in the alert log.
func (s *Server) testChannel(w http.ResponseWriter, r *http.Request) {
	if s.al == nil {
		writeError(w, CodeNoRoute, "alerting is not running")
		return
	}
	set, err := s.st.GetAlertSettings(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	i := slices.IndexFunc(set.Channels, func(c store.AlertChannel) bool { return c.ID == r.PathValue("cid") })
	if i < 0 {
		s.fail(w, r, fmt.Errorf("channel %q: %w", r.PathValue("cid"), store.ErrNotFound))
		return
	}
	a, err := s.al.Test(r.Context(), set.Channels[i], userOf(r))
	if err != nil {
		s.failWith(w, r, fmt.Errorf("%w: %w", errSendFailed, err), map[string]any{"alert": toAlertJSON(a)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"alert": toAlertJSON(a)})
}

func (s *Server) putRule(w http.ResponseWriter, r *http.Request) {
	var in ruleJSON
	if !decode(w, r, &in) {
		return
	}
	kind := r.PathValue("kind")
	if in.Kind != "" && in.Kind != kind {
		refuse(w, CodeAlertInvalid, fmt.Errorf("kind %q in the body, %q in the path", in.Kind, kind))
		return
	}
	hold, err := time.ParseDuration(in.HoldDown)
	if in.HoldDown == "" {
		hold, err = 0, nil
	}
	if err != nil {
		refuse(w, CodeAlertInvalid, fmt.Errorf("hold_down %q: a duration such as 10m or 1h30m", in.HoldDown))
		return
	}
	s.updateAlerts(w, r, func(a *store.AlertSettings) error {
		rule := store.AlertRule{Kind: kind, Enabled: in.Enabled, HoldDown: hold, Threshold: in.Threshold, Urgent: in.Urgent, Channels: in.Channels}
		if err := alert.ValidateRule(rule, a.Channels); err != nil {
			return err
		}
		rules := alert.Rules(*a)
		for i := range rules {
			if rules[i].Kind == kind {
				rules[i] = rule
			}
		}
		a.Rules = rules
		return nil
	})
}

func (s *Server) putQuiet(w http.ResponseWriter, r *http.Request) {
	var in quietJSON
	if !decode(w, r, &in) {
		return
	}
	q := store.QuietHours{From: in.From, To: in.To, Zone: in.Zone}
	if err := alert.ValidateQuiet(q); err != nil {
		s.fail(w, r, err)
		return
	}
	s.updateAlerts(w, r, func(a *store.AlertSettings) error { a.Quiet = &q; return nil })
}

func (s *Server) deleteQuiet(w http.ResponseWriter, r *http.Request) {
	s.updateAlerts(w, r, func(a *store.AlertSettings) error { a.Quiet = nil; return nil })
}

// alertJSON is an alert as the API shows it, with each channel's delivery.
type alertJSON struct {
	Seq        uint64         `json:"seq"`
	Time       time.Time      `json:"time"`
	Box        string         `json:"box,omitempty"`
	Rule       string         `json:"rule,omitempty"`
	Subject    string         `json:"subject,omitempty"`
	State      string         `json:"state"`
	Title      string         `json:"title"`
	Text       string         `json:"text"`
	Urgent     bool           `json:"urgent"`
	Deliveries []deliveryJSON `json:"deliveries"`
}

type deliveryJSON struct {
	Channel   string    `json:"channel"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	Error     string    `json:"error,omitempty"`
	At        time.Time `json:"at,omitzero"`
	NotBefore time.Time `json:"not_before,omitzero"`
}

func toAlertJSON(a store.Alert) alertJSON {
	out := alertJSON{Seq: a.Seq, Time: a.Time, Box: a.BoxID, Rule: a.Rule, Subject: a.Subject, State: a.State, Title: a.Title, Text: a.Text,
		Urgent: a.Urgent, Deliveries: []deliveryJSON{}}
	for _, d := range a.Deliveries {
		out.Deliveries = append(out.Deliveries, deliveryJSON{Channel: d.Channel, Status: d.Status, Attempts: d.Attempts, Error: d.Error,
			At: d.At, NotBefore: d.NotBefore})
	}
	return out
}

// listAlerts pages the alert log back: ?box=&before=SEQ&limit=N.
func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	before, err := uintParam(q.Get("before"), 0)
	if err != nil {
		refuse(w, CodeBadRequest, fmt.Errorf("before: %w", err))
		return
	}
	limit, ok := auditLimit(w, r)
	if !ok {
		return
	}
	as, err := s.st.ListAlerts(r.Context(), store.AlertFilter{BoxID: q.Get("box"), Before: before, Limit: limit})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	visible, err := s.visibleBoxes(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]alertJSON, 0, len(as))
	next := uint64(0)
	for _, a := range as {
		next = a.Seq // of the page read, so paging goes on past what was left out
		if seesBox(visible, a.BoxID) {
			out = append(out, toAlertJSON(a))
		}
	}
	if len(as) < limit {
		next = 0
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": out, "next_before": next})
}

type incidentJSON struct {
	Box      string    `json:"box"`
	Rule     string    `json:"rule"`
	Subject  string    `json:"subject,omitempty"`
	Since    time.Time `json:"since"`
	Detail   string    `json:"detail,omitempty"`
	Open     bool      `json:"open"`
	OpenedAt time.Time `json:"opened_at,omitzero"`
}

// listIncidents answers the conditions alerting watches: open ones
// (alerted) and held ones (waiting out their hold-down).
func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request) {
	incs, err := s.st.ListIncidents(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	visible, err := s.visibleBoxes(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]incidentJSON, 0, len(incs))
	for _, i := range incs {
		if !seesBox(visible, i.BoxID) {
			continue
		}
		out = append(out, incidentJSON{Box: i.BoxID, Rule: i.Rule, Subject: i.Subject, Since: i.Since, Detail: i.Detail,
			Open: !i.OpenedAt.IsZero(), OpenedAt: i.OpenedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"incidents": out})
}
