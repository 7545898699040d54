package alert

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/dalaba/dalaba/cloud/notify"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol/schedule"
)

// channelsOf are the enabled channels rule r goes to: those it names, or
// every one when it names none.
func channelsOf(r store.AlertRule, settings store.AlertSettings) []store.AlertChannel {
	var out []store.AlertChannel
	for _, c := range settings.Channels {
		if !c.Disabled && (len(r.Channels) == 0 || slices.Contains(r.Channels, c.ID)) {
			out = append(out, c)
		}
	}
	return out
}

// quietUntil is when the quiet hours that now falls in end; zero when now
// is not in quiet hours (or none are set).
func quietUntil(q *store.QuietHours, now time.Time) time.Time {
	if q == nil {
		return time.Time{}
	}
	loc, err := time.LoadLocation(q.Zone)
	if err != nil {
		return time.Time{}
	}
	w := []schedule.Quiet{{From: q.From, To: q.To}}
	if !schedule.InQuiet(w, now, loc) {
		return time.Time{}
	}
	to, err := time.Parse("15:04", q.To)
	if err != nil {
		return time.Time{}
	}
	l := now.In(loc)
	end := time.Date(l.Year(), l.Month(), l.Day(), to.Hour(), to.Minute(), 0, 0, loc)
	if !end.After(now) {
		end = end.AddDate(0, 0, 1)
	}
	return end
}

// newAlert is an alert with a delivery to each of its rule's channels:
// pending, or held until quiet hours end when the rule is not urgent.
func (e *Engine) newAlert(state string, inc store.Incident, r store.AlertRule, settings store.AlertSettings, title, text string, now time.Time) store.Alert {
	a := store.Alert{Time: now, BoxID: inc.BoxID, Rule: inc.Rule, Subject: inc.Subject, State: state, IncidentKey: inc.Key,
		Title: title, Text: text, Urgent: r.Urgent}
	until := time.Time{}
	if !r.Urgent {
		until = quietUntil(settings.Quiet, now)
	}
	for _, c := range channelsOf(r, settings) {
		d := store.AlertDelivery{Channel: c.ID, Status: store.AlertDeliveryPending, At: now}
		if !until.IsZero() {
			d.Status, d.NotBefore = store.AlertDeliveryHeld, until
		}
		a.Deliveries = append(a.Deliveries, d)
	}
	return a
}

// quietBoth drops the recovery a and the opening alert openSeq when every
// delivery of the opening is still held: the incident came and went in
// quiet hours, and nobody need hear of it. It reports whether it did.
func (e *Engine) quietBoth(ctx context.Context, openSeq uint64, a *store.Alert) bool {
	if openSeq == 0 {
		return false
	}
	dropped := false
	_, err := e.d.Store.UpdateAlert(ctx, openSeq, func(o *store.Alert) error {
		if len(o.Deliveries) == 0 {
			return errNothing
		}
		for _, d := range o.Deliveries {
			if d.Status != store.AlertDeliveryHeld {
				return errNothing
			}
		}
		for i := range o.Deliveries {
			o.Deliveries[i].Status, o.Deliveries[i].At = store.AlertDeliveryDropped, a.Time
			o.Deliveries[i].Error = "cleared within quiet hours"
		}
		dropped = true
		return nil
	})
	if err != nil && !errors.Is(err, errNothing) {
		e.log.Error("dropping a held alert", "seq", openSeq, "err", err)
		return false
	}
	if dropped {
		for i := range a.Deliveries {
			a.Deliveries[i].Status, a.Deliveries[i].Error = store.AlertDeliveryDropped, "cleared within quiet hours"
		}
	}
	return dropped
}

// errNothing leaves an alert as it was.
var errNothing = errors.New("alert: nothing to change")

func sendKey(seq uint64, channel string) string { return strconv.FormatUint(seq, 10) + "/" + channel }

// sendDue starts a delivery for every pending one, and every held one
// whose quiet hours are over, that is not in flight.
func (e *Engine) sendDue(ctx context.Context, wg *sync.WaitGroup, sem chan struct{}) {
	pending, err := e.d.Store.PendingAlerts(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("reading the alerts to send", "err", err)
		}
		return
	}
	if len(pending) == 0 {
		return
	}
	settings, err := e.d.Store.GetAlertSettings(ctx)
	if err != nil {
		e.log.Error("reading the alert settings", "err", err)
		return
	}
	now := e.d.Now()
	for _, a := range pending {
		for _, d := range a.Deliveries {
			due := d.Status == store.AlertDeliveryPending || (d.Status == store.AlertDeliveryHeld && !d.NotBefore.After(now))
			k := sendKey(a.Seq, d.Channel)
			e.sendMu.Lock()
			busy := e.sending[k]
			if due && !busy {
				e.sending[k] = true
			}
			e.sendMu.Unlock()
			if !due || busy {
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				e.done(k)
				return
			}
			wg.Go(func() {
				defer func() { <-sem; e.done(k) }()
				e.deliver(ctx, a, d.Channel, settings)
			})
		}
	}
}

