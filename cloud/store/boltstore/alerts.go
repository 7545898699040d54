package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dalaba/dalaba/cloud/store"
)

// The alerting's records, in JSON with names of their own so the file
// does not follow the Go structs' field names.

var keySettings = []byte("settings")

type channelRecord struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Kind     string   `json:"kind"`
	URL      string   `json:"url"`
	Secret   string   `json:"secret,omitempty"`
	Phones   []string `json:"phones,omitempty"`
	Disabled bool     `json:"disabled,omitempty"`
}

type ruleRecord struct {
	Kind      string        `json:"kind"`
	Enabled   bool          `json:"enabled"`
	HoldDown  time.Duration `json:"hold_down_ns"`
	Threshold int           `json:"threshold,omitempty"`
	Urgent    bool          `json:"urgent,omitempty"`
	Channels  []string      `json:"channels,omitempty"`
}

type quietRecord struct {
	From string `json:"from"`
	To   string `json:"to"`
	Zone string `json:"zone"`
}

type settingsRecord struct {
	Channels  []channelRecord `json:"channels"`
	Rules     []ruleRecord    `json:"rules"`
	Quiet     *quietRecord    `json:"quiet,omitempty"`
	UpdatedAt time.Time       `json:"updated_at,omitzero"`
	UpdatedBy string          `json:"updated_by,omitempty"`
}

type incidentRecord struct {
	Rule     string    `json:"rule"`
	BoxID    string    `json:"box_id"`
	Subject  string    `json:"subject,omitempty"`
	Since    time.Time `json:"since"`
	Detail   string    `json:"detail,omitempty"`
	OpenedAt time.Time `json:"opened_at,omitzero"`
	OpenSeq  uint64    `json:"open_seq,omitempty"`
}

type alertDeliveryRecord struct {
	Channel   string    `json:"channel"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts,omitempty"`
	Error     string    `json:"error,omitempty"`
	At        time.Time `json:"at,omitzero"`
	NotBefore time.Time `json:"not_before,omitzero"`
}

type alertRecord struct {
	Time        time.Time             `json:"time"`
	BoxID       string                `json:"box_id,omitempty"`
	Rule        string                `json:"rule,omitempty"`
	Subject     string                `json:"subject,omitempty"`
	State       string                `json:"state"`
	IncidentKey string                `json:"incident,omitempty"`
	Title       string                `json:"title"`
	Text        string                `json:"text"`
	Urgent      bool                  `json:"urgent,omitempty"`
	Deliveries  []alertDeliveryRecord `json:"deliveries"`
}

func settingsOf(r settingsRecord) store.AlertSettings {
	s := store.AlertSettings{UpdatedAt: r.UpdatedAt, UpdatedBy: r.UpdatedBy}
	for _, c := range r.Channels {
		s.Channels = append(s.Channels, store.AlertChannel{ID: c.ID, Name: c.Name, Kind: c.Kind, URL: c.URL, Secret: c.Secret,
			Phones: c.Phones, Disabled: c.Disabled})
	}
	for _, r := range r.Rules {
		s.Rules = append(s.Rules, store.AlertRule{Kind: r.Kind, Enabled: r.Enabled, HoldDown: r.HoldDown, Threshold: r.Threshold,
			Urgent: r.Urgent, Channels: r.Channels})
	}
	if r.Quiet != nil {
		s.Quiet = &store.QuietHours{From: r.Quiet.From, To: r.Quiet.To, Zone: r.Quiet.Zone}
	}
	return s
}

func settingsRecordOf(s store.AlertSettings) settingsRecord {
	r := settingsRecord{Channels: []channelRecord{}, Rules: []ruleRecord{}, UpdatedAt: s.UpdatedAt, UpdatedBy: s.UpdatedBy}
	for _, c := range s.Channels {
		r.Channels = append(r.Channels, channelRecord{ID: c.ID, Name: c.Name, Kind: c.Kind, URL: c.URL, Secret: c.Secret,
			Phones: c.Phones, Disabled: c.Disabled})
	}
	for _, x := range s.Rules {
		r.Rules = append(r.Rules, ruleRecord{Kind: x.Kind, Enabled: x.Enabled, HoldDown: x.HoldDown, Threshold: x.Threshold,
			Urgent: x.Urgent, Channels: x.Channels})
	}
	if s.Quiet != nil {
		r.Quiet = &quietRecord{From: s.Quiet.From, To: s.Quiet.To, Zone: s.Quiet.Zone}
	}
	return r
}

