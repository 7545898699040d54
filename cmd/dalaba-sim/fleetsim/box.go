package fleetsim

import (
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/dalaba/dalaba/protocol"
)

// Queues between paho's router and the box's goroutine, as the box's
// uplink has them: a full one drops (an ack lost is recovered by the
// resend after the ack timeout).
const (
	ackQueue     = 128
	inboundQueue = 64
)

// box is one simulated box. Its goroutine (run) owns the connection and
// the drain; mu guards what Stats and Boxes read.
type box struct {
	f   *Fleet
	id  Box
	rng *mrand.Rand

	acks  chan protocol.EventsAck
	in    chan inbound
	lost  chan error // of the current connection; buffered 1
	start time.Time

	mu         sync.Mutex
	epoch      string
	nextSeq    uint64
	outbox     []protocol.Event // unacked, ascending seq
	acked      uint64
	published  uint64 // highest seq handed to paho, so a bogus ack is refused
	online     bool
	appliedRev uint64
}

type inbound struct {
	kind    protocol.Kind
	payload []byte
}

func newBox(f *Fleet, id Box) *box {
	return &box{
		f: f, id: id, rng: mrand.New(mrand.NewPCG(mrand.Uint64(), mrand.Uint64())),
		acks: make(chan protocol.EventsAck, ackQueue), in: make(chan inbound, inboundQueue),
		epoch: newEpoch(), nextSeq: 1,
	}
}

func (b *box) pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.outbox)
}

// record appends an event to the outbox.
func (b *box) record(typ string, prio protocol.Priority, data any) {
	raw, err := json.Marshal(data)
	if err != nil { // plain structs and maps of numbers
		panic(fmt.Sprintf("fleetsim: encode %s: %v", typ, err))
	}
	b.mu.Lock()
	b.outbox = append(b.outbox, protocol.Event{Seq: b.nextSeq, Time: time.Now().UTC(), Type: typ, Priority: prio, Data: raw})
	b.nextSeq++
	b.mu.Unlock()
	b.f.st.recorded.Add(1)
}

func (b *box) health() protocol.Health {
	b.mu.Lock()
	backlog := uint64(len(b.outbox))
	b.mu.Unlock()
	return protocol.Health{DiskFreeBytes: 12 << 30, DiskTotalBytes: 16 << 30, OutboxBacklog: backlog, OutboxBytes: backlog * 200,
		ClockTrusted: true, Clock: time.Now().UTC(), UptimeSeconds: int64(time.Since(b.start) / time.Second)}
}

// drain is one connection's upload state, as the box's uplink keeps it.
type drain struct {
	sent     uint64   // highest seq published on this connection
	inflight []uint64 // last seq of each batch in flight
	window   int
	ackWait  time.Duration // real
	due      time.Time     // ack timer; zero: disarmed
}

// run is the box's life: record, connect, drain, reconnect after a
// jittered backoff, until ctx ends.
func (b *box) run(ctx context.Context, delay time.Duration) {
	b.start = time.Now()
	b.record(protocol.EventBoxStarted, protocol.PriorityInfo, map[string]string{"version": "fleetsim"})
	for i := range b.f.cfg.Backlog {
		b.record("sim.backlog", protocol.PriorityDebug, map[string]int{"n": i})
	}
	if !sleep(ctx, delay) {
		return
	}
	healthT := time.NewTicker(b.f.real(b.f.cfg.HealthEvery))
	defer healthT.Stop()
	var eventsC <-chan time.Time
	if r := b.f.cfg.EventsPerHour; r > 0 {
		t := time.NewTicker(b.f.real(time.Duration(float64(time.Hour) / r)))
		defer t.Stop()
		eventsC = t.C
	}
	ackT := time.NewTimer(time.Hour)
	ackT.Stop()
	defer ackT.Stop()

	failures := 0
	for ctx.Err() == nil {
		cl, err := b.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			b.f.st.connectFails.Add(1)
			wait := b.f.real(backoff(failures, b.f.cfg.BackoffMin, b.f.cfg.BackoffMax, b.rng))
			failures++
			b.f.log.Debug("connect failed", "box_id", b.id.ID, "retry_in", wait, "err", err)
			if !b.idle(ctx, wait, healthT.C, eventsC) {
				return
			}
			continue
		}
		b.setOnline(true)
		began := time.Now()
		dr := &drain{sent: b.ackedSeq(), window: b.f.cfg.Window, ackWait: b.f.real(b.f.cfg.AckTimeout)}
		err = b.serve(ctx, cl, dr, healthT.C, eventsC, ackT)
		b.setOnline(false)
		if ctx.Err() != nil {
			b.goodbye(cl)
			return
		}
		b.f.st.lost.Add(1)
		if time.Since(began) >= b.f.real(b.f.cfg.BackoffMax) {
			failures = 0
		}
		wait := b.f.real(backoff(failures, b.f.cfg.BackoffMin, b.f.cfg.BackoffMax, b.rng))
		failures++
		b.f.log.Debug("connection lost", "box_id", b.id.ID, "retry_in", wait, "err", err)
		if !b.idle(ctx, wait, healthT.C, eventsC) {
			return
		}
	}
}

