package store

import (
	"context"
	"time"
)

// AlertChannel is a place alerts go: a group robot, a webhook or an SMS
// gateway, as the township set it up.
type AlertChannel struct {
	ID   string // chosen by the township: 1-64 of a-z, 0-9 and '-'
	Name string
	Kind string // a notify kind: wecom, dingtalk, feishu, webhook, sms
	URL  string
	// Secret is the channel's signing secret or token; it never leaves
	// the service (the API shows whether one is set, not what it is).
	Secret   string
	Phones   []string
	Disabled bool
}

// AlertRule is one kind of alert as the township set it.
type AlertRule struct {
	Kind    string // what it watches; see package cloud/alert
	Enabled bool
	// HoldDown is how long the condition must hold before an incident
	// opens (and, for a box offline, how long it has been offline).
	HoldDown time.Duration
	// Threshold is the rule's own limit (disk low: the percent free
	// below which); 0 when it has none.
	Threshold int
	// Urgent alerts go out in quiet hours too.
	Urgent bool
	// Channels are the channel ids it goes to; empty: every channel.
	Channels []string
}

// QuietHours is a daily window in which alerts that are not urgent wait.
type QuietHours struct {
	From, To string // "22:00", "07:00": local times; To before From spans midnight
	Zone     string // IANA time zone
}

// AlertSettings are the township's alerting: its channels, rules and
// quiet hours.
type AlertSettings struct {
	Channels  []AlertChannel
	Rules     []AlertRule
	Quiet     *QuietHours // nil: none
	UpdatedAt time.Time
	UpdatedBy string
}

// Incident is a condition alerting watches: held while it waits out its
// rule's hold-down, open once alerted, deleted when it clears.
type Incident struct {
	Key     string // rule, box and subject, as cloud/alert makes it
	Rule    string
	BoxID   string
	Subject string    // the speaker's or camera's id; "" for the box itself
	Since   time.Time // when the condition began, as the township knows it
	Detail  string    // the latest word on it (an error)
	// OpenedAt is when the incident opened (alerted); zero while held.
	OpenedAt time.Time
	// OpenSeq is the alert that opened it.
	OpenSeq uint64
}

// States of an Alert.
const (
	AlertOpened   = "opened"   // an incident opened
	AlertResolved = "resolved" // an open incident cleared
	AlertNotice   = "notice"   // a one-off (a playback failed): nothing to clear
	AlertTest     = "test"     // a test message an official sent
)

// Statuses of a Delivery.
const (
	AlertDeliveryPending = "pending" // to be sent now
	AlertDeliveryHeld    = "held"    // waiting for quiet hours to end (NotBefore)
	AlertDeliverySent    = "sent"
	AlertDeliveryFailed  = "failed"  // given up (Error says why)
	AlertDeliveryDropped = "dropped" // not sent: its incident cleared while it was held
)

// AlertDelivery is an alert's message to one channel.
type AlertDelivery struct {
	Channel   string
	Status    string // one of the Delivery* statuses
	Attempts  int
	Error     string
	At        time.Time // of the last attempt or change
	NotBefore time.Time // a held delivery's earliest send
}

// Alert is one line of the township's alert log, which the event log shows
// beside the boxes' events.
type Alert struct {
	Seq         uint64 // from 1, in the order alerts were recorded
	Time        time.Time
	BoxID       string // "" for a test message
	Rule        string
	Subject     string
	State       string // one of the Alert* states
	IncidentKey string
	Title, Text string
	Urgent      bool
	Deliveries  []AlertDelivery
}

// Pending reports whether a delivery of a is still to be sent.
func (a Alert) Pending() bool {
	for _, d := range a.Deliveries {
		if d.Status == AlertDeliveryPending || d.Status == AlertDeliveryHeld {
			return true
		}
	}
	return false
}

// AlertFilter selects alerts, newest first.
type AlertFilter struct {
	BoxID string // "": every box
	// Before: seqs below it; 0 from the newest.
	Before uint64
	// From and To bound Time: From <= Time < To; a zero bound is open.
	From, To time.Time
	Limit    int // at least 1
}

// Alerts keeps the township's alerting.
type Alerts interface {
	// GetAlertSettings returns the settings; the zero value when none were
	// stored.
	GetAlertSettings(ctx context.Context) (AlertSettings, error)
	// UpdateAlertSettings reads the settings, lets fn change them and
	// writes them back in one transaction; if fn fails nothing is written
	// and its error is returned. It returns the settings as stored.
	UpdateAlertSettings(ctx context.Context, fn func(*AlertSettings) error) (AlertSettings, error)
	// ListIncidents returns every incident, held or open, by key.
	ListIncidents(ctx context.Context) ([]Incident, error)
	// PutIncident stores inc under its key, replacing what was there.
	PutIncident(ctx context.Context, inc Incident) error
	// DeleteIncident removes the incident with key; none is no error.
	DeleteIncident(ctx context.Context, key string) error
	// RecordAlert appends a to the log with the next seq and, in the same
	// transaction, stores put (when not nil) and deletes the incident
	// with key del (when not ""): an incident never opens or closes
	// without its alert, nor the reverse. It returns a with its Seq.
	RecordAlert(ctx context.Context, a Alert, put *Incident, del string) (Alert, error)
	// UpdateAlert reads alert seq, lets fn change it and writes it back in
	// one transaction; Seq is not changeable this way. ErrNotFound for an
	// unknown seq; if fn fails nothing is written.
	UpdateAlert(ctx context.Context, seq uint64, fn func(*Alert) error) (Alert, error)
	// ListAlerts returns up to f.Limit alerts f selects, newest first.
	// The log is kept in the order alerts were recorded, which is time
	// order as the township's clock ran: the walk stops at the first
	// alert before f.From. ErrBadFilter for a Limit below 1 or From after
	// To.
	ListAlerts(ctx context.Context, f AlertFilter) ([]Alert, error)
	// PendingAlerts returns every alert with a delivery pending or held
	// (Alert.Pending), oldest first.
	PendingAlerts(ctx context.Context) ([]Alert, error)
}
