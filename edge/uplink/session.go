package uplink

import (
	"context"
	"errors"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/dalaba/dalaba/edge/outbox"
	"github.com/dalaba/dalaba/protocol"
)

// writeTimeout bounds one socket write and paho's wait to queue a publish.
// It is generous because a 512 KiB batch on a weak village mobile link can
// take tens of seconds; a stall longer than this means the link is dead.
const writeTimeout = 30 * time.Second

// conn is one connection: a fresh paho client (memory store, no
// auto-reconnect) and the signal that it was lost.
type conn struct {
	cl   mqtt.Client
	lost chan error
}

// sessions connects, serves and reconnects until ctx ends.
func (u *Uplink) sessions(ctx context.Context) error {
	failures := 0
	for {
		c, err := u.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			wait := backoff(failures, u.cfg.BackoffMin, u.cfg.BackoffMax, u.rng)
			failures++
			u.log.Warn("connect failed", "broker", u.cfg.BrokerURL, "attempt", failures, "retry_in", wait, "err", err)
			if !u.sleep(ctx, wait) {
				return nil
			}
			continue
		}
		start := u.d.Clock.Now()
		err = u.serve(ctx, c)
		u.connected.Store(false)
		if ctx.Err() != nil {
			u.goodbye(c.cl)
			return nil
		}
		// A session that held resets the backoff; one dropped right after
		// connecting (a broker that accepts and then kicks the box, say)
		// keeps growing it, so a flapping broker is not hammered.
		if u.d.Clock.Now().Sub(start) >= u.cfg.BackoffMax {
			failures = 0
		}
		wait := backoff(failures, u.cfg.BackoffMin, u.cfg.BackoffMax, u.rng)
		failures++
		u.log.Warn("connection lost", "broker", u.cfg.BrokerURL, "retry_in", wait, "err", err)
		if !u.sleep(ctx, wait) {
			return nil
		}
	}
}

// sleep waits d on the injected clock; false if ctx ended first.
func (u *Uplink) sleep(ctx context.Context, d time.Duration) bool {
	t := u.d.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// connect makes a new paho client and brings the session up: connect,
// subscribe, announce online, publish reported. Subscribing on every
// connect, session present or not, matters: a broker that restarted without
// persistence has forgotten the session.
func (u *Uplink) connect(ctx context.Context) (*conn, error) {
	c := &conn{lost: make(chan error, 1)}
	o := mqtt.NewClientOptions().
		AddBroker(u.cfg.BrokerURL).
		SetClientID(u.cfg.BoxID).
		SetUsername(u.cfg.Username).
		SetPassword(u.cfg.Password).
		SetProtocolVersion(4). // 3.1.1; no silent retry as 3.1
		SetCleanSession(false).
		SetKeepAlive(u.cfg.KeepAlive).
		SetConnectTimeout(u.cfg.ConnectTimeout).
		SetWriteTimeout(writeTimeout).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetStore(mqtt.NewMemoryStore()).
		// In order, on paho's router goroutine; route never blocks.
		SetOrderMatters(true).
		// Messages the broker queued for the persistent session arrive
		// right after CONNACK, before any SUBACK; paho neither routes nor
		// acks a message without a handler, so one default handler takes
		// everything.
		SetDefaultPublishHandler(u.route).
		SetBinaryWill(protocol.Topic(u.cfg.BoxID, protocol.KindStatus), u.status(false, time.Time{}), 1, true).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case c.lost <- err:
			default:
			}
		})
	if u.tls != nil {
		o.SetTLSConfig(u.tls)
	}
	c.cl = mqtt.NewClient(o)
	fail := func(op string, err error) (*conn, error) {
		c.cl.Disconnect(0)
		return nil, fmt.Errorf("uplink: %s: %w", op, err)
	}
	tok := c.cl.Connect()
	if err := wait(ctx, tok, 2*u.cfg.ConnectTimeout); err != nil {
		return fail("connect", err)
	}
	present := tok.(*mqtt.ConnectToken).SessionPresent()

	subs := map[string]byte{
		protocol.Topic(u.cfg.BoxID, protocol.KindDesired):   1,
		protocol.Topic(u.cfg.BoxID, protocol.KindCmd):       1,
		protocol.Topic(u.cfg.BoxID, protocol.KindEventsAck): 1,
	}
	st := c.cl.SubscribeMultiple(subs, nil) // nil: the default handler routes
	if err := wait(ctx, st, u.cfg.ConnectTimeout); err != nil {
		return fail("subscribe", err)
	}
	for topic, qos := range st.(*mqtt.SubscribeToken).Result() {
		if qos > 2 { // 0x80: refused, e.g. by the broker's ACL
			return fail("subscribe", fmt.Errorf("broker refused %s", topic))
		}
	}
	online := c.cl.Publish(protocol.Topic(u.cfg.BoxID, protocol.KindStatus), 1, true, u.status(true, u.d.Clock.Now()))
	if err := wait(ctx, online, u.cfg.ConnectTimeout); err != nil {
		return fail("publish online status", err)
	}
	select { // a pending request is served by the publish just below
	case <-u.report:
	default:
	}
	u.publishReported(c.cl)
	u.connected.Store(true)
	u.sessionsUp.Add(1)
	u.log.Info("connected", "broker", u.cfg.BrokerURL, "session_present", present)
	return c, nil
}