func (b *box) setOnline(on bool) {
	b.mu.Lock()
	b.online = on
	b.mu.Unlock()
	if on {
		b.f.st.online.Add(1)
		b.f.st.connects.Add(1)
	} else {
		b.f.st.online.Add(-1)
	}
}

func (b *box) ackedSeq() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.acked
}

// idle waits d while offline, recording what the box records meanwhile.
func (b *box) idle(ctx context.Context, d time.Duration, health, events <-chan time.Time) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-health:
			b.record(protocol.EventHealth, protocol.PriorityInfo, b.health())
		case <-events:
			b.record("sim.event", protocol.PriorityNotice, map[string]int64{"at": time.Now().UnixMilli()})
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// connect brings a session up as the box's uplink does: a fresh client
// (3.1.1, persistent session, the retained offline will), subscribe to
// desired, cmd and events/ack, announce online (retained), publish the
// reported state.
func (b *box) connect(ctx context.Context) (mqtt.Client, error) {
	lost := make(chan error, 1)
	b.lost = lost
	o := mqtt.NewClientOptions().
		AddBroker(b.f.cfg.BrokerURL).
		SetClientID(b.id.ID).
		SetUsername(b.id.ID).
		SetPassword(b.id.Password).
		SetProtocolVersion(4).
		SetCleanSession(false).
		SetKeepAlive(b.f.cfg.KeepAlive).
		SetConnectTimeout(b.f.cfg.ConnectTimeout).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetStore(mqtt.NewMemoryStore()).
		SetOrderMatters(true).
		SetDefaultPublishHandler(b.route).
		SetBinaryWill(protocol.Topic(b.id.ID, protocol.KindStatus), b.status(false), 1, true).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
	cl := mqtt.NewClient(o)
	fail := func(op string, err error) (mqtt.Client, error) {
		cl.Disconnect(0)
		return nil, fmt.Errorf("fleetsim: %s %s: %w", b.id.ID, op, err)
	}
	if err := wait(ctx, cl.Connect(), 2*b.f.cfg.ConnectTimeout); err != nil {
		return fail("connect", err)
	}
	st := cl.SubscribeMultiple(map[string]byte{
		protocol.Topic(b.id.ID, protocol.KindDesired):   1,
		protocol.Topic(b.id.ID, protocol.KindCmd):       1,
		protocol.Topic(b.id.ID, protocol.KindEventsAck): 1,
	}, nil)
	if err := wait(ctx, st, b.f.cfg.ConnectTimeout); err != nil {
		return fail("subscribe", err)
	}
	for topic, qos := range st.(*mqtt.SubscribeToken).Result() {
		if qos > 2 {
			return fail("subscribe", fmt.Errorf("broker refused %s", topic))
		}
	}
	if err := wait(ctx, cl.Publish(protocol.Topic(b.id.ID, protocol.KindStatus), 1, true, b.status(true)), b.f.cfg.ConnectTimeout); err != nil {
		return fail("publish online status", err)
	}
	b.publishReported(cl)
	return cl, nil
}

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

