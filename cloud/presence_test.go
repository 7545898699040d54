package cloud

import (
	"fmt"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/dalaba/dalaba/cloud/config"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// offlineWithin is how soon a box whose connection to the embedded broker
// ended must show offline in the API: at once (milliseconds) when healthy,
// a second on a loaded machine.
const offlineWithin = time.Second

// forge connects with a box's credentials, says the box is online
// (retained, as the box's own status is) and leaves cleanly, as a stolen
// or copied config could.
func forge(t *testing.T, ec edgeConfig, brokerURL, clientID string) {
	t.Helper()
	cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(clientID).
		SetUsername(ec.Broker.Username).SetPassword(ec.Broker.Password).SetAutoReconnect(false))
	if tok := cl.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("connect with the box's credentials: %v", tok.Error())
	}
	online := marshal(t, protocol.KindStatus, protocol.Status{V: 1, BoxID: ec.BoxID, Online: true, At: time.Now()})
	if tok := cl.Publish(protocol.Topic(ec.BoxID, protocol.KindStatus), 1, true, online); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish online: %v", tok.Error())
	}
	cl.Disconnect(50)
}

// Presence with the embedded broker is the box's connection: a retained
// "online" left by a client that went away counts for nothing, at once and
// after a restart.
func TestPresenceFromTheEmbeddedBrokersSessions(t *testing.T) {
	dir := t.TempDir()
	r := startCloud(t, dir, nil)
	const id = "village-p"
	ec := r.addBox(t, id)

	forge(t, ec, ec.Broker.URL, "anything")
	left := time.Now()
	testenv.WaitFor(t, offlineWithin, "offline after the forged online status", func() bool { return !r.box(t, id).Online })
	t.Logf("offline %s after the forger left", time.Since(left).Round(time.Millisecond))

	fb := connectBox(t, ec, ec.Broker.URL, true)
	waitFor(t, "online while connected", func() bool { return r.box(t, id).Online })
	if b := r.box(t, id); b.ConnectedSince.IsZero() || b.LastSeen.IsZero() {
		t.Fatalf("connected box: %+v, want connected_since and last_seen", b)
	}
	// The box's own status changes nothing either way while it is
	// connected.
	fb.publish(t, protocol.KindStatus, true, marshal(t, protocol.KindStatus, protocol.Status{V: 1, BoxID: id, Online: false}))
	fb.publish(t, protocol.KindEvents, false, batch(t, id, 1, 1)) // a barrier: handled after the status
	waitFor(t, "ack of the barrier", func() bool { return fb.lastAck() == 1 })
	if !r.box(t, id).Online {
		t.Fatal("a connected box shows offline after publishing an offline status")
	}

	// Stopped while the box is connected, the store was last told
	// "online"; the restarted service has not seen the box.
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	r2 := startCloud(t, dir, nil)
	if b := r2.box(t, id); b.Online {
		t.Fatalf("online after a restart without the box: %+v", b)
	}
	fb2 := connectBox(t, ec, "tcp://"+r2.mqtt, true)
	waitFor(t, "online again once connected", func() bool { return r2.box(t, id).Online })
	fb2.crash(t)
	left = time.Now()
	testenv.WaitFor(t, offlineWithin, "offline after the connection dropped", func() bool { return !r2.box(t, id).Online })
	t.Logf("offline %s after the connection dropped", time.Since(left).Round(time.Millisecond))
}

// Over an external broker presence follows live traffic: a forged online
// status counts only until the presence timeout, and left retained it
// makes nobody online after a restart.
func TestPresenceFromTrafficOverMosquitto(t *testing.T) {
	addr := testenv.PrivateMosquitto(t)
	id := fmt.Sprintf("pres-%d", time.Now().UnixNano())
	const timeout = 2 * time.Second
	dir := t.TempDir()
	external := func(c *config.Config) {
		c.MQTT.Embedded = false
		c.MQTT.URL = "tcp://" + addr
		c.MQTT.ClientID = "dalaba_cloud_test_" + id
		c.MQTT.PresenceTimeout = timeout
	}
	r := startCloud(t, dir, external)
	ec := r.addBox(t, id)
	t.Cleanup(func() { clearRetained(t, "tcp://"+addr, id) })

	forge(t, ec, ec.Broker.URL, id+"-forger")
	waitFor(t, "online: the status arrived live", func() bool { return r.box(t, id).Online })
	left := time.Now()
	waitFor(t, "offline once the presence timeout ran out", func() bool { return !r.box(t, id).Online })
	if d := time.Since(left); d > timeout+time.Second {
		t.Errorf("offline %s after the forger left, timeout %s", d, timeout)
	}

	seen := r.box(t, id).LastSeen

	// The forged status is still retained at Mosquitto; a restarted
	// service receives it on subscribing and must not believe it. Its
	// session is new, so a message the box's credentials publish after
	// it subscribed (garbage: counted, and no sign of presence) reaches it
	// after the retained copy on the same topic.
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	r2 := startCloud(t, dir, func(c *config.Config) {
		external(c)
		c.MQTT.ClientID += "_2"
	})
	cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(ec.Broker.URL).SetClientID(id + "-barrier").
		SetUsername(ec.Broker.Username).SetPassword(ec.Broker.Password).SetAutoReconnect(false))
	if tok := cl.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer cl.Disconnect(50)
	last := time.Time{}
	waitFor(t, "a live message handled after the retained status", func() bool {
		if time.Since(last) > 250*time.Millisecond { // until the service has subscribed
			cl.Publish(protocol.Topic(id, protocol.KindStatus), 1, false, []byte("garbage")).WaitTimeout(wait)
			last = time.Now()
		}
		return r2.box(t, id).RejectedMessages > 0
	})
	if b := r2.box(t, id); b.Online || !b.LastSeen.Equal(seen) {
		t.Fatalf("after a restart with a retained online status: %+v, want offline, last seen %s as before", b, seen)
	}
}

// clearRetained removes what a test left retained for box on a shared
// broker.
func clearRetained(t *testing.T, brokerURL, box string) {
	cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(box + "-cleanup").SetAutoReconnect(false))
	if tok := cl.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Logf("cleanup of retained messages: %v", tok.Error())
		return
	}
	defer cl.Disconnect(50)
	for _, k := range []protocol.Kind{protocol.KindDesired, protocol.KindStatus, protocol.KindReported} {
		cl.Publish(protocol.Topic(box, k), 1, true, []byte{}).WaitTimeout(time.Second)
	}
}