// wait waits for a paho token, in real time since paho's I/O runs on it.
func wait(ctx context.Context, tok mqtt.Token, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-t.C:
		return fmt.Errorf("no answer within %s", d)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (u *Uplink) status(online bool, at time.Time) []byte {
	b, err := protocol.Marshal(protocol.KindStatus, protocol.Status{V: protocol.Version, BoxID: u.cfg.BoxID, Online: online, At: at})
	if err != nil { // a validated box id and a bool: cannot exceed the limit
		panic(fmt.Sprintf("uplink: encode status: %v", err))
	}
	return b
}

// goodbye announces the box offline, retained, before a clean disconnect
// (which discards the will), so the township knows at once rather than
// after a keepalive.
func (u *Uplink) goodbye(cl mqtt.Client) {
	// The answers of the commands the box finished while stopping go out
	// before it says it is offline (a restart's, say), in order with it.
	for drained := false; !drained; {
		select {
		case r := <-u.results:
			u.publishResult(cl, r)
		default:
			drained = true
		}
	}
	tok := cl.Publish(protocol.Topic(u.cfg.BoxID, protocol.KindStatus), 1, true, u.status(false, u.d.Clock.Now()))
	if !tok.WaitTimeout(goodbyeWait) || tok.Error() != nil {
		u.log.Warn("offline status not confirmed before disconnecting", "err", tok.Error())
	}
	cl.Disconnect(250)
	u.log.Info("disconnected")
}

// route runs on paho's router goroutine and never blocks: acks are decoded
// and folded into ackSeen; desired state and commands are copied into the
// dispatcher's bounded queue.
func (u *Uplink) route(_ mqtt.Client, m mqtt.Message) {
	box, k, err := protocol.ParseTopic(m.Topic())
	if err != nil || box != u.cfg.BoxID {
		u.log.Warn("message on an unexpected topic ignored", "topic", m.Topic())
		return
	}
	switch k {
	case protocol.KindEventsAck:
		u.onAck(m.Payload())
	case protocol.KindDesired, protocol.KindCmd:
		if len(m.Payload()) == 0 {
			// An empty retained message is the broker clearing the topic,
			// not a desired state to judge.
			u.log.Info("empty payload ignored", "topic", m.Topic())
			return
		}
		select {
		case u.in <- inbound{kind: k, payload: append([]byte(nil), m.Payload()...)}:
		default:
			n := u.droppedIn.Add(1)
			u.log.Error("inbound queue full; message dropped", "topic", m.Topic(), "count", n)
		}
	default:
		u.log.Warn("message on an unexpected topic ignored", "topic", m.Topic())
	}
}

// onAck accepts an ack only if it decodes strictly, names the outbox's
// epoch and does not exceed what was published: deleting beyond that would
// lose events the township never saw. An ack of another epoch answers a
// batch of an earlier life of this data directory, or of another box with
// this id; it says nothing of the events queued now.
func (u *Uplink) onAck(payload []byte) {
	a, err := protocol.DecodeEventsAck(u.cfg.BoxID, payload)
	if err != nil {
		if n := u.badAcks.Add(1); n&(n-1) == 0 { // 1, 2, 4, 8…: a flood stays a few lines
			u.log.Warn("malformed ack ignored", "count", n, "err", err)
		}
		return
	}
	if epoch := *u.epoch.Load(); a.Epoch != epoch {
		if n := u.otherAcks.Add(1); n&(n-1) == 0 {
			u.log.Warn("ack of another epoch ignored", "ack_epoch", a.Epoch, "epoch", epoch, "seq", a.Seq, "count", n)
		}
		return
	}
	if pub := u.published.Load(); a.Seq > pub {
		if n := u.aheadAcks.Add(1); n&(n-1) == 0 {
			u.log.Warn("ack beyond what was sent ignored", "seq", a.Seq, "published", pub, "count", n)
		}
		return
	}
	select {
	case u.acks <- a:
	default:
		if n := u.droppedAcks.Add(1); n&(n-1) == 0 {
			u.log.Warn("ack queue full; ack dropped (the resend after the ack timeout recovers)", "seq", a.Seq, "count", n)
		}
	}
}

// drain is one connection's upload state.
type drain struct {
	sent     uint64   // highest seq published on this connection, or acked after a rewind
	inflight []uint64 // last seq of each batch in flight, ascending
	window   int      // batches allowed in flight: cfg.Window, or 1 after a timeout
	ackWait  time.Duration
	deadline time.Time // when the ack timer is due; zero when disarmed
	unsent   error     // why the last fill stopped early, logged once per change
	sinceRep int       // events sent since Reported was last published after a drain
}

// serve drains the outbox and publishes reported state and command results
// until the connection is lost or ctx ends. It starts from the last acked
// seq: whatever was in flight on the previous connection is sent again.
func (u *Uplink) serve(ctx context.Context, c *conn) error {
	dr := &drain{sent: u.acked, window: u.cfg.Window, ackWait: u.cfg.AckTimeout}
	timer := u.d.Clock.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	arm := func(d time.Duration) {
		dr.deadline = u.d.Clock.Now().Add(d)
		timer.Reset(d)
	}
	disarm := func() {
		dr.deadline = time.Time{}
		timer.Stop()
	}
	for {
		u.fill(c.cl, dr, arm)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-c.lost:
			return err
		case <-u.d.Outbox.Appended():
		case a := <-u.acks:
			u.applyAcks(c.cl, dr, a, arm, disarm)
		case <-timer.C():
			if dr.deadline.IsZero() {
				continue // fired as it was being stopped
			}
			if left := dr.deadline.Sub(u.d.Clock.Now()); left > 0 {
				timer.Reset(left) // a stale fire; not yet due
				continue
			}
			dr.deadline = time.Time{}
			if len(dr.inflight) == 0 {
				continue // a retry after a failed read: fill tries again
			}
			u.log.Warn("no ack progress; resending", "from_seq", u.acked+1, "in_flight", len(dr.inflight), "waited", dr.ackWait)
			// Collapse to one batch and wait longer each time, so a
			// township that receives but never acks (down, or its store
			// failing) costs the village's mobile data little.
			dr.sent, dr.inflight, dr.window = u.acked, dr.inflight[:0], 1
			dr.ackWait = min(2*dr.ackWait, max(u.cfg.AckTimeout, u.cfg.BackoffMax))
		case <-u.report:
			u.publishReported(c.cl)
		case r := <-u.results:
			u.publishResult(c.cl, r)
		}
	}
}