func (b *box) status(online bool) []byte {
	s := protocol.Status{V: protocol.Version, BoxID: b.id.ID, Online: online}
	if online {
		s.At = time.Now().UTC()
	}
	p, err := protocol.Marshal(protocol.KindStatus, s)
	if err != nil { // a validated id and a bool
		panic(fmt.Sprintf("fleetsim: encode status: %v", err))
	}
	return p
}

func (b *box) publishReported(cl mqtt.Client) {
	h := b.health()
	b.mu.Lock()
	rev := b.appliedRev
	b.mu.Unlock()
	p, err := protocol.Marshal(protocol.KindReported, protocol.Reported{V: protocol.Version, BoxID: b.id.ID, AppliedRev: rev,
		OutboxBacklog: h.OutboxBacklog, At: time.Now().UTC(), Version: "fleetsim", Health: &h})
	if err != nil {
		b.f.log.Error("encoding reported state", "box_id", b.id.ID, "err", err)
		return
	}
	cl.Publish(protocol.Topic(b.id.ID, protocol.KindReported), 1, true, p)
}

// goodbye publishes the retained offline status and disconnects cleanly.
func (b *box) goodbye(cl mqtt.Client) {
	tok := cl.Publish(protocol.Topic(b.id.ID, protocol.KindStatus), 1, true, b.status(false))
	tok.WaitTimeout(2 * time.Second)
	cl.Disconnect(250)
}

// route runs on paho's router goroutine and never blocks.
func (b *box) route(_ mqtt.Client, m mqtt.Message) {
	id, k, err := protocol.ParseTopic(m.Topic())
	if err != nil || id != b.id.ID {
		return
	}
	switch k {
	case protocol.KindEventsAck:
		a, err := protocol.DecodeEventsAck(b.id.ID, m.Payload())
		if err != nil {
			return
		}
		b.mu.Lock()
		ok := a.Epoch == b.epoch && a.Seq <= b.published
		b.mu.Unlock()
		if !ok {
			return
		}
		select {
		case b.acks <- a:
		default:
		}
	case protocol.KindDesired, protocol.KindCmd:
		if len(m.Payload()) == 0 {
			return
		}
		select {
		case b.in <- inbound{kind: k, payload: append([]byte(nil), m.Payload()...)}:
		default:
		}
	}
}

// serve drains the outbox and answers until the connection is lost or ctx
// ends.
func (b *box) serve(ctx context.Context, cl mqtt.Client, dr *drain, health, events <-chan time.Time, ackT *time.Timer) error {
	arm := func() {
		dr.due = time.Now().Add(dr.ackWait)
		ackT.Reset(dr.ackWait)
	}
	defer ackT.Stop()
	for {
		b.fill(cl, dr, arm)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-b.lost:
			return err
		case <-health:
			b.record(protocol.EventHealth, protocol.PriorityInfo, b.health())
			b.publishReported(cl)
		case <-events:
			b.record("sim.event", protocol.PriorityNotice, map[string]int64{"at": time.Now().UnixMilli()})
		case a := <-b.acks:
			b.applyAck(dr, a, arm)
		case m := <-b.in:
			b.inbound(cl, m)
		case <-ackT.C:
			if dr.due.IsZero() || time.Now().Before(dr.due) || len(dr.inflight) == 0 {
				continue
			}
			// As the box: collapse to one batch and wait longer each time.
			b.f.st.resends.Add(1)
			dr.sent, dr.inflight, dr.window, dr.due = b.ackedSeq(), dr.inflight[:0], 1, time.Time{}
			dr.ackWait = min(2*dr.ackWait, b.f.real(max(b.f.cfg.AckTimeout, b.f.cfg.BackoffMax)))
		}
	}
}

