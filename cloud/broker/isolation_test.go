package broker

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/protocol"
)

// isolation proves, with real clients, that a broker keeps boxes apart as
// ARCHITECTURE.md's trust section says. The embedded broker and Mosquitto with
// configs/mosquitto run the same scenarios.
func isolation(t *testing.T, e env) {
	t.Run("bad credentials are refused", func(t *testing.T) { badCredentials(t, e) })
	t.Run("a box subscribes only inside its own subtree", func(t *testing.T) { subscribeOwnSubtree(t, e) })
	t.Run("a box publishes only its own box-to-cloud topics", func(t *testing.T) { publishOwnTopics(t, e) })
	t.Run("a refused retained publish is not retained", func(t *testing.T) { refusedRetained(t, e) })
	t.Run("the cloud may do everything", func(t *testing.T) { cloudDoesAll(t, e) })
	t.Run("retained desired is delivered on subscribe", func(t *testing.T) { retainedDesired(t, e) })
	t.Run("an oversize packet is refused, the largest payload passes", func(t *testing.T) { oversize(t, e) })
	t.Run("a persistent session keeps a box's commands", func(t *testing.T) { persistentSession(t, e) })
	t.Run("a box cannot take over another box's session", func(t *testing.T) { sessionTakeover(t, e) })
	t.Run("a box's will may only be its own status", func(t *testing.T) { willTopic(t, e) })
}

// nonce marks the payloads of one scenario run, so messages retained or
// queued by another scenario can never be taken for this one's.
func nonce(t *testing.T) string {
	return fmt.Sprintf("%s@%d", strings.ReplaceAll(t.Name(), " ", "_"), time.Now().UnixNano())
}

// forget ends box's persistent session, so scenarios do not see each
// other's queued messages.
func forget(t *testing.T, e env, box string) {
	t.Cleanup(func() {
		if c, err := e.dial(t, box, dialOpts{clientID: box}); err == nil {
			c.leave()
		}
	})
}

func badCredentials(t *testing.T, e env) {
	cases := []struct {
		name, user string
		o          dialOpts
	}{
		{"wrong password", boxA, dialOpts{password: "not-the-secret"}},
		{"another box's password", boxA, dialOpts{password: password(boxB)}},
		{"unknown user", "village-zz", dialOpts{password: "guess"}},
		{"anonymous", "", dialOpts{password: ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := e.dial(t, c.user, c.o); err == nil {
				t.Fatal("connected")
			}
		})
	}
	// The same broker lets the right password in.
	e.mustDial(t, boxA, dialOpts{})
}

func subscribeOwnSubtree(t *testing.T, e env) {
	n := nonce(t)
	cloud := e.mustDial(t, cloudUser, dialOpts{})
	retained := protocol.Topic(boxA, protocol.KindDesired)
	cloud.mustPublish(t, retained, 1, true, []byte(n+" retained"))
	t.Cleanup(func() { cloud.Publish(retained, 1, true, []byte{}).WaitTimeout(wait) }) // clears it

	b := e.mustDial(t, boxB, dialOpts{})
	refused := []string{
		protocol.Topic(boxA, protocol.KindDesired),
		protocol.Topic(boxA, protocol.KindCmd),
		protocol.Topic(boxA, protocol.KindEventsAck),
		protocol.Subtree(boxA),
		"dalaba/v1/box/#",
		"dalaba/v1/box/+/desired",
		"#",
		"$SYS/#",
		"$share/g/" + protocol.AllBoxes(protocol.KindEvents),
	}
	allowed := []string{
		protocol.Topic(boxB, protocol.KindDesired),
		protocol.Topic(boxB, protocol.KindCmd),
		protocol.Topic(boxB, protocol.KindEventsAck),
		protocol.Subtree(boxB),
	}
	got := b.subscribe(t, append(refused, allowed...)...)
	for _, f := range refused {
		if e.strict && got[f] != 0x80 {
			t.Errorf("box %s subscribing to %s: SUBACK 0x%02x, want 0x80", boxB, f, got[f])
		}
	}
	for _, f := range allowed {
		if got[f] == 0x80 {
			t.Errorf("box %s refused its own %s", boxB, f)
		}
	}

	// Whatever the SUBACK said, nothing of box A reaches box B: neither
	// the retained desired state nor anything published now.
	for _, k := range protocol.Kinds() {
		cloud.mustPublish(t, protocol.Topic(boxA, k), 1, false, []byte(n+" for a"))
	}
	barrier := protocol.Topic(boxB, protocol.KindCmd)
	cloud.mustPublish(t, barrier, 1, false, []byte(n+" barrier"))
	for _, m := range b.until(t, barrier, []byte(n+" barrier")) {
		if !strings.HasPrefix(m.Topic(), protocol.Prefix+boxB+"/") {
			t.Errorf("box %s received %s %q", boxB, m.Topic(), m.Payload())
		}
	}
}