// fill publishes batches while the window has room and the outbox has
// unsent events.
func (u *Uplink) fill(cl mqtt.Client, dr *drain, arm func(time.Duration)) {
	topic := protocol.Topic(u.cfg.BoxID, protocol.KindEvents)
	for len(dr.inflight) < dr.window {
		payload, last, n, err := u.nextBatch(dr.sent)
		if err != nil {
			if dr.unsent == nil || dr.unsent.Error() != err.Error() {
				u.log.Error("cannot send the next batch; retrying", "from_seq", dr.sent+1, "err", err)
			}
			dr.unsent = err
			if dr.deadline.IsZero() {
				arm(u.cfg.AckTimeout)
			}
			return
		}
		dr.unsent = nil
		if n == 0 {
			return
		}
		// Before the publish, so that an ack for it can never look bogus.
		if last > u.published.Load() {
			u.published.Store(last)
		}
		// The token is not awaited: it may complete with no broker ack
		// after a reconnect, and only the township's ack counts anyway.
		cl.Publish(topic, 1, false, payload)
		if len(dr.inflight) == 0 {
			arm(dr.ackWait)
		}
		dr.inflight = append(dr.inflight, last)
		dr.sent = last
		dr.sinceRep += n
	}
}

// nextBatch reads and encodes the batch after seq. If the encoding exceeds
// the topic's limit (BatchBytes counts stored bytes; JSON escaping can grow
// them) it halves the batch until it fits.
func (u *Uplink) nextBatch(after uint64) (payload []byte, last uint64, n int, err error) {
	b, err := u.d.Outbox.Read(after, u.cfg.BatchEvents, u.cfg.BatchBytes)
	evs := b.Events
	if err != nil || len(evs) == 0 {
		return nil, 0, 0, err
	}
	for {
		payload, err = protocol.Marshal(protocol.KindEvents, protocol.EventBatch{V: protocol.Version, BoxID: u.cfg.BoxID, Epoch: b.Epoch, Floor: b.Floor, Events: evs})
		if rej, ok := errors.AsType[*protocol.RejectError](err); ok && rej.Reason == protocol.ReasonTooLarge && len(evs) > 1 {
			evs = evs[:len(evs)/2]
			continue
		}
		if err != nil {
			return nil, 0, 0, fmt.Errorf("uplink: encode batch from seq %d: %w", evs[0].Seq, err)
		}
		return payload, evs[len(evs)-1].Seq, len(evs), nil
	}
}