func getSettings(tx *bolt.Tx) (store.AlertSettings, error) {
	v := tx.Bucket(bucketAlertConf).Get(keySettings)
	if v == nil {
		return store.AlertSettings{}, nil
	}
	var r settingsRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return store.AlertSettings{}, fmt.Errorf("alert settings: decode: %w", err)
	}
	return settingsOf(r), nil
}

// GetAlertSettings returns the settings; the zero value when none were
// stored.
func (s *Store) GetAlertSettings(ctx context.Context) (store.AlertSettings, error) {
	if err := ctx.Err(); err != nil {
		return store.AlertSettings{}, err
	}
	var out store.AlertSettings
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = getSettings(tx)
		return err
	})
	if err != nil {
		return store.AlertSettings{}, fmt.Errorf("boltstore: %w", err)
	}
	return out, nil
}

// UpdateAlertSettings runs fn on the settings in one write transaction.
func (s *Store) UpdateAlertSettings(ctx context.Context, fn func(*store.AlertSettings) error) (store.AlertSettings, error) {
	if err := ctx.Err(); err != nil {
		return store.AlertSettings{}, err
	}
	var out store.AlertSettings
	err := s.db.Update(func(tx *bolt.Tx) error {
		cur, err := getSettings(tx)
		if err != nil {
			return err
		}
		if err := fn(&cur); err != nil {
			return err
		}
		v, err := json.Marshal(settingsRecordOf(cur))
		if err != nil {
			return fmt.Errorf("alert settings: encode: %w", err)
		}
		if err := tx.Bucket(bucketAlertConf).Put(keySettings, v); err != nil {
			return err
		}
		out = settingsOf(settingsRecordOf(cur)) // as a read would return it
		return nil
	})
	if err != nil {
		return store.AlertSettings{}, fmt.Errorf("boltstore: update alert settings: %w", err)
	}
	return out, nil
}

func incidentOf(key string, v []byte) (store.Incident, error) {
	var r incidentRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return store.Incident{}, fmt.Errorf("incident %q: decode: %w", key, err)
	}
	return store.Incident{Key: key, Rule: r.Rule, BoxID: r.BoxID, Subject: r.Subject, Since: r.Since, Detail: r.Detail,
		OpenedAt: r.OpenedAt, OpenSeq: r.OpenSeq}, nil
}

func putIncident(tx *bolt.Tx, inc store.Incident) error {
	if inc.Key == "" {
		return fmt.Errorf("incident: %w: no key", store.ErrBadFilter)
	}
	v, err := json.Marshal(incidentRecord{Rule: inc.Rule, BoxID: inc.BoxID, Subject: inc.Subject, Since: inc.Since, Detail: inc.Detail,
		OpenedAt: inc.OpenedAt, OpenSeq: inc.OpenSeq})
	if err != nil {
		return fmt.Errorf("incident %q: encode: %w", inc.Key, err)
	}
	return tx.Bucket(bucketIncidents).Put([]byte(inc.Key), v)
}

// ListIncidents returns every incident by key.
func (s *Store) ListIncidents(ctx context.Context) ([]store.Incident, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []store.Incident
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIncidents).ForEach(func(k, v []byte) error {
			inc, err := incidentOf(string(k), v)
			if err != nil {
				return err
			}
			out = append(out, inc)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list incidents: %w", err)
	}
	return out, nil
}

// PutIncident stores inc under its key.
func (s *Store) PutIncident(ctx context.Context, inc store.Incident) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return putIncident(tx, inc) }); err != nil {
		return fmt.Errorf("boltstore: put incident: %w", err)
	}
	return nil
}

// DeleteIncident removes the incident with key.
func (s *Store) DeleteIncident(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketIncidents).Delete([]byte(key)) }); err != nil {
		return fmt.Errorf("boltstore: delete incident: %w", err)
	}
	return nil
}

func alertRecordOf(a store.Alert) alertRecord {
	r := alertRecord{Time: a.Time, BoxID: a.BoxID, Rule: a.Rule, Subject: a.Subject, State: a.State, IncidentKey: a.IncidentKey,
		Title: a.Title, Text: a.Text, Urgent: a.Urgent, Deliveries: []alertDeliveryRecord{}}
	for _, d := range a.Deliveries {
		r.Deliveries = append(r.Deliveries, alertDeliveryRecord{Channel: d.Channel, Status: d.Status, Attempts: d.Attempts, Error: d.Error,
			At: d.At, NotBefore: d.NotBefore})
	}
	return r
}