func publishOwnTopics(t *testing.T, e env) {
	n := nonce(t)
	cloud := e.mustDial(t, cloudUser, dialOpts{})
	cloud.mustSubscribe(t, "dalaba/v1/box/#")
	b := e.mustDial(t, boxB, dialOpts{})

	denied := []string{
		protocol.Topic(boxA, protocol.KindEvents),
		protocol.Topic(boxA, protocol.KindStatus),
		protocol.Topic(boxA, protocol.KindReported),
		protocol.Topic(boxA, protocol.KindCmdResult),
		protocol.Topic(boxB, protocol.KindDesired),
		protocol.Topic(boxB, protocol.KindCmd),
		protocol.Topic(boxB, protocol.KindEventsAck),
		protocol.Prefix + boxB + "/not-a-kind",
	}
	for _, topic := range denied {
		b.publishDenied(topic, 0, false, []byte(n+" denied"))
	}
	var allowed []string
	for _, k := range protocol.Kinds() {
		if k.FromBox() {
			topic := protocol.Topic(boxB, k)
			allowed = append(allowed, topic)
			b.mustPublish(t, topic, 0, false, []byte(n+" allowed"))
		}
	}
	barrier := protocol.Topic(boxB, protocol.KindEvents)
	b.mustPublish(t, barrier, 0, false, []byte(n+" barrier"))
	seen := map[string]bool{}
	for _, m := range cloud.until(t, barrier, []byte(n+" barrier")) {
		if bytes.Equal(m.Payload(), []byte(n+" denied")) {
			t.Errorf("box %s published to %s and the cloud received it", boxB, m.Topic())
		}
		if bytes.Equal(m.Payload(), []byte(n+" allowed")) {
			seen[m.Topic()] = true
		}
	}
	for _, topic := range allowed {
		if !seen[topic] {
			t.Errorf("box %s's publish to its own %s did not reach the cloud", boxB, topic)
		}
	}

	// At QoS 1 too; the barrier comes from a new connection, since a
	// broker may close the offending one.
	b.publishDenied(protocol.Topic(boxA, protocol.KindEvents), 1, false, []byte(n+" denied"))
	b2 := e.mustDial(t, boxB, dialOpts{})
	b2.mustPublish(t, barrier, 1, false, []byte(n+" barrier 2"))
	for _, m := range cloud.until(t, barrier, []byte(n+" barrier 2")) {
		if bytes.Equal(m.Payload(), []byte(n+" denied")) {
			t.Errorf("box %s published at QoS 1 to %s and the cloud received it", boxB, m.Topic())
		}
	}
}

func refusedRetained(t *testing.T, e env) {
	n := nonce(t)
	b := e.mustDial(t, boxB, dialOpts{})
	b.publishDenied(protocol.Topic(boxB, protocol.KindDesired), 0, true, []byte(n+" denied"))
	b.publishDenied(protocol.Topic(boxA, protocol.KindStatus), 0, true, []byte(n+" denied"))
	status := protocol.Topic(boxB, protocol.KindStatus)
	b.mustPublish(t, status, 1, true, []byte(n+" status"))

	cloud := e.mustDial(t, cloudUser, dialOpts{})
	cloud.mustSubscribe(t, protocol.Subtree(boxA), protocol.Subtree(boxB))
	// Retained messages are sent on subscribe, before anything published
	// after it.
	barrier := protocol.Topic(boxB, protocol.KindCmd)
	cloud.mustPublish(t, barrier, 1, false, []byte(n+" barrier"))
	gotStatus := false
	for _, m := range cloud.until(t, barrier, []byte(n+" barrier")) {
		switch {
		case bytes.Equal(m.Payload(), []byte(n+" denied")):
			t.Errorf("a refused retained publish to %s was retained", m.Topic())
		case m.Topic() == status && bytes.Equal(m.Payload(), []byte(n+" status")):
			// The broker may also deliver it live: it acknowledges a
			// publish before it fans it out, so the cloud can subscribe
			// in between.
			gotStatus = gotStatus || m.Retained()
		}
	}
	if !gotStatus {
		t.Errorf("the box's own retained status was not delivered as retained")
	}
}

