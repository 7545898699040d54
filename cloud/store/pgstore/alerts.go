package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/dalaba/dalaba/cloud/store"
)

// normSettings makes settings read back as a bbolt store returns them:
// empty lists as nil.
func normSettings(s store.AlertSettings) store.AlertSettings {
	var out store.AlertSettings
	out.UpdatedAt, out.UpdatedBy = utc(s.UpdatedAt), s.UpdatedBy
	for _, c := range s.Channels {
		if len(c.Phones) == 0 {
			c.Phones = nil
		}
		out.Channels = append(out.Channels, c)
	}
	for _, r := range s.Rules {
		if len(r.Channels) == 0 {
			r.Channels = nil
		}
		out.Rules = append(out.Rules, r)
	}
	if s.Quiet != nil {
		q := *s.Quiet
		out.Quiet = &q
	}
	return out
}

func getSettings(ctx context.Context, tx pgx.Tx, lock bool) (store.AlertSettings, error) {
	q := `SELECT doc FROM alert_settings WHERE id = 1`
	if lock {
		q += ` FOR UPDATE`
	}
	var s store.AlertSettings
	err := getDoc(ctx, tx, "alert settings", &s, q)
	if errors.Is(err, store.ErrNotFound) {
		return store.AlertSettings{}, nil
	}
	return normSettings(s), err
}

// GetAlertSettings returns the settings; the zero value when none were
// stored.
func (s *Store) GetAlertSettings(ctx context.Context) (store.AlertSettings, error) {
	var out store.AlertSettings
	err := s.read(ctx, "get alert settings", func(tx pgx.Tx) error {
		var err error
		out, err = getSettings(ctx, tx, false)
		return err
	})
	return out, err
}