func alertOf(seq uint64, v []byte) (store.Alert, error) {
	var r alertRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return store.Alert{}, fmt.Errorf("alert %d: decode: %w", seq, err)
	}
	a := store.Alert{Seq: seq, Time: r.Time, BoxID: r.BoxID, Rule: r.Rule, Subject: r.Subject, State: r.State, IncidentKey: r.IncidentKey,
		Title: r.Title, Text: r.Text, Urgent: r.Urgent}
	for _, d := range r.Deliveries {
		a.Deliveries = append(a.Deliveries, store.AlertDelivery{Channel: d.Channel, Status: d.Status, Attempts: d.Attempts, Error: d.Error,
			At: d.At, NotBefore: d.NotBefore})
	}
	return a, nil
}

// putAlert writes a under its seq and keeps the pending index in step.
func putAlert(tx *bolt.Tx, a store.Alert) error {
	v, err := json.Marshal(alertRecordOf(a))
	if err != nil {
		return fmt.Errorf("alert %d: encode: %w", a.Seq, err)
	}
	k := u64(a.Seq)
	if err := tx.Bucket(bucketAlerts).Put(k, v); err != nil {
		return err
	}
	if a.Pending() {
		return tx.Bucket(bucketAlertPending).Put(k, nil)
	}
	return tx.Bucket(bucketAlertPending).Delete(k)
}

// RecordAlert appends a, and stores put and deletes del, in one
// transaction.
func (s *Store) RecordAlert(ctx context.Context, a store.Alert, put *store.Incident, del string) (store.Alert, error) {
	if err := ctx.Err(); err != nil {
		return store.Alert{}, err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAlerts)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		a.Seq = seq
		if err := putAlert(tx, a); err != nil {
			return err
		}
		if put != nil {
			if err := putIncident(tx, *put); err != nil {
				return err
			}
		}
		if del != "" {
			return tx.Bucket(bucketIncidents).Delete([]byte(del))
		}
		return nil
	})
	if err != nil {
		return store.Alert{}, fmt.Errorf("boltstore: record alert: %w", err)
	}
	return a, nil
}

// UpdateAlert runs fn on alert seq in one write transaction.
func (s *Store) UpdateAlert(ctx context.Context, seq uint64, fn func(*store.Alert) error) (store.Alert, error) {
	if err := ctx.Err(); err != nil {
		return store.Alert{}, err
	}
	var out store.Alert
	err := s.db.Update(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketAlerts).Get(u64(seq))
		if v == nil {
			return fmt.Errorf("alert %d: %w", seq, store.ErrNotFound)
		}
		a, err := alertOf(seq, v)
		if err != nil {
			return err
		}
		if err := fn(&a); err != nil {
			return err
		}
		a.Seq = seq
		out = a
		return putAlert(tx, a)
	})
	if err != nil {
		return store.Alert{}, fmt.Errorf("boltstore: update alert: %w", err)
	}
	return out, nil
}

// ListAlerts returns the alerts f selects, newest first: a walk back from
// Before.
func (s *Store) ListAlerts(ctx context.Context, f store.AlertFilter) ([]store.Alert, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.Limit < 1 || (!f.From.IsZero() && !f.To.IsZero() && f.From.After(f.To)) {
		return nil, fmt.Errorf("boltstore: list alerts: %w: limit %d, from %s, to %s", store.ErrBadFilter, f.Limit, f.From, f.To)
	}
	var out []store.Alert
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAlerts).Cursor()
		var k, v []byte
		if f.Before == 0 {
			k, v = c.Last()
		} else {
			if k, _ = c.Seek(u64(f.Before)); k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		}
		for ; k != nil && len(out) < f.Limit; k, v = c.Prev() {
			a, err := alertOf(binary.BigEndian.Uint64(k), v)
			if err != nil {
				return err
			}
			// The log is in time order: once before From, nothing older
			// can match.
			if !f.From.IsZero() && a.Time.Before(f.From) {
				break
			}
			if (!f.To.IsZero() && !a.Time.Before(f.To)) || (f.BoxID != "" && a.BoxID != f.BoxID) {
				continue
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list alerts: %w", err)
	}
	return out, nil
}

// PendingAlerts returns the alerts with a delivery still to be sent,
// oldest first, through the pending index.
func (s *Store) PendingAlerts(ctx context.Context) ([]store.Alert, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []store.Alert
	err := s.db.View(func(tx *bolt.Tx) error {
		alerts := tx.Bucket(bucketAlerts)
		return tx.Bucket(bucketAlertPending).ForEach(func(k, _ []byte) error {
			a, err := alertOf(binary.BigEndian.Uint64(k), alerts.Get(k))
			if err != nil {
				return err
			}
			out = append(out, a)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: pending alerts: %w", err)
	}
	return out, nil
}