func cloudDoesAll(t *testing.T, e env) {
	n := nonce(t)
	cloud := e.mustDial(t, cloudUser, dialOpts{})
	got := cloud.subscribe(t, "#", protocol.AllBoxes(protocol.KindEvents), protocol.Subtree(boxA))
	for f, code := range got {
		if code == 0x80 {
			t.Errorf("the cloud was refused %s", f)
		}
	}
	a := e.mustDial(t, boxA, dialOpts{})
	a.mustSubscribe(t, protocol.Topic(boxA, protocol.KindCmd), protocol.Topic(boxA, protocol.KindEventsAck))
	for _, k := range []protocol.Kind{protocol.KindCmd, protocol.KindEventsAck} {
		cloud.mustPublish(t, protocol.Topic(boxA, k), 1, false, []byte(n))
		a.until(t, protocol.Topic(boxA, k), []byte(n))
	}
	// Box-to-cloud kinds too, e.g. to clear a stale retained status.
	cloud.mustPublish(t, protocol.Topic(boxA, protocol.KindEvents), 1, false, []byte(n))
	cloud.until(t, protocol.Topic(boxA, protocol.KindEvents), []byte(n))
}

func retainedDesired(t *testing.T, e env) {
	key, err := protocol.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	payload, err := protocol.SignDesired(key, protocol.Desired{BoxID: boxA, Rev: uint64(now.UnixNano()), IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	topic := protocol.Topic(boxA, protocol.KindDesired)
	// A witness hears the publish live: once it has, the broker has kept
	// the message (a broker may acknowledge a publish before handling it,
	// and a box subscribing in between would get it live, not retained).
	witness := e.mustDial(t, cloudUser, dialOpts{})
	witness.mustSubscribe(t, topic)
	cloud := e.mustDial(t, cloudUser, dialOpts{})
	cloud.mustPublish(t, topic, 1, true, payload)
	t.Cleanup(func() { cloud.Publish(topic, 1, true, []byte{}).WaitTimeout(wait) }) // an empty retained message clears it
	witness.until(t, topic, payload)

	a := e.mustDial(t, boxA, dialOpts{})
	a.mustSubscribe(t, topic)
	select {
	case m := <-a.msgs:
		if m.Topic() != topic || !m.Retained() || !bytes.Equal(m.Payload(), payload) {
			t.Fatalf("got %s retained=%v %q, want the retained desired state", m.Topic(), m.Retained(), m.Payload())
		}
		if _, err := protocol.OpenDesired(key.Public().(ed25519.PublicKey), boxA, m.Payload(), now); err != nil {
			t.Fatalf("the delivered desired state does not verify: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("no retained desired state on subscribe")
	}
}

func oversize(t *testing.T, e env) {
	topic := protocol.Topic(boxA, protocol.KindDesired)
	a := e.mustDial(t, boxA, dialOpts{})
	a.mustSubscribe(t, topic)

	big := e.mustDial(t, cloudUser, dialOpts{})
	big.Publish(topic, 1, false, bytes.Repeat([]byte("x"), MaxPacketSize())).WaitTimeout(wait)
	deadline := time.Now().Add(wait)
	for big.IsConnectionOpen() {
		if time.Now().After(deadline) {
			t.Fatalf("the broker kept the connection that sent a packet over %d bytes", MaxPacketSize())
		}
		time.Sleep(10 * time.Millisecond) // polling paho's view of the connection
	}

	largest := bytes.Repeat([]byte("y"), protocol.KindDesired.MaxPayload())
	cloud := e.mustDial(t, cloudUser, dialOpts{})
	cloud.mustPublish(t, topic, 1, false, largest)
	timeout := time.After(wait)
	for {
		select {
		case m := <-a.msgs:
			if len(m.Payload()) == 0 {
				// An earlier case's clearing of the retained desired state,
				// passed on late: mochi acknowledges a publish before it
				// delivers it. Not what this case is about.
				continue
			}
			if !bytes.Equal(m.Payload(), largest) {
				t.Fatalf("the box got %d bytes first, want the %d-byte payload (the oversize one must never arrive)", len(m.Payload()), len(largest))
			}
			return
		case <-timeout:
			t.Fatal("the largest payload the protocol allows did not arrive")
		}
	}
}

func persistentSession(t *testing.T, e env) {
	n := nonce(t)
	forget(t, e, boxA)
	cmd := protocol.Topic(boxA, protocol.KindCmd)
	a := e.mustDial(t, boxA, dialOpts{clientID: boxA, persist: true})
	a.mustSubscribe(t, cmd)
	a.leave()

	cloud := e.mustDial(t, cloudUser, dialOpts{})
	cloud.mustPublish(t, cmd, 1, false, []byte(n))
	// mochi acknowledges a publish before it queues it for subscribers; the
	// ack of a second publish on the same connection says the first is
	// queued. (A box reconnecting in that gap can miss the message: see
	// the package comment.)
	cloud.mustPublish(t, protocol.Topic(boxA, protocol.KindEventsAck), 1, false, []byte(n))

	a = e.mustDial(t, boxA, dialOpts{clientID: boxA, persist: true})
	a.until(t, cmd, []byte(n))
}

func sessionTakeover(t *testing.T, e env) {
	n := nonce(t)
	forget(t, e, boxA)
	forget(t, e, boxB)
	cmdA, cmdB := protocol.Topic(boxA, protocol.KindCmd), protocol.Topic(boxB, protocol.KindCmd)
	a := e.mustDial(t, boxA, dialOpts{clientID: boxA, persist: true})
	a.mustSubscribe(t, cmdA)
	a.leave()

	// Box B claims box A's client id, hoping for A's session.
	b := e.mustDial(t, boxB, dialOpts{clientID: boxA, persist: true})
	b.mustSubscribe(t, cmdB)
	cloud := e.mustDial(t, cloudUser, dialOpts{})
	cloud.mustPublish(t, cmdA, 1, false, []byte(n+" for a"))
	cloud.mustPublish(t, cmdB, 1, false, []byte(n+" for b"))
	for _, m := range b.until(t, cmdB, []byte(n+" for b")) {
		if m.Topic() == cmdA {
			t.Fatalf("box %s received box %s's command through a borrowed client id", boxB, boxA)
		}
	}
	// A's session is intact: the command waits for A.
	a = e.mustDial(t, boxA, dialOpts{clientID: boxA, persist: true})
	a.until(t, cmdA, []byte(n+" for a"))
}

func willTopic(t *testing.T, e env) {
	n := nonce(t)
	cloud := e.mustDial(t, cloudUser, dialOpts{})
	cloud.mustSubscribe(t, protocol.Topic(boxA, protocol.KindStatus), protocol.Topic(boxB, protocol.KindStatus))

	code, conn := e.rawConnect(t, boxB, uniqueClientID(boxB), protocol.Topic(boxA, protocol.KindStatus), []byte(n+" forged will"))
	if conn != nil {
		if e.strict {
			t.Errorf("box %s connected with a will on box %s's status", boxB, boxA)
		}
		conn.Close() // without DISCONNECT: the will is due, and must be withheld
	} else if code != 0x05 {
		t.Errorf("CONNACK code %d, want 5 (not authorized)", code)
	}

	// Its own status is allowed, and the will is published when the
	// connection drops without DISCONNECT.
	own := protocol.Topic(boxB, protocol.KindStatus)
	code, conn = e.rawConnect(t, boxB, uniqueClientID(boxB), own, []byte(n+" offline"))
	if conn == nil {
		t.Fatalf("box %s refused (code %d) with a will on its own status", boxB, code)
	}
	conn.Close()
	for _, m := range cloud.until(t, own, []byte(n+" offline")) {
		if bytes.Contains(m.Payload(), []byte(n+" forged will")) {
			t.Fatalf("the forged will reached the cloud on %s", m.Topic())
		}
	}
}