// applyAcks applies a and every ack queued behind it, in order. Acks that
// follow on from each other (each starting at or below the end of the one
// before) are folded into one deletion: one commit for a window of acks.
func (u *Uplink) applyAcks(cl mqtt.Client, dr *drain, a protocol.EventsAck, arm func(time.Duration), disarm func()) {
	cur := a
	for {
		var next protocol.EventsAck
		select {
		case next = <-u.acks:
		default:
			u.applyAck(cl, dr, cur, arm, disarm)
			return
		}
		if !cur.Diverged && !next.Diverged && next.Epoch == cur.Epoch && next.From <= cur.Seq+1 {
			cur.Seq = max(cur.Seq, next.Seq)
			continue
		}
		u.applyAck(cl, dr, cur, arm, disarm)
		cur = next
	}
}

// applyAck deletes what a vouches for, frees the window and, when a large
// drain has just completed, publishes reported state with the new backlog.
// A diverged ack moves the outbox to a new epoch and rewinds the drain.
func (u *Uplink) applyAck(cl mqtt.Client, dr *drain, a protocol.EventsAck, arm func(time.Duration), disarm func()) {
	if a.Diverged {
		u.newEpoch(dr, a, disarm)
		return
	}
	if a.Seq <= u.acked {
		return
	}
	deleted, err := u.d.Outbox.Ack(a.Epoch, a.From, a.Seq)
	switch {
	case errors.Is(err, outbox.ErrOtherEpoch):
		u.otherAcks.Add(1) // the epoch changed after the ack was queued
		return
	case errors.Is(err, outbox.ErrAckGap):
		// A batch before this one went missing: its events are not
		// covered. The ack timeout resends from the lowest queued seq.
		if n := u.gapAcks.Add(1); n&(n-1) == 0 {
			u.log.Warn("ack that does not reach the lowest queued seq ignored", "from", a.From, "seq", a.Seq, "count", n)
		}
		return
	case err != nil:
		// Kept in flight: the next ack, or the resend after the ack
		// timeout and the township's answer to it, retries.
		u.log.Error("deleting acknowledged events", "seq", a.Seq, "err", err)
		return
	}
	u.log.Debug("acknowledged", "seq", a.Seq, "deleted", deleted)
	u.acked = a.Seq
	dr.sent = max(dr.sent, a.Seq)
	i := 0
	for i < len(dr.inflight) && dr.inflight[i] <= a.Seq {
		i++
	}
	dr.inflight = append(dr.inflight[:0], dr.inflight[i:]...)
	dr.window, dr.ackWait = u.cfg.Window, u.cfg.AckTimeout
	if len(dr.inflight) > 0 {
		arm(dr.ackWait)
		return
	}
	disarm()
	if dr.sinceRep >= u.cfg.BatchEvents && u.d.Outbox.Stats().Backlog == 0 {
		dr.sinceRep = 0
		u.publishReported(cl)
	}
}