// fill publishes batches while the window has room.
func (b *box) fill(cl mqtt.Client, dr *drain, arm func()) {
	topic := protocol.Topic(b.id.ID, protocol.KindEvents)
	for len(dr.inflight) < dr.window {
		b.mu.Lock()
		i := 0
		for i < len(b.outbox) && b.outbox[i].Seq <= dr.sent {
			i++
		}
		evs := b.outbox[i:min(len(b.outbox), i+b.f.cfg.BatchEvents)]
		floor := b.acked + 1
		epoch := b.epoch
		if len(evs) > 0 {
			b.published = max(b.published, evs[len(evs)-1].Seq)
		}
		b.mu.Unlock()
		if len(evs) == 0 {
			return
		}
		p, err := protocol.Marshal(protocol.KindEvents, protocol.EventBatch{V: protocol.Version, BoxID: b.id.ID, Epoch: epoch, Floor: floor, Events: evs})
		if err != nil {
			b.f.log.Error("encoding a batch", "box_id", b.id.ID, "err", err)
			return
		}
		cl.Publish(topic, 1, false, p)
		b.f.st.batches.Add(1)
		b.f.st.sent.Add(uint64(len(evs)))
		if len(dr.inflight) == 0 {
			arm()
		}
		last := evs[len(evs)-1].Seq
		dr.inflight = append(dr.inflight, last)
		dr.sent = last
	}
}

// applyAck deletes what the ack vouches for: the box deletes only from
// its lowest queued seq on, so an ack that does not reach it is ignored.
func (b *box) applyAck(dr *drain, a protocol.EventsAck, arm func()) {
	if a.Diverged {
		// The township holds other events under this epoch: start a new
		// one from the lowest queued seq, as the box does.
		b.mu.Lock()
		b.epoch = newEpoch()
		b.mu.Unlock()
		dr.sent, dr.inflight, dr.due = b.ackedSeq(), dr.inflight[:0], time.Time{}
		return
	}
	b.mu.Lock()
	if a.Seq <= b.acked || a.From > b.acked+1 {
		b.mu.Unlock()
		return
	}
	n := 0
	for n < len(b.outbox) && b.outbox[n].Seq <= a.Seq {
		n++
	}
	b.outbox = append(b.outbox[:0], b.outbox[n:]...)
	b.acked = a.Seq
	b.mu.Unlock()
	b.f.st.acked.Add(uint64(n))
	dr.sent = max(dr.sent, a.Seq)
	i := 0
	for i < len(dr.inflight) && dr.inflight[i] <= a.Seq {
		i++
	}
	dr.inflight = append(dr.inflight[:0], dr.inflight[i:]...)
	dr.window, dr.ackWait = b.f.cfg.Window, b.f.real(b.f.cfg.AckTimeout)
	if len(dr.inflight) > 0 {
		arm()
	} else {
		dr.due = time.Time{}
	}
}

// inbound takes a desired state or command: verified with the township's
// key when the fleet has it; a desired state's rev is then applied and
// reported, a command answered unknown_command (a simulated box carries
// nothing out).
func (b *box) inbound(cl mqtt.Client, m inbound) {
	key := b.f.cfg.TownshipKey
	switch m.kind {
	case protocol.KindDesired:
		b.f.st.desired.Add(1)
		if key == nil {
			return
		}
		d, err := protocol.OpenDesired(key, b.id.ID, m.payload, time.Now())
		if err != nil {
			return
		}
		b.mu.Lock()
		newer := d.Rev > b.appliedRev
		if newer {
			b.appliedRev = d.Rev
		}
		b.mu.Unlock()
		if newer {
			b.publishReported(cl)
		}
	case protocol.KindCmd:
		b.f.st.cmds.Add(1)
		if key == nil {
			return
		}
		c, err := protocol.OpenCommand(key, b.id.ID, m.payload, time.Now())
		if err != nil {
			return
		}
		p, err := protocol.Marshal(protocol.KindCmdResult, protocol.CommandResult{V: protocol.Version, ID: c.ID, BoxID: b.id.ID,
			Code: protocol.CodeUnknownCommand, Error: "a simulated box carries out no commands"})
		if err == nil {
			cl.Publish(protocol.Topic(b.id.ID, protocol.KindCmdResult), 1, false, p)
		}
	}
}
