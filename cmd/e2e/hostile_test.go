package e2e

import (
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// intruder is a client on the test's Mosquitto at addr (anonymous, no ACL
// there): it plays a hijacked broker that can publish anything on any
// topic.
func intruder(t *testing.T, addr string) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(uniqueID("intruder")).SetAutoReconnect(false)
	cl := mqtt.NewClient(o)
	if tok := cl.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("intruder connect: %v", tok.Error())
	}
	t.Cleanup(func() { cl.Disconnect(100) })
	return cl
}

func publish(t *testing.T, cl mqtt.Client, topic string, payload []byte) {
	t.Helper()
	tok := cl.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func townshipKey(t *testing.T, c *cloud) ed25519.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dataDir, "township.key"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := protocol.ParsePrivateKey(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// rejections returns the data of the box's *.rejected events at the
// township.
func rejections(t *testing.T, c *cloud, box string) []protocol.Rejected {
	var out []protocol.Rejected
	for _, e := range c.events(t, box) {
		if strings.HasSuffix(e.Type, ".rejected") {
			var r protocol.Rejected
			if err := json.Unmarshal(e.Data, &r); err != nil {
				t.Fatalf("event %s data: %v", e.Type, err)
			}
			out = append(out, r)
		}
	}
	return out
}

// A hijacked broker cannot make the box take a forged, unsigned, expired,
// older or malformed desired state or command: each is refused, recorded as
// an event that reaches the township, and the applied state stays as it was.
// Garbage on every topic leaves both daemons running and connected.
func TestHostileBrokerMessages(t *testing.T) {
	mq := testenv.PrivateMosquitto(t)
	c := startCloud(t, cloudOpts{config: mosquittoConfig(mq)})
	id := uniqueID("hostile")
	e := startEdge(t, writeEdgeConfig(t, c.addBox(t, id)), t.TempDir())
	var applied uint64
	eventually(t, 10*time.Second, "box online with its desired state applied", func() bool {
		b := c.box(t, id)
		applied = b.AppliedRev
		return b.Online && b.AppliedRev > 0 && b.AppliedRev == b.DesiredRev
	})

	key := townshipKey(t, c)
	_, forger, _ := ed25519.GenerateKey(nil)
	now := time.Now()
	desired := func(k ed25519.PrivateKey, rev uint64, issued, expires time.Time) []byte {
		p, err := protocol.SignDesired(k, protocol.Desired{BoxID: id, Rev: rev, IssuedAt: issued, ExpiresAt: expires, Spec: json.RawMessage(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	command := func(k ed25519.PrivateKey, cid string, issued time.Time) []byte {
		p, err := protocol.SignCommand(k, protocol.Command{ID: cid, BoxID: id, Type: "ping", IssuedAt: issued, ExpiresAt: issued.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	unsigned := []byte(`{"v":1,"body":{"v":1,"box_id":"` + id + `","rev":999,"issued_at":"2026-01-01T00:00:00Z","expires_at":"2099-01-01T00:00:00Z"},"sig":null}`)

	in := intruder(t, mq)
	hostile := []struct {
		kind    protocol.Kind
		payload []byte
		reason  string
	}{
		{protocol.KindDesired, desired(forger, applied+100, now, now.Add(time.Hour)), protocol.ReasonBadSignature},
		{protocol.KindDesired, unsigned, protocol.ReasonUnsigned},
		{protocol.KindDesired, desired(key, applied+100, now.Add(-2*time.Hour), now.Add(-time.Hour)), protocol.ReasonExpired},
		{protocol.KindDesired, []byte(`{"v":1,"body":`), protocol.ReasonMalformed},
		{protocol.KindDesired, []byte(`{"v":7,"body":{},"sig":"AA=="}`), protocol.ReasonVersion},
		{protocol.KindDesired, make([]byte, protocol.KindDesired.MaxPayload()+10), protocol.ReasonTooLarge},
		{protocol.KindCmd, command(forger, "forged-1", now), protocol.ReasonBadSignature},
		{protocol.KindCmd, command(key, "old-1", now.Add(-time.Hour)), protocol.ReasonExpired},
		{protocol.KindCmd, []byte(`not json`), protocol.ReasonMalformed},
	}
	if applied > 1 {
		hostile = append(hostile, struct {
			kind    protocol.Kind
			payload []byte
			reason  string
		}{protocol.KindDesired, desired(key, applied-1, now, now.Add(time.Hour)), protocol.ReasonStale})
	}
	for _, h := range hostile {
		publish(t, in, protocol.Topic(id, h.kind), h.payload)
	}
	eventually(t, 20*time.Second, "every hostile desired/cmd recorded as a rejection at the township", func() bool {
		return len(rejections(t, c, id)) >= len(hostile)
	})
	got := map[string]int{}
	for _, r := range rejections(t, c, id) {
		got[r.Reason]++
	}
	for _, h := range hostile {
		if got[h.reason] == 0 {
			t.Errorf("no rejection recorded with reason %q (have %v)", h.reason, got)
		}
		got[h.reason]--
	}
	if b := c.box(t, id); b.AppliedRev != applied {
		t.Errorf("applied rev changed from %d to %d", applied, b.AppliedRev)
	}

	// Garbage on every topic of the box, both directions.
	before := c.box(t, id).RejectedMessages
	for _, k := range protocol.Kinds() {
		for _, p := range [][]byte{[]byte(`{`), []byte(`{"v":99}`), []byte(`[]`), make([]byte, k.MaxPayload()+1)} {
			publish(t, in, protocol.Topic(id, k), p)
		}
	}
	eventually(t, 10*time.Second, "the township counts the garbage it refused", func() bool {
		return c.box(t, id).RejectedMessages > before
	})
	if !e.alive() || !c.alive() {
		t.Fatal("a daemon died on garbage input")
	}
	// Still connected and working: a fresh event still goes through.
	seqs, err := e.appendEvents([]localEvent{{Type: "test.after", Priority: 2}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "an event after the garbage reaches the township", func() bool {
		b := c.box(t, id)
		return b.Watermark >= seqs[0] && b.Online
	})
}