// UpdateAlertSettings lets fn change the settings in one transaction.
func (s *Store) UpdateAlertSettings(ctx context.Context, fn func(*store.AlertSettings) error) (store.AlertSettings, error) {
	var out store.AlertSettings
	err := s.write(ctx, "update alert settings", func(tx pgx.Tx) error {
		cur, err := getSettings(ctx, tx, true)
		if err != nil {
			return err
		}
		if err := fn(&cur); err != nil {
			return err
		}
		cur = normSettings(cur)
		doc, err := encode(cur)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO alert_settings (id, doc) VALUES (1, $1)
			ON CONFLICT (id) DO UPDATE SET doc = excluded.doc`, doc); err != nil {
			return err
		}
		out = cur
		return nil
	})
	if err != nil {
		return store.AlertSettings{}, err
	}
	return out, nil
}

func normIncident(inc store.Incident) store.Incident {
	inc.Since, inc.OpenedAt = utc(inc.Since), utc(inc.OpenedAt)
	return inc
}

func putIncident(ctx context.Context, tx pgx.Tx, inc store.Incident) error {
	if inc.Key == "" {
		return fmt.Errorf("incident: %w: no key", store.ErrBadFilter)
	}
	doc, err := encode(normIncident(inc))
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO incidents (key, doc) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET doc = excluded.doc`,
		inc.Key, doc)
	return err
}

// ListIncidents returns every incident by key.
func (s *Store) ListIncidents(ctx context.Context) ([]store.Incident, error) {
	var out []store.Incident
	err := s.read(ctx, "list incidents", func(tx pgx.Tx) error {
		var err error
		out, err = docs[store.Incident](ctx, tx, "incidents", `SELECT doc FROM incidents ORDER BY key COLLATE "C"`)
		for i := range out {
			out[i] = normIncident(out[i])
		}
		return err
	})
	return out, err
}

// PutIncident stores inc under its key.
func (s *Store) PutIncident(ctx context.Context, inc store.Incident) error {
	return s.tx(ctx, "put incident", func(tx pgx.Tx) error { return putIncident(ctx, tx, inc) })
}

// DeleteIncident removes the incident with key; none is no error.
func (s *Store) DeleteIncident(ctx context.Context, key string) error {
	return s.tx(ctx, "delete incident", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM incidents WHERE key = $1`, key)
		return err
	})
}

func normAlert(a store.Alert) store.Alert {
	a.Time = utc(a.Time)
	if len(a.Deliveries) == 0 {
		a.Deliveries = nil
	}
	for i := range a.Deliveries {
		a.Deliveries[i].At, a.Deliveries[i].NotBefore = utc(a.Deliveries[i].At), utc(a.Deliveries[i].NotBefore)
	}
	return a
}

func putAlert(ctx context.Context, tx pgx.Tx, a store.Alert) error {
	doc, err := encode(normAlert(a))
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO alerts (seq, pending, doc) VALUES ($1, $2, $3)
		ON CONFLICT (seq) DO UPDATE SET pending = excluded.pending, doc = excluded.doc`, int64(a.Seq), a.Pending(), doc)
	if err != nil {
		return fmt.Errorf("alert %d: %w", a.Seq, err)
	}
	return nil
}

// RecordAlert appends a and, in the same transaction, puts and deletes
// incidents; see store.Alerts.
func (s *Store) RecordAlert(ctx context.Context, a store.Alert, put *store.Incident, del string) (store.Alert, error) {
	err := s.write(ctx, "record alert", func(tx pgx.Tx) error {
		seq, err := next(ctx, tx, "alerts")
		if err != nil {
			return err
		}
		a.Seq = seq
		if err := putAlert(ctx, tx, a); err != nil {
			return err
		}
		if put != nil {
			if err := putIncident(ctx, tx, *put); err != nil {
				return err
			}
		}
		if del != "" {
			_, err = tx.Exec(ctx, `DELETE FROM incidents WHERE key = $1`, del)
		}
		return err
	})
	if err != nil {
		return store.Alert{}, err
	}
	return a, nil
}

// UpdateAlert lets fn change alert seq in one transaction.
func (s *Store) UpdateAlert(ctx context.Context, seq uint64, fn func(*store.Alert) error) (store.Alert, error) {
	var out store.Alert
	err := s.write(ctx, "update alert", func(tx pgx.Tx) error {
		var a store.Alert
		if err := getDoc(ctx, tx, fmt.Sprintf("alert %d", seq), &a, `SELECT doc FROM alerts WHERE seq = $1`, int64(seq)); err != nil {
			return err
		}
		a = normAlert(a)
		a.Seq = seq
		if err := fn(&a); err != nil {
			return err
		}
		a.Seq = seq
		out = a
		return putAlert(ctx, tx, a)
	})
	if err != nil {
		return store.Alert{}, err
	}
	return out, nil
}

// alertChunk is how many alerts ListAlerts reads at a time while it walks
// the log backwards.
const alertChunk = 256

// ListAlerts walks the log from the newest (or f.Before) backwards and
// stops at the first alert before f.From, as store.Alerts says.
func (s *Store) ListAlerts(ctx context.Context, f store.AlertFilter) ([]store.Alert, error) {
	if f.Limit < 1 || (!f.From.IsZero() && !f.To.IsZero() && f.From.After(f.To)) {
		return nil, fmt.Errorf("pgstore: list alerts: %w: limit %d, from %s, to %s", store.ErrBadFilter, f.Limit, f.From, f.To)
	}
	var out []store.Alert
	err := s.read(ctx, "list alerts", func(tx pgx.Tx) error {
		bound := int64(-1) // none: from the newest
		if f.Before != 0 && f.Before <= 1<<62 {
			bound = int64(f.Before)
		}
		for {
			as, err := docs[store.Alert](ctx, tx, "alerts", `SELECT doc FROM alerts WHERE ($1 < 0 OR seq < $1)
				ORDER BY seq DESC LIMIT $2`, bound, alertChunk)
			if err != nil {
				return err
			}
			for _, a := range as {
				a = normAlert(a)
				bound = int64(a.Seq)
				if !f.From.IsZero() && a.Time.Before(f.From) {
					return nil
				}
				if (!f.To.IsZero() && !a.Time.Before(f.To)) || (f.BoxID != "" && a.BoxID != f.BoxID) {
					continue
				}
				out = append(out, a)
				if len(out) == f.Limit {
					return nil
				}
			}
			if len(as) < alertChunk {
				return nil
			}
		}
	})
	return out, err
}

// PendingAlerts returns every alert with a delivery pending or held,
// oldest first.
func (s *Store) PendingAlerts(ctx context.Context) ([]store.Alert, error) {
	var out []store.Alert
	err := s.read(ctx, "pending alerts", func(tx pgx.Tx) error {
		var err error
		out, err = docs[store.Alert](ctx, tx, "alerts", `SELECT doc FROM alerts WHERE pending ORDER BY seq`)
		for i := range out {
			out[i] = normAlert(out[i])
		}
		return err
	})
	return out, err
}