func (e *Engine) done(k string) {
	e.sendMu.Lock()
	defer e.sendMu.Unlock()
	delete(e.sending, k)
}

// deliver sends alert a to one channel with retries and records each try
// and the outcome. A send cut by ctx stays pending.
func (e *Engine) deliver(ctx context.Context, a store.Alert, channel string, settings store.AlertSettings) {
	i := slices.IndexFunc(settings.Channels, func(c store.AlertChannel) bool { return c.ID == channel })
	if i < 0 || settings.Channels[i].Disabled {
		e.record(ctx, a.Seq, channel, func(d *store.AlertDelivery) {
			d.Status, d.Error = store.AlertDeliveryFailed, "the channel was removed or turned off before it was sent"
		})
		return
	}
	ch := settings.Channels[i]
	m := notify.Message{Title: a.Title, Text: a.Text, Link: e.cfg.Link}
	out := notify.Deliver(ctx, e.d.Sender, NotifyChannel(ch), m, e.cfg.Backoff, e.d.Sleep, func(n int, err error) {
		if err != nil && ctx.Err() == nil {
			e.record(ctx, a.Seq, channel, func(d *store.AlertDelivery) { d.Attempts, d.Error = n, err.Error() })
		}
	})
	switch {
	case out.Err == nil:
		e.sent.Add(1)
		e.record(ctx, a.Seq, channel, func(d *store.AlertDelivery) {
			d.Status, d.Attempts, d.Error = store.AlertDeliverySent, out.Attempts, ""
		})
	case ctx.Err() != nil:
		// Stopping: it stays pending, for the next start.
	default:
		e.failedSend.Add(1)
		e.log.Warn("alert not delivered", "seq", a.Seq, "channel", channel, "attempts", out.Attempts, "err", out.Err)
		e.record(ctx, a.Seq, channel, func(d *store.AlertDelivery) {
			d.Status, d.Attempts, d.Error = store.AlertDeliveryFailed, out.Attempts, out.Err.Error()
		})
	}
}

// record changes alert seq's delivery to channel.
func (e *Engine) record(ctx context.Context, seq uint64, channel string, fn func(*store.AlertDelivery)) {
	// The outcome must be written even as the service stops.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := e.d.Store.UpdateAlert(ctx, seq, func(a *store.Alert) error {
		for i := range a.Deliveries {
			if a.Deliveries[i].Channel == channel {
				fn(&a.Deliveries[i])
				a.Deliveries[i].At = e.d.Now()
				return nil
			}
		}
		return errNothing
	})
	if err != nil && !errors.Is(err, errNothing) {
		e.log.Error("recording a delivery", "seq", seq, "channel", channel, "err", err)
	}
}

// Test sends a test message to channel c, once, and records it in the
// alert log with its outcome; the error is the send's.
func (e *Engine) Test(ctx context.Context, c store.AlertChannel, by string) (store.Alert, error) {
	if err := ValidateChannel(c); err != nil {
		return store.Alert{}, err
	}
	now := e.d.Now()
	title, text := testMessage(c.Name, now, e.cfg.Location)
	err := e.d.Sender.Send(ctx, NotifyChannel(c), notify.Message{Title: title, Text: text, Link: e.cfg.Link})
	d := store.AlertDelivery{Channel: c.ID, Status: store.AlertDeliverySent, Attempts: 1, At: e.d.Now()}
	if err != nil {
		d.Status, d.Error = store.AlertDeliveryFailed, err.Error()
	}
	a := store.Alert{Time: now, State: store.AlertTest, Subject: by, Title: title, Text: text, Deliveries: []store.AlertDelivery{d}}
	rec, rerr := e.d.Store.RecordAlert(context.WithoutCancel(ctx), a, nil, "")
	if rerr != nil {
		return store.Alert{}, fmt.Errorf("alert: record a test: %w", rerr)
	}
	return rec, err
}