// newEpoch answers a diverged ack: the township holds other events under
// the outbox's epoch than this box sent. The outbox deletes what the ack
// vouches for and moves the rest to a new epoch; the drain starts again
// from the lowest queued seq, under the new epoch, so the township keeps
// these events apart from the ones it holds.
func (u *Uplink) newEpoch(dr *drain, a protocol.EventsAck, disarm func()) {
	epoch, deleted, err := u.d.Outbox.NewEpoch(a.Epoch, a.From, a.Seq)
	if errors.Is(err, outbox.ErrOtherEpoch) {
		return // moved already, on an earlier diverged ack
	}
	if err != nil {
		// The township says diverged again to the resend.
		u.log.Error("moving the outbox to a new epoch", "epoch", a.Epoch, "err", err)
		return
	}
	u.epoch.Store(&epoch)
	if deleted > 0 {
		u.acked = max(u.acked, a.Seq)
	}
	u.log.Warn("the township holds other events under this box's epoch (its data directory is an older copy, or another box has its id): the outbox moved to a new epoch and is sent again",
		"old_epoch", a.Epoch, "epoch", epoch, "seq", a.Seq, "deleted", deleted)
	dr.sent, dr.inflight = u.acked, dr.inflight[:0]
	dr.window, dr.ackWait = u.cfg.Window, u.cfg.AckTimeout
	disarm()
}

func (u *Uplink) publishReported(cl mqtt.Client) {
	r := u.d.Reported()
	r.V, r.BoxID = protocol.Version, u.cfg.BoxID
	r.OutboxBacklog = u.d.Outbox.Stats().Backlog
	if r.At.IsZero() {
		r.At = u.d.Clock.Now()
	}
	if r.Version == "" {
		r.Version = u.cfg.Version
	}
	b, err := protocol.Marshal(protocol.KindReported, r)
	if err != nil {
		u.log.Error("encoding reported state", "err", err)
		return
	}
	cl.Publish(protocol.Topic(u.cfg.BoxID, protocol.KindReported), 1, true, b)
}

func (u *Uplink) publishResult(cl mqtt.Client, r protocol.CommandResult) {
	b, err := protocol.Marshal(protocol.KindCmdResult, r)
	if err == nil && (r.ID == "" || len(r.ID) > protocol.MaxCommandIDLen) {
		err = fmt.Errorf("id %q: must be 1-%d bytes", r.ID, protocol.MaxCommandIDLen)
	}
	if err != nil {
		u.log.Error("command result dropped", "command_id", r.ID, "err", err)
		return
	}
	cl.Publish(protocol.Topic(u.cfg.BoxID, protocol.KindCmdResult), 1, false, b)
}
